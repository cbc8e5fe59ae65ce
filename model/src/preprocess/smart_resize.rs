//! `smart_resize` exactly as the Python references compute it: IEEE doubles in the reference
//! operation order and Python's `round()` (half to even).

use super::PreprocessError;

/// The references refuse images whose long side is more than this many times the short side.
pub const MAX_ASPECT_RATIO: f64 = 200.0;

/// Which reference `smart_resize` to follow; they differ for sides below `factor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SmartResizeVariant {
    /// `image_processing_keye.py` (the HF processor): a side below `factor` is first scaled up to
    /// `factor`, the other side with it; can return a 0 side for extreme inputs.
    Processor,
    /// keye-vl-utils 1.0.0 and 1.5.2 (identical results): `max(factor, ..)` clamps instead.
    KeyeVlUtils,
}

/// `(height, width) -> (h_bar, w_bar)`, both multiples of `factor`, with the pixel count brought
/// into `[min_pixels, max_pixels]` as the reference does (it does not re-check the minimum after
/// shrinking).
pub fn smart_resize(
    height: u32,
    width: u32,
    factor: u32,
    min_pixels: u64,
    max_pixels: u64,
    variant: SmartResizeVariant,
) -> Result<(u32, u32), PreprocessError> {
    smart_resize_f64(
        height,
        width,
        factor,
        min_pixels as f64,
        max_pixels as f64,
        variant,
    )
}

/// [`smart_resize`] with limits that may be fractional, as keye-vl-utils 1.0 passes for video
/// frames (`total_pixels / nframes * 2`).
pub(crate) fn smart_resize_f64(
    height: u32,
    width: u32,
    factor: u32,
    min_pixels: f64,
    max_pixels: f64,
    variant: SmartResizeVariant,
) -> Result<(u32, u32), PreprocessError> {
    if height == 0 || width == 0 || factor == 0 {
        return Err(PreprocessError::ZeroSize {
            height,
            width,
            factor,
        });
    }
    let f = factor as f64;
    let (mut h, mut w) = (height as f64, width as f64);
    if variant == SmartResizeVariant::Processor {
        if h < f {
            w = (w * f / h).round_ties_even();
            h = f;
        }
        if w < f {
            h = (h * f / w).round_ties_even();
            w = f;
        }
    }
    let ratio = h.max(w) / h.min(w);
    if ratio > MAX_ASPECT_RATIO {
        return Err(PreprocessError::AspectRatio { ratio });
    }
    let clamp = |v: f64| match variant {
        SmartResizeVariant::Processor => v,
        SmartResizeVariant::KeyeVlUtils => v.max(f),
    };
    let mut h_bar = clamp((h / f).round_ties_even() * f);
    let mut w_bar = clamp((w / f).round_ties_even() * f);
    if h_bar * w_bar > max_pixels {
        let beta = (h * w / max_pixels).sqrt();
        h_bar = clamp((h / beta / f).floor() * f);
        w_bar = clamp((w / beta / f).floor() * f);
    } else if h_bar * w_bar < min_pixels {
        let beta = (min_pixels / (h * w)).sqrt();
        h_bar = clamp((h * beta / f).ceil() * f);
        w_bar = clamp((w * beta / f).ceil() * f);
    }
    let to_side = |v: f64| {
        if v > u32::MAX as f64 {
            Err(PreprocessError::SizeOverflow { height, width })
        } else {
            Ok(v as u32)
        }
    };
    Ok((to_side(h_bar)?, to_side(w_bar)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_round_to_even() {
        // 70 / 28 = 2.5 -> 2 (not 3), 98 / 28 = 3.5 -> 4.
        let v = SmartResizeVariant::KeyeVlUtils;
        assert_eq!(smart_resize(70, 98, 28, 0, u64::MAX, v).unwrap(), (56, 112));
    }

    #[test]
    fn aspect_ratio_error_reads_like_python() {
        let err =
            smart_resize(1, 201, 28, 3136, 1003520, SmartResizeVariant::KeyeVlUtils).unwrap_err();
        assert_eq!(
            err.to_string(),
            "absolute aspect ratio must be smaller than 200, got 201.0"
        );
    }
}

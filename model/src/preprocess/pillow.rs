//! Pillow's `Image.resize(.., BICUBIC)` on RGB8, bit for bit (libImaging `Resample.c`).
//!
//! Both keye-vl-utils `fetch_image` and the HF image processor resize through Pillow, so every
//! image pixel value the model sees depends on Pillow's fixed-point arithmetic: coefficients are
//! computed in doubles, normalized per output sample, then turned into integers with 22
//! fractional bits; each pass adds half an LSB, shifts and clamps to 0..=255. The horizontal pass
//! runs first (only over the rows the vertical pass reads), the vertical pass second.

use image::RgbImage;

use super::PreprocessError;

/// Pillow's fixed-point precision for 8-bit images: `32 - 8 - 2` bits.
const PRECISION_BITS: u32 = 22;

/// Pillow's bicubic kernel (Keys, a = -0.5), support 2 input pixels at scale 1.
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Per output sample: first input index, number of taps, and the taps in fixed point.
struct Coefficients {
    first: Vec<usize>,
    len: Vec<usize>,
    taps: usize,
    weights: Vec<i32>,
}

/// `precompute_coeffs` + `normalize_coeffs_8bpc` for one axis (box = the whole input).
fn coefficients(in_size: usize, out_size: usize) -> Coefficients {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = 2.0 * filterscale;
    let taps = support.ceil() as usize * 2 + 1;
    let mut first = Vec::with_capacity(out_size);
    let mut len = Vec::with_capacity(out_size);
    let mut weights = vec![0i32; out_size * taps];
    let mut row = vec![0f64; taps];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // C's (int) cast truncates toward zero, as `as i64` does.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let n = xmax.saturating_sub(xmin).min(taps);
        let mut total = 0.0;
        for (x, w) in row.iter_mut().enumerate().take(n) {
            *w = bicubic(((x + xmin) as f64 - center + 0.5) * ss);
            total += *w;
        }
        for x in 0..n {
            let w = if total != 0.0 { row[x] / total } else { row[x] };
            let fixed = w * (1u32 << PRECISION_BITS) as f64;
            weights[xx * taps + x] = if w < 0.0 {
                (fixed - 0.5) as i32
            } else {
                (fixed + 0.5) as i32
            };
        }
        first.push(xmin);
        len.push(n);
    }
    Coefficients {
        first,
        len,
        taps,
        weights,
    }
}

/// Pillow's `clip8`: drop the fractional bits and clamp to a byte.
fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// One pass along rows: `(in_w x rows)` -> `(out_w x rows)`.
fn horizontal(input: &[u8], in_w: usize, rows: usize, out_w: usize) -> Vec<u8> {
    let coef = coefficients(in_w, out_w);
    let half = 1i64 << (PRECISION_BITS - 1);
    let mut out = vec![0u8; rows * out_w * 3];
    for y in 0..rows {
        let line = &input[y * in_w * 3..(y + 1) * in_w * 3];
        for xx in 0..out_w {
            let k = &coef.weights[xx * coef.taps..xx * coef.taps + coef.len[xx]];
            let mut acc = [half; 3];
            for (x, &w) in k.iter().enumerate() {
                let px = &line[(coef.first[xx] + x) * 3..(coef.first[xx] + x) * 3 + 3];
                for (a, &p) in acc.iter_mut().zip(px) {
                    *a += p as i64 * w as i64;
                }
            }
            for (c, a) in acc.into_iter().enumerate() {
                out[(y * out_w + xx) * 3 + c] = clip8(a);
            }
        }
    }
    out
}

/// One pass along columns: `(width x in_h)` -> `(width x out_h)`.
fn vertical(input: &[u8], width: usize, in_h: usize, out_h: usize) -> Vec<u8> {
    let coef = coefficients(in_h, out_h);
    let half = 1i64 << (PRECISION_BITS - 1);
    let mut out = vec![0u8; out_h * width * 3];
    for yy in 0..out_h {
        let k = &coef.weights[yy * coef.taps..yy * coef.taps + coef.len[yy]];
        for xx in 0..width {
            let mut acc = [half; 3];
            for (y, &w) in k.iter().enumerate() {
                let i = ((coef.first[yy] + y) * width + xx) * 3;
                for (a, &p) in acc.iter_mut().zip(&input[i..i + 3]) {
                    *a += p as i64 * w as i64;
                }
            }
            for (c, a) in acc.into_iter().enumerate() {
                out[(yy * width + xx) * 3 + c] = clip8(a);
            }
        }
    }
    out
}

/// Resizes `src` to `width` x `height` like `PIL.Image.resize((width, height), BICUBIC)`.
/// Same size is a copy, as in Pillow.
///
/// Pass order: Pillow resamples horizontally first, except that recent Pillow (the goldens were
/// made with 13.0) runs the vertical pass first when the height shrinks while the width does
/// not (python-pillow PR 9549); the intermediate is rounded to uint8, so the order shows.
pub fn resize_bicubic(
    src: &RgbImage,
    width: u32,
    height: u32,
) -> Result<RgbImage, PreprocessError> {
    super::check_resize(src, width, height)?;
    let (in_w, in_h) = src.dimensions();
    if (in_w, in_h) == (width, height) {
        return Ok(src.clone());
    }
    let (iw, ih, ow, oh) = (
        in_w as usize,
        in_h as usize,
        width as usize,
        height as usize,
    );
    let input = src.as_raw();
    let vertical_first = oh < ih && ow >= iw;
    let output = match (ow != iw, oh != ih) {
        (true, false) => horizontal(input, iw, ih, ow),
        (false, true) => vertical(input, iw, ih, oh),
        _ if vertical_first => horizontal(&vertical(input, iw, ih, oh), iw, oh, ow),
        _ => vertical(&horizontal(input, iw, ih, ow), ow, ih, oh),
    };
    RgbImage::from_raw(width, height, output).ok_or(PreprocessError::EmptyResize {
        from: (in_h, in_w),
        to: (height, width),
    })
}

//! The two torch CPU kernels the references run on video frames, bit for bit.
//!
//! * `F.interpolate(uint8, mode="bilinear", antialias=True)` (keye-vl-utils 1.5 SlowFast and the
//!   1.5 processor): weights in doubles, normalized per output sample, turned into int16 at the
//!   largest precision the axis's biggest weight allows (`_compute_index_ranges_int16_weights` in
//!   `aten/src/ATen/native/cpu/UpSampleKernel.cpp`), integer sums with half an LSB, shift, clamp.
//!   Horizontal pass first into a uint8 buffer, then vertical; an axis of equal size is skipped.
//! * `torch.linspace(start, end, steps)` in float32 (frame indices), computed from both ends.

use image::RgbImage;

use super::PreprocessError;

/// torch's triangle filter for antialiased bilinear (`HelperInterpLinear::aa_filter`).
fn triangle(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 { 1.0 - x } else { 0.0 }
}

/// One axis: per output sample the first input index, the tap count, int16 taps and their
/// shared precision.
struct AxisWeights {
    first: Vec<usize>,
    len: Vec<usize>,
    taps: usize,
    weights: Vec<i32>,
    precision: u32,
}

fn axis_weights(in_size: usize, out_size: usize) -> AxisWeights {
    // area_pixel_compute_scale without a scale factor and with align_corners=False.
    let scale = in_size as f64 / out_size as f64;
    // interp_size = 2 for bilinear.
    let support = if scale >= 1.0 { scale } else { 1.0 };
    let taps = support.ceil() as usize * 2 + 1;
    let invscale = if scale >= 1.0 { 1.0 / scale } else { 1.0 };
    let mut first = Vec::with_capacity(out_size);
    let mut len = Vec::with_capacity(out_size);
    let mut float_weights = vec![0f64; out_size * taps];
    let mut wt_max = 0f64;
    for i in 0..out_size {
        let center = scale * (i as f64 + 0.5);
        let xmin = ((center - support + 0.5) as i64).max(0);
        let xsize = (((center + support + 0.5) as i64).min(in_size as i64) - xmin)
            .clamp(0, taps as i64) as usize;
        let row = &mut float_weights[i * taps..(i + 1) * taps];
        let mut total = 0.0;
        for (j, w) in row.iter_mut().enumerate().take(xsize) {
            *w = triangle(((j as i64 + xmin) as f64 - center + 0.5) * invscale);
            total += *w;
        }
        if total != 0.0 {
            for w in row.iter_mut().take(xsize) {
                *w /= total;
                wt_max = wt_max.max(*w);
            }
        }
        first.push(xmin as usize);
        len.push(xsize);
    }
    let mut precision = 0u32;
    while precision < 22 {
        let next = (0.5 + wt_max * (1u32 << (precision + 1)) as f64) as i64;
        if next >= 1 << 15 {
            break;
        }
        precision += 1;
    }
    let weights = float_weights
        .iter()
        .map(|&w| {
            let v = w * (1u32 << precision) as f64;
            if v < 0.0 {
                (v - 0.5) as i32
            } else {
                (v + 0.5) as i32
            }
        })
        .collect();
    AxisWeights {
        first,
        len,
        taps,
        weights,
        precision,
    }
}

fn descale(acc: i64, precision: u32) -> u8 {
    (acc >> precision).clamp(0, 255) as u8
}

/// `F.interpolate(frame[None], (height, width), mode="bilinear", antialias=True)` on a uint8
/// frame, as torch computes it on CPU.
pub fn resize_bilinear_antialias(
    src: &RgbImage,
    width: u32,
    height: u32,
) -> Result<RgbImage, PreprocessError> {
    super::check_resize(src, width, height)?;
    let (in_w, in_h) = src.dimensions();
    let (in_w, in_h, out_w, out_h) = (
        in_w as usize,
        in_h as usize,
        width as usize,
        height as usize,
    );
    let mut data = src.as_raw().clone();
    if out_w != in_w {
        let ax = axis_weights(in_w, out_w);
        let half = 1i64 << (ax.precision - 1);
        let mut out = vec![0u8; in_h * out_w * 3];
        for y in 0..in_h {
            let line = &data[y * in_w * 3..(y + 1) * in_w * 3];
            for x in 0..out_w {
                let k = &ax.weights[x * ax.taps..x * ax.taps + ax.len[x]];
                let mut acc = [half; 3];
                for (j, &w) in k.iter().enumerate() {
                    let i = (ax.first[x] + j) * 3;
                    for c in 0..3 {
                        acc[c] += line[i + c] as i64 * w as i64;
                    }
                }
                for c in 0..3 {
                    out[(y * out_w + x) * 3 + c] = descale(acc[c], ax.precision);
                }
            }
        }
        data = out;
    }
    if out_h != in_h {
        let ax = axis_weights(in_h, out_h);
        let half = 1i64 << (ax.precision - 1);
        let mut out = vec![0u8; out_h * out_w * 3];
        for y in 0..out_h {
            let k = &ax.weights[y * ax.taps..y * ax.taps + ax.len[y]];
            for x in 0..out_w {
                let mut acc = [half; 3];
                for (j, &w) in k.iter().enumerate() {
                    let i = ((ax.first[y] + j) * out_w + x) * 3;
                    for c in 0..3 {
                        acc[c] += data[i + c] as i64 * w as i64;
                    }
                }
                for c in 0..3 {
                    out[(y * out_w + x) * 3 + c] = descale(acc[c], ax.precision);
                }
            }
        }
        data = out;
    }
    RgbImage::from_raw(width, height, data).ok_or(PreprocessError::EmptyResize {
        from: (in_h as u32, in_w as u32),
        to: (height, width),
    })
}

/// `torch.linspace(start, end, steps).round().long()` with the default float32 dtype: the first
/// half counts up from `start`, the second half down from `end`, then round half to even. Each
/// value is one fused multiply-add, as torch's AVX2 and AVX-512 kernels compute it (its portable
/// kernel rounds the product first and can land one index lower on long videos; see
/// `tests/fixtures/preprocessing/torch/NOTES.md`).
pub fn linspace_round(start: f64, end: f64, steps: usize) -> Vec<i64> {
    let (start, end) = (start as f32, end as f32);
    if steps == 0 {
        return Vec::new();
    }
    if steps == 1 {
        return vec![start.round_ties_even() as i64];
    }
    let step = (end - start) / (steps - 1) as f32;
    let halfway = steps / 2;
    (0..steps)
        .map(|i| {
            let v = if i < halfway {
                step.mul_add(i as f32, start)
            } else {
                (-step).mul_add((steps - i - 1) as f32, end)
            };
            v.round_ties_even() as i64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_matches_torch_on_known_cases() {
        // torch.linspace(0, 11, 8).round(): 0, 1.57, 3.14, 4.71, 6.29, 7.86, 9.43, 11.
        assert_eq!(linspace_round(0.0, 11.0, 8), vec![0, 2, 3, 5, 6, 8, 9, 11]);
        // 4.5 is a tie and rounds to even.
        assert_eq!(linspace_round(0.0, 9.0, 3), vec![0, 4, 9]);
        assert_eq!(linspace_round(3.0, 3.0, 1), vec![3]);
        assert!(linspace_round(0.0, 5.0, 0).is_empty());
    }

    #[test]
    fn same_size_is_identity_and_precision_is_int16() {
        let img = RgbImage::from_fn(5, 4, |x, y| image::Rgb([(x * 40) as u8, (y * 60) as u8, 7]));
        assert_eq!(resize_bilinear_antialias(&img, 5, 4).unwrap(), img);
        let ax = axis_weights(100, 7);
        assert!(ax.weights.iter().all(|&w| w < 1 << 15));
    }
}

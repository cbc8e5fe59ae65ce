//! OpenCV's `cvtColor(.., COLOR_RGB2HSV)` on uint8 (`RGB2HSV_b`), bit for bit: H in 0..180,
//! S and V in 0..=255, computed with OpenCV's 12-bit reciprocal tables.

use std::sync::LazyLock;

const HSV_SHIFT: u32 = 12;

/// `sdiv[v] = round(255 << 12 / v)` and `hdiv[d] = round(180 << 12 / (6 d))`, index 0 = 0.
static TABLES: LazyLock<([i32; 256], [i32; 256])> = LazyLock::new(|| {
    let mut sdiv = [0i32; 256];
    let mut hdiv = [0i32; 256];
    for i in 1..256 {
        sdiv[i] = ((255 << HSV_SHIFT) as f64 / i as f64).round_ties_even() as i32;
        hdiv[i] = ((180 << HSV_SHIFT) as f64 / (6.0 * i as f64)).round_ties_even() as i32;
    }
    (sdiv, hdiv)
});

/// One RGB pixel to OpenCV HSV (H range 180).
pub fn rgb_to_hsv([r, g, b]: [u8; 3]) -> [u8; 3] {
    let (sdiv, hdiv) = &*TABLES;
    let (r, g, b) = (r as i32, g as i32, b as i32);
    let v = r.max(g).max(b);
    let diff = v - r.min(g).min(b);
    let half = 1 << (HSV_SHIFT - 1);
    let s = (diff * sdiv[v as usize] + half) >> HSV_SHIFT;
    let h = if v == r {
        g - b
    } else if v == g {
        b - r + 2 * diff
    } else {
        r - g + 4 * diff
    };
    let mut h = (h * hdiv[diff as usize] + half) >> HSV_SHIFT;
    if h < 0 {
        h += 180;
    }
    [h.clamp(0, 255) as u8, s as u8, v as u8]
}

/// A whole RGB8 buffer (HWC) to HSV (HWC).
pub fn rgb_to_hsv_image(rgb: &[u8]) -> Vec<u8> {
    rgb.chunks_exact(3)
        .flat_map(|p| rgb_to_hsv([p[0], p[1], p[2]]))
        .collect()
}

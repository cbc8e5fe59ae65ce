//! `shaders/heatmap.wgsl` on a real GPU device (lavapipe on CI): a small attention grid uploaded
//! and drawn by the app's heatmap pipeline into an offscreen texture, read back, and compared
//! with the same heat colour table, the same bilinear upsampling and the same alpha evaluated on
//! the CPU.

#[path = "support/gpu.rs"]
mod gpu;

use std::sync::Arc;

use keye_studio::gui::heatmap_view::{HeatOverlay, HeatmapPipeline};
use keye_ui::HeatGrid;
use keye_ui::heatmap::{heat_index, heat_table};

/// Rows of a 3 x 4 grid, all different (a flipped or transposed upload changes the picture).
/// Multiples of 4, so the 2x upsampling's 1/4 and 3/4 weights land on whole table entries.
const GRID: [[u8; 4]; 3] = [[0, 40, 80, 252], [120, 160, 200, 12], [236, 4, 100, 188]];

fn overlay(opacity: f32) -> HeatOverlay {
    let grid = HeatGrid {
        rows: GRID.len(),
        cols: GRID[0].len(),
        values: GRID
            .iter()
            .flatten()
            .map(|&b| f32::from(b) / 255.0)
            .collect(),
    };
    assert_eq!(
        grid.to_bytes(),
        GRID.iter().flatten().copied().collect::<Vec<_>>()
    );
    HeatOverlay {
        generation: 1,
        grid: Arc::new(grid),
        opacity,
        sinks: Arc::default(),
    }
}

/// The grid value (0..=1) the linear sampler gives at the centre of pixel (x, y) of a
/// `width` x `height` target: bilinear between texel centres, clamped at the edges.
fn bilinear(x: u32, y: u32, width: u32, height: u32) -> f32 {
    let (rows, cols) = (GRID.len(), GRID[0].len());
    let axis = |p: u32, out: u32, n: usize| {
        let s = ((p as f32 + 0.5) * n as f32 / out as f32 - 0.5).clamp(0.0, (n - 1) as f32);
        let i = (s.floor() as usize).min(n - 1);
        (i, (i + 1).min(n - 1), s - i as f32)
    };
    let (c0, c1, fx) = axis(x, width, cols);
    let (r0, r1, fy) = axis(y, height, rows);
    let v = |r: usize, c: usize| f32::from(GRID[r][c]);
    let top = v(r0, c0) * (1.0 - fx) + v(r0, c1) * fx;
    let bottom = v(r1, c0) * (1.0 - fx) + v(r1, c1) * fx;
    (top * (1.0 - fy) + bottom * fy) / 255.0
}

/// What the shader must write over transparent black: the table colour times alpha, and alpha
/// (premultiplied), in 0..=255.
fn expected(value: f32, opacity: f32) -> [f32; 4] {
    let alpha = opacity * (0.25 + 0.75 * value);
    let [r, g, b] = heat_table()[heat_index(value)].map(|c| f32::from(c) * alpha);
    [r, g, b, 255.0 * alpha]
}

fn draw(size: (u32, u32), opacity: f32) -> Vec<u8> {
    let (device, queue) = gpu::gpu();
    let pipeline = HeatmapPipeline::new(&device, gpu::TARGET_FORMAT);
    let grid = pipeline
        .upload(&device, &queue, None, &overlay(opacity))
        .expect("a 3x4 grid uploads");
    gpu::render_offscreen(&device, &queue, size, |pass| pipeline.draw(pass, &grid))
}

/// Max difference in levels between the drawn pixels and the CPU evaluation.
fn max_difference(drawn: &[u8], (width, height): (u32, u32), opacity: f32) -> f32 {
    let mut max = 0f32;
    for y in 0..height {
        for x in 0..width {
            let want = expected(bilinear(x, y, width, height), opacity);
            let i = ((y * width + x) * 4) as usize;
            for (k, w) in want.iter().enumerate() {
                max = max.max((f32::from(drawn[i + k]) - w).abs());
            }
        }
    }
    max
}

#[test]
fn the_heatmap_shader_draws_the_heat_table_over_the_grid() {
    // One pixel per cell: every pixel samples its texel's centre exactly. Then 2x, where the
    // sampler blends neighbours with weights 1/4 and 3/4. The only rounding left is the
    // target's 8-bit quantisation of colour times alpha: at most half a level, plus one for the
    // GPU's own arithmetic.
    for (size, opacity) in [((4, 3), 1.0), ((8, 6), 1.0), ((8, 6), 0.5)] {
        let drawn = draw(size, opacity);
        let diff = max_difference(&drawn, size, opacity);
        assert!(
            diff <= 1.5,
            "{size:?} at opacity {opacity}: off by {diff} levels"
        );
    }
}

#[test]
fn the_comparison_sees_flipped_rows_or_columns() {
    let size = (4, 3);
    let drawn = draw(size, 1.0);
    let row = (size.0 * 4) as usize;
    let upside_down: Vec<u8> = drawn.chunks(row).rev().flatten().copied().collect();
    assert!(max_difference(&upside_down, size, 1.0) > 20.0);
    let mirrored: Vec<u8> = drawn
        .chunks(row)
        .flat_map(|r| r.chunks(4).rev().flatten().copied().collect::<Vec<_>>())
        .collect();
    assert!(max_difference(&mirrored, size, 1.0) > 20.0);
}

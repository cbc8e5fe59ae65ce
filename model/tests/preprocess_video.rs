//! Video sampling rules of keye-vl-utils on decoded videos. No golden covers these paths: frame
//! indices and the torchvision bicubic resize are checked against fixtures made with torch itself
//! (`tests/fixtures/preprocessing/torch/`, see its NOTES.md); the rest follows the reference
//! formulas worked by hand, see each test.

use std::path::PathBuf;

use image::{Rgb, RgbImage};
use keye_model::preprocess::{
    FetchImageOptions, FrameLabel, PreprocessError, PreviewVideoOptions, SlowFastOptions,
    fetch_preview_frame_list, linspace_round, plan_preview_video, resize_bicubic_antialias_torch,
    resize_bicubic_pillow, sample_slowfast_video,
};
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

fn torch_fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/preprocessing/torch"
    ))
    .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `torch.linspace(start, end, steps).round().long()` as torch computed it, by (start, end, steps).
fn torch_indices(start: u64, end: u64, steps: u64) -> Vec<usize> {
    let table: Value = serde_json::from_slice(&torch_fixture("linspace.json")).unwrap();
    let row = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["start"] == start && r["end"] == end && r["steps"] == steps)
        .unwrap_or_else(|| panic!("linspace.json has no row ({start}, {end}, {steps})"));
    serde_json::from_value(row["indices"].clone()).unwrap()
}

/// Frame `t` of a (T, H, W, 3) uint8 tensor.
fn thwc_frame(st: &SafeTensors, name: &str, t: usize) -> RgbImage {
    let tensor = st.tensor(name).unwrap();
    assert_eq!(tensor.dtype(), Dtype::U8, "{name}");
    let &[_, h, w, 3] = tensor.shape() else {
        panic!("{name}: shape {:?}", tensor.shape());
    };
    let len = h * w * 3;
    RgbImage::from_raw(
        w as u32,
        h as u32,
        tensor.data()[t * len..(t + 1) * len].to_vec(),
    )
    .unwrap()
}

#[test]
fn preview_sampling_keeps_an_even_frame_count_at_the_requested_fps() {
    // 10 s at 30 fps, 2 fps wanted: 20 frames, linspace(0, 299, 20).
    let plan =
        plan_preview_video(300, 30.0, (1080, 1920), &PreviewVideoOptions::default()).unwrap();
    assert_eq!(plan.indices, torch_indices(0, 299, 20));
    assert_eq!(plan.indices.first(), Some(&0));
    assert_eq!(plan.indices.last(), Some(&299));
    assert_eq!(plan.sample_fps, 2.0);
    assert_eq!(plan.second_per_grid_t(), 0.5);
    // Budget: min(768 tokens, 90316800 / 20 * 2) = 602112 px; 1080x1920 -> 560x1008.
    assert_eq!(plan.resized_hw, (560, 1008));

    // 3.5 s at 2 fps = 7 frames -> rounded down to 6.
    let plan = plan_preview_video(7, 2.0, (56, 84), &PreviewVideoOptions::default()).unwrap();
    assert_eq!(plan.indices.len(), 6);
    // A short clip is raised to min_frames (4), never above the frame count.
    let plan = plan_preview_video(5, 30.0, (56, 84), &PreviewVideoOptions::default()).unwrap();
    assert_eq!(plan.indices, torch_indices(0, 4, 4));
    // An hour at 30 fps is capped at max_frames (768): float32 steps over 108000 frames.
    let plan =
        plan_preview_video(108_000, 30.0, (56, 84), &PreviewVideoOptions::default()).unwrap();
    assert_eq!(plan.indices, torch_indices(0, 107_999, 768));
}

#[test]
fn linspace_round_matches_every_row_torch_computed() {
    let table: Value = serde_json::from_slice(&torch_fixture("linspace.json")).unwrap();
    let rows = table["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 32);
    let mut kernels_disagree = 0;
    for row in rows {
        let n = |k: &str| row[k].as_u64().unwrap();
        let want: Vec<i64> = serde_json::from_value(row["indices"].clone()).unwrap();
        assert_eq!(
            linspace_round(n("start") as f64, n("end") as f64, n("steps") as usize),
            want,
            "linspace({}, {}, {})",
            n("start"),
            n("end"),
            n("steps")
        );
        kernels_disagree += usize::from(row["indices"] != row["indices_default_kernels"]);
    }
    // The table holds ranges where torch's fused (AVX2 / AVX-512) and portable kernels pick
    // different frames, so following the wrong one fails here.
    assert_eq!(kernels_disagree, 4);
}

/// Every frame of every size of the fixture: how many values differ from `reference`, and by how
/// much at most.
fn bicubic_differences(st: &SafeTensors, reference: &str) -> Vec<(String, usize, u8)> {
    let frames = st.tensor("input_uint8_thwc").unwrap().shape()[0];
    let mut differences = Vec::new();
    for name in st.names() {
        let Some((h, w)) = name
            .strip_prefix("resized_")
            .and_then(|n| n.strip_suffix(&format!("{reference}_uint8_thwc")))
            .and_then(|n| n.split_once('x'))
            .and_then(|(h, w)| Some((h.parse::<u32>().ok()?, w.parse::<u32>().ok()?)))
        else {
            continue;
        };
        for t in 0..frames {
            let source = thwc_frame(st, "input_uint8_thwc", t);
            let want = thwc_frame(st, name, t);
            let got = resize_bicubic_antialias_torch(&source, w, h).unwrap();
            let diffs: Vec<u8> = got
                .as_raw()
                .iter()
                .zip(want.as_raw())
                .map(|(a, b)| a.abs_diff(*b))
                .collect();
            let count = diffs.iter().filter(|&&d| d > 0).count();
            let worst = diffs.iter().copied().max().unwrap_or(0);
            differences.push((format!("{name} frame {t}"), count, worst));
        }
    }
    differences
}

#[test]
fn torch_float_bicubic_equals_torchvision_on_every_fixture_size() {
    let bytes = torch_fixture("resize_bicubic_aa.safetensors");
    let st = SafeTensors::deserialize(&bytes).unwrap();
    // torch's portable kernels, which the port follows operation for operation: bit-exact on
    // down, up, one axis only, mixed directions and odd sizes, for a gradient, noise and edges.
    let portable = bicubic_differences(&st, "_default_kernels");
    assert_eq!(portable.len(), 7 * 3);
    let differing: Vec<_> = portable.iter().filter(|(_, count, _)| *count > 0).collect();
    assert!(differing.is_empty(), "{differing:#?}");

    // torch's AVX2 / AVX-512 kernels (what x86 machines run) fuse multiply-adds, which moves a
    // few values by one level (measured: at most 1, in 1.5% of the values).
    let fused = bicubic_differences(&st, "");
    assert_eq!(fused.len(), 7 * 3);
    let total: usize = fused.iter().map(|(_, count, _)| count).sum();
    let values: usize = st
        .names()
        .iter()
        .filter(|n| n.starts_with("resized_") && !n.contains("default"))
        .map(|n| st.tensor(n).unwrap().data().len())
        .sum();
    assert!(
        fused.iter().all(|(_, _, worst)| *worst <= 1) && total * 50 < values,
        "{total} of {values} values differ from the fused kernels: {fused:#?}"
    );
}

#[test]
fn preview_sampling_rejects_what_the_reference_rejects() {
    let err = plan_preview_video(1, 30.0, (56, 84), &PreviewVideoOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "nframes should in interval [2, 1], but got 0."
    );
    let both = PreviewVideoOptions {
        fps: Some(1.0),
        nframes: Some(4),
        ..Default::default()
    };
    assert!(matches!(
        plan_preview_video(100, 30.0, (56, 84), &both),
        Err(PreprocessError::InvalidOption(_))
    ));
    assert!(plan_preview_video(100, 0.0, (56, 84), &PreviewVideoOptions::default()).is_err());
}

#[test]
fn preview_clip_range_and_ui_plan() {
    // video_start 1 s, video_end 3 s at 10 fps: frames 10..=30, 21 frames, 2 fps -> 4 frames.
    let opts = PreviewVideoOptions {
        video_start: Some(1.0),
        video_end: Some(3.0),
        ..Default::default()
    };
    let plan = plan_preview_video(100, 10.0, (336, 336), &opts).unwrap();
    assert_eq!(plan.indices, torch_indices(10, 30, 4));
    assert_eq!(plan.indices, vec![10, 17, 23, 30]);
    let ui = plan.sampling_plan(14, 2);
    assert_eq!(ui.frames.len(), 4);
    assert!(ui.frames.iter().all(|f| f.label == FrameLabel::Uniform));
    assert_eq!(ui.frames[0].timestamp_s, Some(1.0));
    // 336x336 is within 128..768 tokens: grid 24x24, 144 tokens per frame.
    assert_eq!(ui.frames[0].grid_thw, [1, 24, 24]);
    assert_eq!(ui.total_tokens(), 576);
    assert_eq!(ui.sample_fps, Some(4.0 / 21.0 * 10.0));
}

#[test]
fn preview_frame_list_is_padded_to_even() {
    let frames = vec![RgbImage::from_pixel(90, 60, Rgb([10, 20, 30])); 3];
    let (out, fps) =
        fetch_preview_frame_list(&frames, &FetchImageOptions::images_v1_0(), None).unwrap();
    assert_eq!(out.len(), 4);
    assert_eq!(out[0].dimensions(), (84, 56));
    assert_eq!(fps, 2.0);
}

#[test]
fn slowfast_decoded_video_sampling() {
    // 10 s at 30 fps: int(300 / 30 * 2) = 20 frames, timestamps index / 30 in float32.
    let s = sample_slowfast_video(300, 30.0, &SlowFastOptions::default()).unwrap();
    assert_eq!(s.indices.len(), 20);
    let ts = s.timestamps.unwrap();
    assert_eq!(ts[1], ((1.0f64 / 30.0) * s.indices[1] as f64) as f32);
    // The total pixel budget caps the frame count: 51380224 / 37632 = 1365 frames.
    let s = sample_slowfast_video(100_000, 30.0, &SlowFastOptions::default()).unwrap();
    assert_eq!(s.indices.len(), 1365);
    let capped = SlowFastOptions {
        max_frames: Some(8),
        ..Default::default()
    };
    assert_eq!(
        sample_slowfast_video(300, 30.0, &capped)
            .unwrap()
            .indices
            .len(),
        8
    );
    assert!(sample_slowfast_video(300, -1.0, &SlowFastOptions::default()).is_err());
}

#[test]
fn torch_float_bicubic_agrees_with_pillow_up_to_rounding() {
    // Same Keys kernel and support; only the arithmetic (float32 vs 22-bit fixed point, and
    // Pillow's uint8 intermediate) differs, so on smooth content they agree up to rounding.
    let img = RgbImage::from_fn(160, 96, |x, y| {
        Rgb([x as u8, (y * 2) as u8, (100 + (x * x + y * y) / 300) as u8])
    });
    for (w, h) in [(84, 56), (252, 168), (160, 40)] {
        let a = resize_bicubic_antialias_torch(&img, w, h).unwrap();
        let b = resize_bicubic_pillow(&img, w, h).unwrap();
        let max = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(x, y)| x.abs_diff(*y))
            .max()
            .unwrap();
        assert!(max <= 1, "{w}x{h}: max diff {max}");
    }
    let flat = RgbImage::from_pixel(90, 60, Rgb([200, 100, 3]));
    assert_eq!(
        resize_bicubic_antialias_torch(&flat, 28, 28).unwrap(),
        RgbImage::from_pixel(28, 28, Rgb([200, 100, 3]))
    );
    assert!(resize_bicubic_antialias_torch(&flat, 0, 28).is_err());
}

//! Video sampling rules of keye-vl-utils on decoded videos (no golden covers these paths; the
//! expected values follow the reference formulas worked by hand, see each test).

use image::{Rgb, RgbImage};
use keye_model::preprocess::{
    FetchImageOptions, FrameLabel, PreprocessError, PreviewVideoOptions, SlowFastOptions,
    fetch_preview_frame_list, linspace_round, plan_preview_video, resize_bicubic_antialias_torch,
    resize_bicubic_pillow, sample_slowfast_video,
};

#[test]
fn preview_sampling_keeps_an_even_frame_count_at_the_requested_fps() {
    // 10 s at 30 fps, 2 fps wanted: 20 frames, linspace(0, 299, 20).
    let plan =
        plan_preview_video(300, 30.0, (1080, 1920), &PreviewVideoOptions::default()).unwrap();
    assert_eq!(
        plan.indices,
        linspace_round(0.0, 299.0, 20)
            .iter()
            .map(|&i| i as usize)
            .collect::<Vec<_>>()
    );
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
    assert_eq!(plan.indices, vec![0, 1, 3, 4]);
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

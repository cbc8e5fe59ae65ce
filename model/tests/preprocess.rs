//! Preprocessing against the reference goldens (copies under `tests/fixtures/`; see
//! `tests/fixtures/preprocessing/NOTES.md`): integers exact, pixel values within 1e-6.

use std::path::PathBuf;

use image::RgbImage;
use keye_model::golden::max_abs_diff;
use keye_model::preprocess::{
    FetchImageOptions, FrameKind, ImageProcessorConfig, Patches, SlowFastOptions, SlowFastPlan,
    SmartResizeVariant, fetch_image, plan_slowfast, preprocess_image, preprocess_video_preview,
    preprocess_video_slowfast, resize_bicubic_pillow, rgb_to_hsv, sample_slowfast_frame_list,
    slowfast_sizes, smart_resize,
};
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures")).join(path)
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(fixture(path)).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

fn json(path: &str) -> Value {
    serde_json::from_slice(&read(path)).unwrap()
}

fn u8_tensor(st: &SafeTensors, name: &str) -> (Vec<usize>, Vec<u8>) {
    let t = st.tensor(name).unwrap();
    assert_eq!(t.dtype(), Dtype::U8, "{name}");
    (t.shape().to_vec(), t.data().to_vec())
}

fn f32_tensor(st: &SafeTensors, name: &str) -> (Vec<usize>, Vec<f32>) {
    let t = st.tensor(name).unwrap();
    assert_eq!(t.dtype(), Dtype::F32, "{name}");
    let v = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (t.shape().to_vec(), v)
}

fn int_tensor(st: &SafeTensors, name: &str) -> Vec<i64> {
    let t = st.tensor(name).unwrap();
    match t.dtype() {
        Dtype::I64 => t
            .data()
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        Dtype::I32 => t
            .data()
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes(b.try_into().unwrap()) as i64)
            .collect(),
        other => panic!("{name}: unexpected {other:?}"),
    }
}

/// An HWC uint8 tensor (or one frame of a THWC one) as an image.
fn hwc_image(shape: &[usize], data: &[u8], frame: usize) -> RgbImage {
    let (h, w) = (shape[shape.len() - 3], shape[shape.len() - 2]);
    let len = h * w * 3;
    RgbImage::from_raw(
        w as u32,
        h as u32,
        data[frame * len..(frame + 1) * len].to_vec(),
    )
    .unwrap()
}

fn png(path: &str) -> RgbImage {
    image::load_from_memory(&read(path)).unwrap().to_rgb8()
}

fn preview_config() -> ImageProcessorConfig {
    ImageProcessorConfig::from_file(&fixture("preprocessing/preprocessor_config.json")).unwrap()
}

/// Within `tol` everywhere; a NaN or infinity on either side fails.
fn assert_close(name: &str, got: &[f32], want: &[f32], tol: f64) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    let max = max_abs_diff(got, want);
    assert!(max <= tol, "{name}: max |diff| {max} > {tol}");
}

fn assert_patches(name: &str, got: &Patches, want: &[f32], grid: &[i64]) {
    assert_close(name, &got.pixel_values, want, 1e-6);
    let grid: Vec<usize> = grid.iter().map(|&v| v as usize).collect();
    assert_eq!(got.grid_thw.to_vec(), grid, "{name}: grid");
}

#[test]
fn smart_resize_table_matches_all_three_reference_variants() {
    let table = json("preprocessing/smart_resize.json");
    let rows = table["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 300);
    let columns = [
        ("image_processor", SmartResizeVariant::Processor),
        ("keye_vl_utils_1_0_0", SmartResizeVariant::KeyeVlUtils),
        ("keye_vl_utils_1_5_2", SmartResizeVariant::KeyeVlUtils),
    ];
    let (mut errors, mut checked) = (0, 0);
    for row in rows {
        let n = |k: &str| row[k].as_u64().unwrap();
        for (column, variant) in columns {
            let got = smart_resize(
                n("height") as u32,
                n("width") as u32,
                n("factor") as u32,
                n("min_pixels"),
                n("max_pixels"),
                variant,
            );
            let want = &row[column];
            match (got, want.get("error")) {
                (Ok((h, w)), None) => {
                    assert_eq!(
                        [h as u64, w as u64],
                        [want[0].as_u64().unwrap(), want[1].as_u64().unwrap()],
                        "{row} {column}"
                    )
                }
                (Err(e), Some(msg)) => {
                    errors += 1;
                    let msg = msg.as_str().unwrap().trim_start_matches("ValueError: ");
                    assert_eq!(e.to_string(), msg, "{row} {column}");
                }
                (got, _) => panic!("{row} {column}: got {got:?}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 900);
    assert!(errors > 0, "the table's error rows were exercised");
}

#[test]
fn image_pipeline_default_chain_is_exact() {
    let st_bytes = read("preprocessing/image_pipeline.safetensors");
    let st = SafeTensors::deserialize(&st_bytes).unwrap();
    let source = png("preprocessing/image_150x100.png");
    let fetched = fetch_image(&source, &FetchImageOptions::images_v1_5()).unwrap();
    let (shape, want) = u8_tensor(&st, "b1_fetched_uint8_hwc");
    assert_eq!(fetched, hwc_image(&shape, &want, 0), "fetch_image output");

    let cfg = preview_config();
    let (_, want) = f32_tensor(&st, "b1_pixel_values");
    let grid = int_tensor(&st, "b1_image_grid_thw");
    assert_patches(
        "fetch then processor",
        &preprocess_image(&fetched, &cfg).unwrap(),
        &want,
        &grid,
    );
    assert_patches(
        "processor only",
        &preprocess_image(&source, &cfg).unwrap(),
        &want,
        &grid,
    );
}

#[test]
fn image_pipeline_double_resize_is_exact() {
    let st_bytes = read("preprocessing/image_pipeline.safetensors");
    let st = SafeTensors::deserialize(&st_bytes).unwrap();
    let source = png("preprocessing/image_300x200.png");
    let opts = FetchImageOptions {
        max_pixels: 28 * 28 * 30,
        ..FetchImageOptions::images_v1_5()
    };
    let fetched = fetch_image(&source, &opts).unwrap();
    let (shape, want) = u8_tensor(&st, "b2_fetched_uint8_hwc");
    assert_eq!(fetched, hwc_image(&shape, &want, 0), "fetch_image output");

    let cfg = ImageProcessorConfig {
        max_pixels: 28 * 28 * 12,
        ..preview_config()
    };
    let (h, w) = smart_resize(
        112,
        168,
        28,
        cfg.min_pixels,
        cfg.max_pixels,
        SmartResizeVariant::Processor,
    )
    .unwrap();
    let (shape, want) = u8_tensor(&st, "b2_processor_resized_uint8_hwc");
    assert_eq!(
        resize_bicubic_pillow(&fetched, w, h).unwrap(),
        hwc_image(&shape, &want, 0)
    );

    let (_, want) = f32_tensor(&st, "b2_pixel_values");
    let grid = int_tensor(&st, "b2_image_grid_thw");
    assert_patches(
        "double resize",
        &preprocess_image(&fetched, &cfg).unwrap(),
        &want,
        &grid,
    );
    let (_, want) = f32_tensor(&st, "b2_pixel_values_processor_only");
    let grid = int_tensor(&st, "b2_image_grid_thw_processor_only");
    assert_patches(
        "single resize",
        &preprocess_image(&source, &cfg).unwrap(),
        &want,
        &grid,
    );
}

#[test]
fn opencv_hsv_table_is_exact() {
    let st_bytes = read("preprocessing/slowfast.safetensors");
    let st = SafeTensors::deserialize(&st_bytes).unwrap();
    let (_, rgb) = u8_tensor(&st, "hsv_table_rgb_uint8");
    let (_, hsv) = u8_tensor(&st, "hsv_table_hsv_uint8");
    assert_eq!(rgb.len(), 4331 * 3);
    for (i, (c, want)) in rgb.chunks_exact(3).zip(hsv.chunks_exact(3)).enumerate() {
        assert_eq!(
            rgb_to_hsv([c[0], c[1], c[2]]),
            [want[0], want[1], want[2]],
            "colour {i}: {c:?}"
        );
    }
}

/// The golden's `ele` overrides as options.
fn slowfast_options(overrides: &Value) -> SlowFastOptions {
    SlowFastOptions {
        fps: overrides["fps"].as_f64(),
        min_pixels: overrides["min_pixels"].as_u64(),
        video_total_pixels: overrides["video_total_pixels"].as_u64(),
        ..SlowFastOptions::default()
    }
}

#[test]
fn slowfast_matches_keye_vl_utils_for_every_variant() {
    let golden = json("preprocessing/slowfast.json");
    let st_bytes = read("preprocessing/slowfast.safetensors");
    let st = SafeTensors::deserialize(&st_bytes).unwrap();
    let (shape, raw) = u8_tensor(&st, "raw_frames_uint8_thwc");
    let raw_frames: Vec<RgbImage> = (0..shape[0]).map(|i| hwc_image(&shape, &raw, i)).collect();

    // fetch_image per frame, checked on the stored subset (NCHW).
    let default_opts = slowfast_options(&golden["default"]["ele_overrides"]);
    let fetched: Vec<RgbImage> = raw_frames
        .iter()
        .map(|f| fetch_image(f, &default_opts.fetch_options()).unwrap())
        .collect();
    let (sub_shape, subset) = u8_tensor(&st, "fetched_frames_subset_uint8_nchw");
    let (h, w) = (sub_shape[2], sub_shape[3]);
    for (k, &index) in int_tensor(&st, "fetched_frames_subset_index")
        .iter()
        .enumerate()
    {
        let frame = &fetched[index as usize];
        let chw = &subset[k * 3 * h * w..(k + 1) * 3 * h * w];
        let hwc: Vec<u8> = (0..h * w)
            .flat_map(|p| (0..3).map(move |c| chw[c * h * w + p]))
            .collect();
        assert_eq!(frame.as_raw(), &hwc, "fetched frame {index}");
    }

    for variant in [
        "default",
        "budget_580_tokens",
        "budget_600_tokens",
        "budget_400_tokens",
        "min_pixels_64_tokens",
        "no_fps_given",
    ] {
        let want = &golden[variant];
        let opts = slowfast_options(&want["ele_overrides"]);
        // Only a min_pixels override changes how the frames are fetched.
        let frames: Vec<RgbImage> = if opts.fetch_options() == default_opts.fetch_options() {
            fetched.clone()
        } else {
            raw_frames
                .iter()
                .map(|f| fetch_image(f, &opts.fetch_options()).unwrap())
                .collect()
        };
        let sampling = sample_slowfast_frame_list(frames.len(), &opts).unwrap();
        let sampled: Vec<RgbImage> = sampling
            .indices
            .iter()
            .map(|&i| frames[i].clone())
            .collect();
        let plan = plan_slowfast(&sampled, sampling, &opts).unwrap();

        let types: Vec<i64> = plan.kinds.iter().map(|k| k.type_id()).collect();
        let want_types: Vec<i64> = want["frame_types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(types, want_types, "{variant}: frame types");
        match want["timestamps"].as_array() {
            Some(ts) => {
                let want_ts: Vec<f64> = ts.iter().map(|v| v.as_f64().unwrap()).collect();
                let got: Vec<f64> = plan
                    .sampling
                    .timestamps
                    .as_ref()
                    .unwrap()
                    .iter()
                    .map(|&t| t as f64)
                    .collect();
                assert_eq!(got, want_ts, "{variant}: timestamps");
            }
            None => assert_eq!(plan.sampling.timestamps, None, "{variant}: timestamps"),
        }
        let n = |k: &str| want[k].as_u64().unwrap() as u32;
        assert_eq!(
            plan.budget.slow_hw,
            (n("height"), n("width")),
            "{variant}: slow size"
        );
        assert_eq!(
            plan.budget.fast_hw,
            (n("fast_height"), n("fast_width")),
            "{variant}: fast size"
        );
        let search = &want["budget_search"];
        assert_eq!(
            plan.budget.tokens_per_slow_frame_bound,
            search["tokens_per_slow_frame_bound"].as_f64().unwrap(),
            "{variant}"
        );
        assert_eq!(
            plan.budget.slow_max_pixels,
            search["slow_max_pixels"].as_f64().unwrap(),
            "{variant}"
        );
        assert_eq!(
            plan.budget.fast_max_pixels,
            search["fast_max_pixels"].as_u64().unwrap(),
            "{variant}"
        );
        assert_eq!(
            plan.kinds.len() as u64,
            search["nframes_after_smart_nframes"].as_u64().unwrap()
        );
    }

    let st_types = int_tensor(&st, "frame_types");
    let (_, st_ts) = f32_tensor(&st, "timestamps");
    let sampling = sample_slowfast_frame_list(fetched.len(), &default_opts).unwrap();
    let plan = plan_slowfast(&fetched, sampling, &default_opts).unwrap();
    assert_eq!(
        plan.kinds.iter().map(|k| k.type_id()).collect::<Vec<_>>(),
        st_types
    );
    assert_eq!(plan.sampling.timestamps.as_deref(), Some(&st_ts[..]));
}

#[test]
fn slowfast_similarity_matches_the_reference_diagnostics() {
    use keye_model::preprocess::{frame_similarity, rgb_to_hsv_image};
    let golden = json("preprocessing/slowfast.json");
    let st_bytes = read("preprocessing/slowfast.safetensors");
    let st = SafeTensors::deserialize(&st_bytes).unwrap();
    let (shape, raw) = u8_tensor(&st, "raw_frames_uint8_thwc");
    let opts = SlowFastOptions {
        fps: Some(2.0),
        ..SlowFastOptions::default()
    };
    let hsv: Vec<Vec<u8>> = (0..shape[0])
        .map(|i| {
            rgb_to_hsv_image(
                fetch_image(&hwc_image(&shape, &raw, i), &opts.fetch_options())
                    .unwrap()
                    .as_raw(),
            )
        })
        .collect();
    let want = golden["default"]["similarity_to_last_slow_frame"]
        .as_array()
        .unwrap();
    let mut last_slow = 0;
    for i in 1..hsv.len() {
        let sim = frame_similarity(&hsv[last_slow], &hsv[i], 168, 252).unwrap();
        assert_eq!(sim as f64, want[i].as_f64().unwrap(), "frame {i}");
        if (sim as f64) < 0.9 {
            last_slow = i;
        }
    }
}

#[test]
fn slowfast_budget_search_matches_the_replica_table() {
    let golden = json("preprocessing/slowfast.json");
    for row in golden["budget_search_table_replica"].as_array().unwrap() {
        let n = |k: &str| row[k].as_u64().unwrap();
        let opts = SlowFastOptions {
            video_total_pixels: Some(n("video_total_pixels")),
            ..SlowFastOptions::default()
        };
        let budget = slowfast_sizes(n("slow_n"), n("fast_n"), 168, 252, &opts).unwrap();
        let want = &row["result_tokens_and_slow_max_pixels"];
        assert_eq!(
            budget.tokens_per_slow_frame_bound,
            want[0].as_f64().unwrap(),
            "{row}"
        );
        assert_eq!(budget.slow_max_pixels, want[1].as_f64().unwrap(), "{row}");
    }
}

fn case(name: &str) -> Vec<u8> {
    read(&format!("{name}/inputs.safetensors"))
}

#[test]
fn preview_image_case_patches() {
    let bytes = case("keye-preview-image");
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let (shape, img) = u8_tensor(&st, "image_uint8_hwc");
    let got = preprocess_image(&hwc_image(&shape, &img, 0), &preview_config()).unwrap();
    let (_, want) = f32_tensor(&st, "pixel_values");
    assert_patches(
        "preview image",
        &got,
        &want,
        &int_tensor(&st, "image_grid_thw"),
    );
}

#[test]
fn preview_two_images_case_patches() {
    let bytes = case("keye-preview-two-images");
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let cfg = preview_config();
    let mut values = Vec::new();
    let mut grids = Vec::new();
    for name in ["image_a_uint8_hwc", "image_b_uint8_hwc"] {
        let (shape, img) = u8_tensor(&st, name);
        let p = preprocess_image(&hwc_image(&shape, &img, 0), &cfg).unwrap();
        values.extend(p.pixel_values);
        grids.extend(p.grid_thw.map(|v| v as i64));
    }
    let (_, want) = f32_tensor(&st, "pixel_values");
    assert_close("two images", &values, &want, 1e-6);
    assert_eq!(grids, int_tensor(&st, "image_grid_thw"));
}

#[test]
fn preview_video_case_patches() {
    let bytes = case("keye-preview-video");
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let (shape, raw) = u8_tensor(&st, "video_frames_uint8_thwc");
    let frames: Vec<RgbImage> = (0..shape[0]).map(|i| hwc_image(&shape, &raw, i)).collect();
    let got = preprocess_video_preview(&frames, &preview_config()).unwrap();
    let (_, want) = f32_tensor(&st, "pixel_values_videos");
    assert_patches(
        "preview video",
        &got,
        &want,
        &int_tensor(&st, "video_grid_thw"),
    );
}

#[test]
fn keye_1_5_image_and_slowfast_video_case() {
    let bytes = case("keye-1.5-image-video");
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let cfg = preview_config();
    let (shape, img) = u8_tensor(&st, "image_uint8_hwc");
    let (_, want) = f32_tensor(&st, "pixel_values");
    let image = preprocess_image(&hwc_image(&shape, &img, 0), &cfg).unwrap();
    assert_patches(
        "1.5 image",
        &image,
        &want,
        &int_tensor(&st, "image_grid_thw"),
    );

    let (shape, raw) = u8_tensor(&st, "video_frames_uint8_thwc");
    let frames: Vec<RgbImage> = (0..shape[0]).map(|i| hwc_image(&shape, &raw, i)).collect();
    let kinds: Vec<FrameKind> = int_tensor(&st, "frame_types")
        .iter()
        .map(|&t| {
            if t == 0 {
                FrameKind::Slow
            } else {
                FrameKind::Fast
            }
        })
        .collect();
    let per_frame = preprocess_video_slowfast(&frames, &kinds, (56, 84), (28, 56), &cfg).unwrap();
    let values: Vec<f32> = per_frame
        .iter()
        .flat_map(|p| p.pixel_values.iter().copied())
        .collect();
    let (_, want) = f32_tensor(&st, "pixel_values_videos");
    assert_close("1.5 video", &values, &want, 1e-6);
    let grids: Vec<i64> = per_frame
        .iter()
        .flat_map(|p| p.grid_thw.map(|v| v as i64))
        .collect();
    assert_eq!(grids, int_tensor(&st, "video_grid_thw_per_frame"));

    // The case's sizes as a plan: merged grids and the UI's frames (the prompt expansion is
    // chat::expand_placeholders, exact in the golden cases).
    let (_, timestamps) = f32_tensor(&st, "timestamps");
    let plan = SlowFastPlan {
        sampling: keye_model::preprocess::SlowFastSampling {
            indices: vec![0, 1, 2],
            timestamps: Some(timestamps),
        },
        kinds,
        frame_hw: (60, 90),
        budget: keye_model::preprocess::SlowFastBudget {
            tokens_per_slow_frame_bound: 0.0,
            slow_max_pixels: 0.0,
            fast_max_pixels: 0,
            slow_hw: (56, 84),
            fast_hw: (28, 56),
        },
    };
    let merged: Vec<i64> = plan
        .merged_grids(14)
        .iter()
        .flatten()
        .map(|&v| v as i64)
        .collect();
    assert_eq!(merged, int_tensor(&st, "video_grid_thw"));
    let ui = plan.sampling_plan(14, 2);
    assert_eq!(
        ui.frames.iter().map(|f| f.tokens).collect::<Vec<_>>(),
        vec![6, 2, 2]
    );
    assert_eq!(ui.total_tokens(), 10);
}

#[test]
fn similarity_of_black_frames_is_nan_and_bad_buffers_are_errors() {
    use keye_model::preprocess::frame_similarity;
    // Patches black in both frames are left out; with none left the mean is NaN, which is not
    // below the threshold, so the frame stays fast (as in the reference).
    let black = vec![0u8; 28 * 56 * 3];
    assert!(frame_similarity(&black, &black, 28, 56).unwrap().is_nan());
    let mut white = black.clone();
    white[..28 * 3].fill(255);
    // One patch is non-black in one frame only: its cosine is 0, so similarity is 0 of 1.
    assert_eq!(frame_similarity(&black, &white, 28, 56).unwrap(), 0.0);
    assert!(frame_similarity(&black, &black[..10], 28, 56).is_err());
    assert!(frame_similarity(&black, &black, 27, 56).is_err());
}

#[test]
fn merge_frame_grids_joins_equal_consecutive_frames() {
    let frames = [[1, 4, 6], [1, 2, 4], [1, 2, 4], [1, 4, 6]];
    assert_eq!(
        keye_model::preprocess::merge_frame_grids(&frames),
        vec![[1, 4, 6], [2, 2, 4], [1, 4, 6]]
    );
}

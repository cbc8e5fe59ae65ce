//! Mavors chunk planner, frame/image geometry and config section: pure data, no weights.

use keye_model::mavors::{
    ChunkPlan, FrameGeometry, ImageSlicing, MavorsConfig, MavorsError, VideoEncoder,
    best_slice_grid,
};

const RESOLUTION: u32 = 384;
const PATCH: u32 = 14;

fn frame() -> FrameGeometry {
    FrameGeometry::for_frame(1920, 1080, RESOLUTION, PATCH).unwrap()
}

/// Timestamps of a constant-rate video.
fn cfr(start: f64, fps: f64, frames: usize) -> Vec<f64> {
    (0..frames).map(|i| start + i as f64 / fps).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn short_video_is_one_chunk_padded_with_its_last_frame() {
    // 3 s at 30 fps, sampled at 2 fps: 6 samples, 10 repeats of the last one.
    let ts = cfr(0.0, 30.0, 90);
    let plan = ChunkPlan::new(&ts, 3.0, frame(), &MavorsConfig::default()).unwrap();
    assert_eq!(plan.sampled_frames, 6);
    assert!(!plan.accelerated);
    assert_eq!(plan.chunks.len(), 1);
    let chunk = &plan.chunks[0];
    assert_eq!(
        chunk.frame_indices,
        [
            0, 15, 30, 45, 60, 75, 75, 75, 75, 75, 75, 75, 75, 75, 75, 75
        ]
    );
    assert!(chunk.padded);
    assert_eq!(chunk.pad_frames, 10);
    assert!(close(chunk.timestamps[5], 2.5) && close(chunk.timestamps[15], 2.5));
    assert_eq!((chunk.start, chunk.end), (0.0, 3.0));
    assert_eq!(chunk.position, 0);
}

#[test]
fn exact_multiple_fills_whole_chunks_without_padding() {
    // 16 s at 30 fps: 32 samples = 2 full chunks that tile the video.
    let ts = cfr(0.0, 30.0, 480);
    let plan = ChunkPlan::new(&ts, 16.0, frame(), &MavorsConfig::default()).unwrap();
    assert_eq!(plan.chunks.len(), 2);
    assert!(
        plan.chunks
            .iter()
            .all(|c| !c.padded && c.frame_indices.len() == 16)
    );
    assert_eq!((plan.chunks[0].start, plan.chunks[0].end), (0.0, 8.0));
    assert_eq!((plan.chunks[1].start, plan.chunks[1].end), (8.0, 16.0));
    assert_eq!(plan.chunks[1].frame_indices[0], 240);
    assert_eq!(plan.positions(), [0, 1]);
}

#[test]
fn chunk_count_is_ceil_of_frames_over_chunk_length() {
    let config = MavorsConfig {
        chunk_frames: 4,
        sample_fps: 1.0,
        ..MavorsConfig::default()
    };
    for frames in 1..=60usize {
        let ts = cfr(0.0, 1.0, frames);
        let plan = ChunkPlan::new(&ts, frames as f64, frame(), &config).unwrap();
        assert_eq!(plan.sampled_frames, frames);
        assert_eq!(plan.chunks.len(), frames.div_ceil(4), "{frames} frames");
        let last = plan.chunks.last().unwrap();
        assert_eq!(last.pad_frames, 4 * plan.chunks.len() - frames);
        assert_eq!(last.padded, frames % 4 != 0);
        assert!(plan.chunks.iter().all(|c| c.frame_indices.len() == 4));
        assert_eq!(last.end, frames as f64);
    }
}

#[test]
fn non_zero_start_and_variable_frame_rate_keep_the_videos_own_timeline() {
    // Starts at 10.5 s; frame gaps alternate 0.1 s and 0.4 s (VFR). Each 2 fps sample shows the frame on
    // screen at that time, with that frame's own timestamp.
    let mut ts = vec![10.5];
    for i in 0..40 {
        let gap = if i % 2 == 0 { 0.1 } else { 0.4 };
        ts.push(ts.last().unwrap() + gap);
    }
    let end = ts.last().unwrap() + 0.1;
    let config = MavorsConfig {
        chunk_frames: 4,
        ..MavorsConfig::default()
    };
    let plan = ChunkPlan::new(&ts, end, frame(), &config).unwrap();
    let first = &plan.chunks[0];
    assert_eq!(first.start, 10.5);
    // Frames sit at 10.5, 10.6, 11.0, 11.1, 11.5, ...: samples 10.5, 11.0, 11.5, 12.0 land on 0, 2, 4, 6.
    assert_eq!(first.frame_indices, [0, 2, 4, 6]);
    assert!(close(first.timestamps[3], 12.0));
    assert!(close(first.end, 12.5) && close(plan.chunks[1].start, 12.5));
    for chunk in &plan.chunks {
        for (&index, &t) in chunk.frame_indices.iter().zip(&chunk.timestamps) {
            assert_eq!(ts[index], t);
            assert!(t >= chunk.start - 1e-9 && t < chunk.end);
        }
    }
    assert!(close(plan.chunks.last().unwrap().end, end));

    // A sample between frames takes the earlier frame: frames at 0.0 and 0.9 s, 2 fps -> 0, 0.
    let plan = ChunkPlan::new(&[0.0, 0.9], 1.0, frame(), &config).unwrap();
    assert_eq!(plan.chunks[0].frame_indices, [0, 0, 0, 0]);
    assert_eq!(plan.chunks[0].timestamps, [0.0; 4]);
    assert_eq!(plan.chunks[0].pad_frames, 2);
}

#[test]
fn very_long_video_is_accelerated_to_the_chunk_budget_with_original_timestamps() {
    // 2 hours at 25 fps: 14,400 samples at 2 fps, far over 32 chunks x 16 frames.
    let ts = cfr(5.0, 25.0, 180_000);
    let end = 5.0 + 7200.0;
    let plan = ChunkPlan::new(&ts, end, frame(), &MavorsConfig::default()).unwrap();
    assert!(plan.accelerated);
    assert_eq!(plan.sampled_frames, 14_400);
    assert_eq!(plan.kept_frames, 512);
    assert_eq!(plan.chunks.len(), 32);
    assert!(
        plan.chunks
            .iter()
            .all(|c| !c.padded && c.frame_indices.len() == 16)
    );
    // Kept samples are spread evenly: every 28.125th sample, i.e. about every 14 s.
    let all: Vec<f64> = plan
        .chunks
        .iter()
        .flat_map(|c| c.timestamps.clone())
        .collect();
    assert!(
        all.windows(2)
            .all(|w| w[1] - w[0] > 13.9 && w[1] - w[0] < 14.6)
    );
    assert_eq!(all[0], 5.0);
    // Chunk 1 starts at sample 450 = 225 s after the start, at C-RoPE position 450 / 16 ~ 28.
    assert!(close(plan.chunks[1].start, 230.0));
    assert_eq!(plan.chunks[1].position, 28);
    let positions = plan.positions();
    assert!(
        positions
            .windows(2)
            .all(|w| w[1] - w[0] == 28 || w[1] - w[0] == 29)
    );
    assert!(close(plan.chunks[31].end, end));
    assert_eq!(plan.total_tokens(), 32 * 209);
}

#[test]
fn tokens_per_chunk_follow_the_resized_frame() {
    // 1920x1080 -> 518x294 (MiniCPM-V find_best_resize with 384, patch 14) -> 21x37 patches -> 11x19.
    let g = frame();
    assert_eq!((g.width, g.height, g.grid_h, g.grid_w), (518, 294, 21, 37));
    assert_eq!((g.pooled_h, g.pooled_w, g.tokens()), (11, 19, 209));
    let plan = ChunkPlan::new(&cfr(0.0, 30.0, 30), 1.0, g, &MavorsConfig::default()).unwrap();
    assert_eq!(plan.chunks[0].tokens, 209);
}

#[test]
fn plan_serialises_what_the_ui_draws() {
    let config = MavorsConfig {
        chunk_frames: 2,
        ..MavorsConfig::default()
    };
    let plan = ChunkPlan::new(&[1.0, 1.5, 2.0], 2.5, frame(), &config).unwrap();
    let json = serde_json::to_value(&plan).unwrap();
    let chunk = &json["chunks"][1];
    assert_eq!(chunk["index"], 1);
    assert_eq!(chunk["start"], 2.0);
    assert_eq!(chunk["end"], 2.5);
    assert_eq!(chunk["frame_indices"], serde_json::json!([2, 2]));
    assert_eq!(chunk["timestamps"], serde_json::json!([2.0, 2.0]));
    assert_eq!(chunk["padded"], true);
    let back: ChunkPlan = serde_json::from_value(json).unwrap();
    assert_eq!(back, plan);
}

#[test]
fn bad_timelines_are_typed_errors() {
    let config = MavorsConfig::default();
    assert!(matches!(
        ChunkPlan::new(&[], 1.0, frame(), &config),
        Err(MavorsError::NoFrames)
    ));
    assert!(matches!(
        ChunkPlan::new(&[0.0, 0.5, 0.5], 1.0, frame(), &config),
        Err(MavorsError::BadTimestamp { index: 2, .. })
    ));
    assert!(matches!(
        ChunkPlan::new(&[0.0, f64::NAN], 1.0, frame(), &config),
        Err(MavorsError::BadTimestamp { index: 1, .. })
    ));
    let zero_fps = MavorsConfig {
        sample_fps: 0.0,
        ..config
    };
    assert!(matches!(
        ChunkPlan::new(&[0.0], 1.0, frame(), &zero_fps),
        Err(MavorsError::InvalidConfig(_))
    ));
    assert!(matches!(
        FrameGeometry::for_frame(0, 10, RESOLUTION, PATCH),
        Err(MavorsError::EmptyImage { .. })
    ));
}

/// (width, height, grid (cols, rows), thumbnail size, refined size), computed by MiniCPM-V's
/// `slice_image` / `find_best_resize` / `get_refine_size` in Python with scale_resolution 384,
/// patch 14, max_slice_nums 9.
#[allow(clippy::type_complexity)]
const SLICE_TABLE: &[(
    u32,
    u32,
    Option<(usize, usize)>,
    (u32, u32),
    Option<(u32, u32)>,
)] = &[
    (384, 384, None, (378, 378), None),
    (100, 100, None, (378, 378), None),
    (1, 1, None, (378, 378), None),
    (385, 385, Some((1, 2)), (378, 378), Some((546, 532))),
    (640, 480, Some((2, 2)), (448, 336), Some((896, 672))),
    (800, 600, Some((2, 2)), (448, 336), Some((896, 672))),
    (1024, 768, Some((3, 2)), (448, 336), Some((1092, 812))),
    (1280, 720, Some((4, 2)), (518, 294), Some((1456, 812))),
    (1920, 1080, Some((4, 2)), (518, 294), Some((1456, 812))),
    (1080, 1920, Some((2, 4)), (294, 518), Some((812, 1456))),
    (3840, 2160, Some((4, 2)), (518, 294), Some((1456, 812))),
    (4000, 3000, Some((3, 3)), (448, 336), Some((1344, 1008))),
    (2000, 500, Some((6, 1)), (770, 196), Some((1848, 476))),
    (500, 2000, Some((1, 6)), (196, 770), Some((476, 1848))),
    (3000, 300, Some((8, 1)), (1204, 126), Some((3472, 336))),
    (300, 3000, Some((1, 8)), (126, 1218), Some((336, 3472))),
    (768, 768, Some((2, 2)), (378, 378), Some((756, 756))),
    (1152, 384, Some((3, 1)), (658, 224), Some((1134, 378))),
    (1000, 1000, Some((3, 2)), (378, 378), Some((924, 952))),
    (1500, 200, Some((4, 1)), (1050, 140), Some((2128, 280))),
    (150, 100, None, (476, 308), None),
    (543, 1201, Some((2, 3)), (252, 574), Some((644, 1386))),
];

#[test]
fn sub_image_grid_follows_the_minicpm_v_rule() {
    for &(w, h, grid, thumb, refined) in SLICE_TABLE {
        assert_eq!(
            best_slice_grid(w, h, RESOLUTION, 9).unwrap(),
            grid,
            "{w}x{h}"
        );
        let plan = ImageSlicing::plan(w, h, RESOLUTION, PATCH, 9).unwrap();
        assert_eq!(plan.grid, grid, "{w}x{h}");
        assert_eq!(
            (plan.thumbnail.width, plan.thumbnail.height),
            thumb,
            "{w}x{h}"
        );
        match (grid, refined) {
            (Some((cols, rows)), Some(size)) => {
                assert_eq!((plan.refined_width, plan.refined_height), size, "{w}x{h}");
                assert_eq!(plan.slices.len(), cols * rows);
                assert_eq!(plan.chunk_count(), 1 + cols * rows);
                let slice = plan.slice.unwrap();
                assert_eq!(slice.width * cols as u32, size.0);
                assert_eq!(slice.height * rows as u32, size.1);
                // Row by row, tiling the refined image.
                let last = plan.slices.last().unwrap();
                assert_eq!((last.x + last.width, last.y + last.height), size);
                assert_eq!(
                    plan.slices[1.min(cols * rows - 1)].y,
                    if cols > 1 { 0 } else { slice.height }
                );
            }
            _ => {
                assert!(plan.slices.is_empty() && plan.slice.is_none());
                assert_eq!(plan.chunk_count(), 1);
            }
        }
    }
    // A lower slice budget caps the count.
    assert_eq!(
        best_slice_grid(4000, 3000, RESOLUTION, 4).unwrap(),
        Some((2, 2))
    );
}

#[test]
fn mavors_config_section_selects_the_video_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, r#"{"model_type": "Keye"}"#).unwrap();
    assert_eq!(
        VideoEncoder::from_config_file(&path).unwrap(),
        VideoEncoder::Keye
    );

    std::fs::write(
        &path,
        r#"{"model_type": "Keye", "mavors_config": {"chunk_frames": 8, "max_chunks": 60}}"#,
    )
    .unwrap();
    let expected = MavorsConfig {
        chunk_frames: 8,
        max_chunks: 60,
        ..MavorsConfig::default()
    };
    assert_eq!(
        VideoEncoder::from_config_file(&path).unwrap(),
        VideoEncoder::Mavors(expected)
    );

    std::fs::write(&path, r#"{"mavors_config": {"chunk_frames": 0}}"#).unwrap();
    let error = VideoEncoder::from_config_file(&path)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("config.json") && error.contains("chunk_frames"),
        "{error}"
    );
    std::fs::write(&path, r#"{"mavors_config": {"chunk_frame": 8}}"#).unwrap();
    let error = VideoEncoder::from_config_file(&path)
        .unwrap_err()
        .to_string();
    assert!(error.contains("chunk_frame"), "{error}");
}

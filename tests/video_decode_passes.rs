//! Fast decoding of chosen frames: frame- and slice-threaded decoding gives the very frames
//! single-threaded decoding gives, and seeking to keyframes or decoding one pass (whichever the
//! frame index chooses) gives the same frames either way, across codecs and the awkward cases
//! (B-frames, open GOP, variable frame rate with a start offset, rotation).

mod support;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use keye_studio::video::{
    DecodeStrategy, DecodeThreads, FrameSpec, SamplingPlan, Video, VideoError, VideoOptions,
};
use support::Fixtures;

/// (index, pts, hash of the pixels) of each delivered frame.
type Hashes = Vec<(usize, i64, u64)>;

fn open(path: &Path, threads: DecodeThreads) -> Video {
    Video::open_with(
        path,
        VideoOptions {
            threads,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn hash(pixels: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    pixels.hash(&mut hasher);
    hasher.finish()
}

fn decode(
    path: &Path,
    threads: DecodeThreads,
    indices: &[usize],
    strategy: Option<DecodeStrategy>,
) -> Hashes {
    let mut video = open(path, threads);
    let mut frames = Vec::new();
    video
        .decode_frames(
            indices,
            FrameSpec::native_rgb(),
            strategy,
            &|| false,
            &mut |f| frames.push((f.index, f.pts, hash(&f.pixels))),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    frames
}

/// The same frames one at a time through random access on one thread (the player's path).
fn random_access(path: &Path, indices: &[usize]) -> Hashes {
    let mut video = open(path, DecodeThreads::Single);
    indices
        .iter()
        .map(|&i| {
            let f = video.frame_index(i, FrameSpec::native_rgb()).unwrap();
            (f.index, f.pts, hash(&f.pixels))
        })
        .collect()
}

/// The fixture matrix: codecs with B-frames, an open GOP, VFR with a start offset, rotation.
fn matrix(fixtures: &Fixtures) -> Vec<PathBuf> {
    let h264 = |name: &str, extra: &[&str]| {
        let mut args = vec!["-c:v", "libx264", "-bf", "3", "-pix_fmt", "yuv420p"];
        args.extend_from_slice(extra);
        fixtures.testsrc(name, "320x180", 25, 2.0, &args)
    };
    let b_frames = h264("b-frames.mp4", &["-g", "12", "-x264-params", "slices=4"]);
    let open_gop = h264(
        "open-gop.mkv",
        &[
            "-x264-params",
            "open-gop=1:keyint=10:min-keyint=10:scenecut=0",
        ],
    );
    let hevc = fixtures.testsrc(
        "hevc.mp4",
        "320x180",
        25,
        2.0,
        &[
            "-c:v",
            "libx265",
            "-x265-params",
            "keyint=15:min-keyint=15:bframes=3:log-level=error",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let vp9 = fixtures.testsrc(
        "vp9.webm",
        "320x180",
        25,
        2.0,
        &["-c:v", "libvpx-vp9", "-deadline", "realtime", "-g", "15"],
    );
    let vfr = fixtures.vfr_with_start_offset("vfr.mkv", "320x180", &["-g", "8", "-bf", "2"]);
    let source = b_frames.to_str().unwrap().to_owned();
    let rotated = fixtures.ffmpeg(
        "rotated.mp4",
        &["-i", &source, "-c", "copy", "-metadata:s:v:0", "rotate=90"],
    );
    vec![b_frames, open_gop, hevc, vp9, vfr, rotated]
}

#[test]
fn threaded_decoding_gives_the_frames_single_threaded_decoding_gives() {
    let fixtures = Fixtures::new();
    for path in matrix(&fixtures) {
        let count = open(&path, DecodeThreads::Single).frame_count();
        let all: Vec<usize> = (0..count).collect();
        let single = decode(
            &path,
            DecodeThreads::Single,
            &all,
            Some(DecodeStrategy::Scan),
        );
        assert_eq!(single.len(), count, "{}", path.display());
        let threaded = decode(&path, DecodeThreads::All, &all, Some(DecodeStrategy::Scan));
        assert_eq!(threaded, single, "{}: threaded pass", path.display());
        // Random access on one thread is the reference the player relies on.
        assert_eq!(
            random_access(&path, &all),
            single,
            "{}: random access",
            path.display()
        );
    }
}

#[test]
fn seeking_and_scanning_give_the_same_frames() {
    let fixtures = Fixtures::new();
    for path in matrix(&fixtures) {
        let count = open(&path, DecodeThreads::Single).frame_count();
        let sparse = vec![count - 1, 3, count / 2, 3];
        let dense: Vec<usize> = (1..count).step_by(3).collect();
        for indices in [sparse, dense] {
            let mut expected_indices = indices.clone();
            expected_indices.sort_unstable();
            expected_indices.dedup();
            let expected = random_access(&path, &expected_indices);
            for threads in [DecodeThreads::Single, DecodeThreads::All] {
                for strategy in [Some(DecodeStrategy::Seek), Some(DecodeStrategy::Scan), None] {
                    assert_eq!(
                        decode(&path, threads, &indices, strategy),
                        expected,
                        "{}: {threads:?} {strategy:?} {indices:?}",
                        path.display()
                    );
                }
            }
        }
    }
}

#[test]
fn the_frame_index_chooses_seeking_for_sparse_frames_and_one_pass_for_dense_ones() {
    let fixtures = Fixtures::new();
    // 8 s at 25 fps with a keyframe every second: 8 GOPs of 25 frames.
    let path = fixtures.testsrc(
        "gops.mp4",
        "64x48",
        25,
        8.0,
        &[
            "-c:v",
            "libx264",
            "-g",
            "25",
            "-sc_threshold",
            "0",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let video = open(&path, DecodeThreads::All);
    assert_eq!(video.index().keyframes().len(), 8);

    // Fewer frames than GOPs, each late in its GOP: seek to each one's keyframe.
    let sparse = video.decode_strategy(&[10, 60, 110, 160]);
    assert_eq!(sparse.strategy, DecodeStrategy::Seek, "{sparse}");
    assert_eq!((sparse.seeks, sparse.seek_frames), (4, 44));
    assert_eq!(sparse.scan_frames, 161);

    // Every other frame: one pass, never more frames than decoding everything.
    let dense: Vec<usize> = (0..200).step_by(2).collect();
    let choice = video.decode_strategy(&dense);
    assert_eq!(choice.strategy, DecodeStrategy::Scan, "{choice}");
    assert_eq!(choice.scan_frames, 199);
    assert!(
        choice
            .to_string()
            .starts_with("scan (one pass decoding 199 frames")
    );

    // Frames in one GOP are reached by decoding on, whatever the order asked.
    let one_gop = video.decode_strategy(&[30, 27, 40]);
    assert_eq!((one_gop.seeks, one_gop.seek_frames), (1, 16));
}

#[test]
fn a_sampling_plan_hands_frames_out_in_plan_order_and_stops_when_cancelled() {
    let fixtures = Fixtures::new();
    let path = fixtures.testsrc(
        "plan.mp4",
        "64x48",
        25,
        2.0,
        &["-c:v", "libx264", "-g", "10", "-pix_fmt", "yuv420p"],
    );
    let mut video = open(&path, DecodeThreads::All);
    let plan = SamplingPlan::Indices(vec![40, 2, 17, 2]);
    let mut reported = Vec::new();
    let frames = plan
        .sample(
            &mut video,
            FrameSpec::native_rgb(),
            &|| false,
            &mut |done, total| reported.push((done, total)),
        )
        .unwrap();
    let order: Vec<usize> = frames.iter().map(|f| f.index).collect();
    assert_eq!(order, vec![40, 2, 17, 2]);
    assert_eq!(reported.last(), Some(&(4, 4)));
    let expected = random_access(&path, &[40, 2, 17, 2]);
    let got: Hashes = frames
        .iter()
        .map(|f| (f.index, f.pts, hash(&f.frame.pixels)))
        .collect();
    assert_eq!(got, expected);

    let cancelled = video.decode_frames(
        &[0, 49],
        FrameSpec::native_rgb(),
        None,
        &|| true,
        &mut |_| {},
    );
    assert!(matches!(cancelled, Err(VideoError::Cancelled { .. })));
    let out_of_range =
        video.decode_frames(&[50], FrameSpec::native_rgb(), None, &|| false, &mut |_| {});
    assert!(matches!(
        out_of_range,
        Err(VideoError::IndexOutOfRange {
            index: 50,
            count: 50,
            ..
        })
    ));
}

#[test]
fn read_ahead_decodes_into_the_cache_and_gives_the_same_frame() {
    let fixtures = Fixtures::new();
    let path = fixtures.testsrc(
        "ahead.mp4",
        "64x48",
        25,
        1.0,
        &[
            "-c:v", "libx264", "-bf", "3", "-g", "10", "-pix_fmt", "yuv420p",
        ],
    );
    let expected = random_access(&path, &[0, 6]);
    let mut video = open(&path, DecodeThreads::All);
    let first = video.frame_index(0, FrameSpec::native_rgb()).unwrap();
    assert_eq!((first.index, first.pts, hash(&first.pixels)), expected[0]);
    assert!(matches!(
        video.prefetch(6, &|| true),
        Err(VideoError::Cancelled { .. })
    ));
    let (held, _) = video.cache_usage();
    video.prefetch(6, &|| false).unwrap();
    assert!(
        video.cache_usage().0 > held,
        "the read-ahead holds pictures"
    );
    let sixth = video.frame_index(6, FrameSpec::native_rgb()).unwrap();
    assert_eq!((sixth.index, sixth.pts, hash(&sixth.pixels)), expected[1]);
    // Past the end there is nothing to read ahead.
    video.prefetch(25, &|| false).unwrap();
}

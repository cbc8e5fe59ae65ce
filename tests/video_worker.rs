//! The decode worker and background jobs: answers come back on a channel, newer frame requests
//! supersede older ones, cancellation works, thumbnails and sampling deliver the right frames.

mod support;

use std::time::Duration;

use keye_studio::video::{
    DecodeWorker, FrameRequest, FrameSpec, SamplingPlan, ThumbnailEvent, Video, VideoError,
    VideoOptions, WorkerEvent, thumbnail_indices,
};
use support::Fixtures;

/// Guards against a hang only; nothing here measures speed.
const PATIENCE: Duration = Duration::from_secs(60);

fn clip(fixtures: &Fixtures) -> std::path::PathBuf {
    fixtures.testsrc(
        "clip.mp4",
        "64x48",
        25,
        3.0,
        &[
            "-c:v", "libx264", "-bf", "2", "-g", "25", "-pix_fmt", "yuv420p",
        ],
    )
}

fn next_event(worker: &DecodeWorker) -> WorkerEvent {
    worker
        .events()
        .recv_timeout(PATIENCE)
        .expect("the worker answers")
}

#[test]
fn the_worker_opens_then_answers_the_latest_frame_request_only() {
    let fixtures = Fixtures::new();
    let path = clip(&fixtures);
    let worker = DecodeWorker::spawn(&path, VideoOptions::default(), || {});
    // Sent while the worker is still opening and indexing the file: all but the last are stale.
    let mut last = 0;
    for step in 0..100 {
        last = worker.request_frame(
            FrameRequest::At(step as f64 * 0.029),
            FrameSpec::native_rgb(),
        );
    }
    let WorkerEvent::Opened(video) = next_event(&worker) else {
        panic!("first event is Opened");
    };
    assert_eq!(video.info().frame_count.frames, 75);
    assert_eq!(video.index().len(), 75, "the frame index comes with it");
    let WorkerEvent::Frame { id, frame, .. } = next_event(&worker) else {
        panic!("a frame comes back");
    };
    assert_eq!(id, last, "only the newest request is answered");
    let mut reference = Video::open(&path).unwrap();
    let expected = reference
        .frame_at(99.0 * 0.029, FrameSpec::native_rgb())
        .unwrap();
    assert_eq!(frame.index, expected.index);
    assert_eq!(
        video.index().index_at_time(99.0 * 0.029),
        Some(expected.index)
    );
    assert_eq!(frame.pixels, expected.pixels);
    // A stale answer still on its way would arrive before the answer to a request sent now.
    let sentinel = worker.request_frame(FrameRequest::Index(5), FrameSpec::native_rgb());
    match next_event(&worker) {
        WorkerEvent::Frame { id, frame, .. } => {
            assert_eq!(id, sentinel, "no answers to stale requests");
            assert_eq!(frame.index, 5);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn cancelled_requests_get_no_answer() {
    let fixtures = Fixtures::new();
    let path = clip(&fixtures);
    let worker = DecodeWorker::spawn(&path, VideoOptions::default(), || {});
    let cancelled = worker.request_frame(FrameRequest::Index(60), FrameSpec::native_rgb());
    worker.cancel_frames();
    assert!(matches!(next_event(&worker), WorkerEvent::Opened(_)));
    let wanted = worker.request_frame(FrameRequest::Index(10), FrameSpec::native_rgb());
    match next_event(&worker) {
        WorkerEvent::Frame { id, frame, .. } => {
            assert_ne!(id, cancelled);
            assert_eq!(id, wanted);
            assert_eq!(frame.index, 10);
        }
        other => panic!("unexpected {other:?}"),
    }
    let failed = worker.request_frame(FrameRequest::Index(75), FrameSpec::native_rgb());
    match next_event(&worker) {
        WorkerEvent::FrameFailed { id, error } => {
            assert_eq!(id, failed);
            assert!(matches!(error, VideoError::IndexOutOfRange { .. }));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_missing_file_reports_open_failed() {
    let fixtures = Fixtures::new();
    let worker = DecodeWorker::spawn(fixtures.path("gone.mp4"), VideoOptions::default(), || {});
    worker.request_frame(FrameRequest::At(0.0), FrameSpec::native_rgb());
    match next_event(&worker) {
        WorkerEvent::OpenFailed(VideoError::NotFound { .. }) => {}
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn thumbnails_arrive_in_the_background_and_can_be_cancelled() {
    let fixtures = Fixtures::new();
    let path = clip(&fixtures);
    let wakes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&wakes);
    let worker = DecodeWorker::spawn(&path, VideoOptions::default(), move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    });
    worker.request_thumbnails(6, FrameSpec::fit_rgb(32, 32));
    assert!(matches!(next_event(&worker), WorkerEvent::Opened(_)));
    let mut reference = Video::open(&path).unwrap();
    let indices = thumbnail_indices(75, 6);
    let mut seen = Vec::new();
    loop {
        match next_event(&worker) {
            WorkerEvent::Thumbnails(ThumbnailEvent::Thumbnail {
                position,
                total,
                frame,
            }) => {
                assert_eq!(total, 6);
                assert_eq!(frame.index, indices[position]);
                assert_eq!((frame.width, frame.height), (32, 24));
                let expected = reference
                    .frame_index(indices[position], FrameSpec::fit_rgb(32, 32))
                    .unwrap();
                assert_eq!(frame.pixels, expected.pixels);
                seen.push(position);
            }
            WorkerEvent::Thumbnails(ThumbnailEvent::Done {
                completed,
                cancelled,
            }) => {
                assert_eq!((completed, cancelled), (6, false));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, vec![0, 1, 2, 3, 4, 5]);
    assert!(
        wakes.load(std::sync::atomic::Ordering::SeqCst) >= 8,
        "woken for every event"
    );

    // Cancelled before the worker gets to it: the job ends at once and says so.
    worker.request_thumbnails(50, FrameSpec::fit_rgb(32, 32));
    worker.cancel_thumbnails();
    match next_event(&worker) {
        WorkerEvent::Thumbnails(ThumbnailEvent::Done {
            completed,
            cancelled,
        }) => {
            assert!(cancelled);
            assert!(completed < 50);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn sampling_plans_return_indexed_timestamped_frames() {
    let fixtures = Fixtures::new();
    let path = clip(&fixtures);
    let mut video = Video::open(&path).unwrap();
    let plan = SamplingPlan::UniformFps {
        fps: 2.0,
        min_frames: 4,
        max_frames: 768,
        frame_factor: 2,
    };
    let mut calls = Vec::new();
    let frames = plan
        .sample(
            &mut video,
            FrameSpec::fit_rgb(32, 32),
            &|| false,
            &mut |done, total| calls.push((done, total)),
        )
        .unwrap();
    // 3 s at 25 fps sampled at 2 fps: 6 frames, linspace(0, 74, 6) rounded.
    let indices: Vec<usize> = frames.iter().map(|f| f.index).collect();
    assert_eq!(indices, vec![0, 15, 30, 44, 59, 74]);
    assert_eq!(calls.last(), Some(&(6, 6)));
    for sampled in &frames {
        assert_eq!(sampled.frame.index, sampled.index);
        assert!((sampled.time - sampled.index as f64 / 25.0).abs() < 1e-9);
        assert_eq!(sampled.pts, video.index().pts(sampled.index).unwrap());
    }
    let explicit = SamplingPlan::Indices(vec![70, 3])
        .sample(
            &mut video,
            FrameSpec::native_rgb(),
            &|| false,
            &mut |_, _| {},
        )
        .unwrap();
    assert_eq!(
        explicit.iter().map(|f| f.index).collect::<Vec<_>>(),
        vec![70, 3]
    );
    let stopped = plan.sample(
        &mut video,
        FrameSpec::native_rgb(),
        &|| true,
        &mut |_, _| {},
    );
    assert!(
        matches!(stopped, Err(VideoError::Cancelled { .. })),
        "{stopped:?}"
    );
}

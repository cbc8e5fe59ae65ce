//! Every Keye-VL golden case, end to end: our chat template, tokenizer and preprocessing rebuild
//! the inputs, the model runs, and every stored tensor must match (ids, grids, positions and the
//! 8 greedy tokens exactly; pixel values, hidden states and logits within 1e-4).

use std::path::PathBuf;

use keye_model::{LoadOptions, golden::GoldenCase};

fn case_dir(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures")).join(name)
}

fn check_case(name: &str, must_check: &[&str]) {
    let case = GoldenCase::open(&case_dir(name)).expect("open case");
    let report = case.run(LoadOptions::default()).expect("run case");
    let failures: Vec<String> = report
        .checks
        .iter()
        .filter(|c| !c.passed())
        .map(|c| {
            format!(
                "{}: diff {:?} (tol {}), shape {:?} vs {:?}",
                c.name, c.max_abs_diff, c.tolerance, c.actual_shape, c.expected_shape
            )
        })
        .collect();
    assert!(failures.is_empty(), "{name}: {failures:#?}");
    assert!(
        report.unmatched.is_empty(),
        "{name}: unchecked tensors {:?}",
        report.unmatched
    );
    assert_eq!(
        report.prompt_matches,
        Some(true),
        "{name}: chat template output differs"
    );
    for tensor in must_check {
        assert!(
            report.checks.iter().any(|c| c.name == *tensor),
            "{name}: {tensor} was not compared"
        );
    }
    assert!(report.passed());
}

const COMMON: &[&str] = &[
    "input_ids",
    "inputs_embeds",
    "lm_last_hidden",
    "logits",
    "position_ids",
    "rope_deltas",
    "generated_ids",
    "generated_step_logits",
];

#[test]
fn preview_single_image() {
    check_case("keye-preview-image", COMMON);
}

#[test]
fn preview_video_as_frames() {
    check_case("keye-preview-video", COMMON);
}

#[test]
fn preview_two_images_use_separate_vit_blocks() {
    check_case("keye-preview-two-images", COMMON);
}

#[test]
fn v1_5_image_and_slowfast_video() {
    check_case("keye-1.5-image-video", COMMON);
}

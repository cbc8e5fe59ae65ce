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

/// Copies `dir` into `to` (files only), writable.
fn copy_dir(dir: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        std::fs::copy(&path, &target).unwrap();
        let mut perms = std::fs::metadata(&target).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(&target, perms).unwrap();
    }
}

#[test]
fn a_case_with_one_changed_reference_value_fails_on_that_tensor() {
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    copy_dir(&case_dir("keye-preview-two-images"), &case);
    copy_dir(
        &case_dir("models/keye-preview-tiny"),
        &tmp.path().join("models/keye-preview-tiny"),
    );
    let outputs = case.join("outputs.safetensors");
    let mut tensors = candle_core::safetensors::load(&outputs, &candle_core::Device::Cpu).unwrap();
    let ids = &tensors["position_ids"];
    let mut values = ids.flatten_all().unwrap().to_vec1::<i64>().unwrap();
    values[40] += 1;
    let changed =
        candle_core::Tensor::from_vec(values, ids.dims(), &candle_core::Device::Cpu).unwrap();
    tensors.insert("position_ids".into(), changed);
    candle_core::safetensors::save(&tensors, &outputs).unwrap();

    let report = GoldenCase::open(&case)
        .unwrap()
        .run(LoadOptions::default())
        .unwrap();
    assert!(!report.passed());
    let failed: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| !c.passed())
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(failed, ["position_ids"]);
}

/// Every case again with block-wise attention and chunked prefill at sizes that hit every edge:
/// one row or token at a time, sizes that do not divide the prompt or the vision blocks, and
/// sizes larger than either. The results must match the goldens exactly as the defaults do.
#[test]
fn every_case_matches_at_every_attention_block_and_prefill_chunk_size() {
    use keye_model::{
        KeyeModel, KeyeTokenizer, attention::AttentionBlocks, preprocess::ImageProcessorConfig,
    };
    for name in [
        "keye-preview-image",
        "keye-preview-video",
        "keye-preview-two-images",
        "keye-1.5-image-video",
    ] {
        let case = GoldenCase::open(&case_dir(name)).expect("open case");
        let model_dir = case.model_dir();
        let mut model = KeyeModel::load(&model_dir, LoadOptions::default()).unwrap();
        let tokenizer = KeyeTokenizer::from_dir(&model_dir, model.config()).unwrap();
        let processor =
            ImageProcessorConfig::from_file(&model_dir.join("preprocessor_config.json")).unwrap();
        for (query, key, chunk) in [
            (1, 1, 1),
            (3, 3, 3),
            (7, 7, 7),
            (3, 7, 5),
            (4096, 4096, 4096),
        ] {
            model.set_attention_blocks(AttentionBlocks::new(query, key));
            model.set_prefill_chunk(chunk);
            let report = case.run_with(&model, &tokenizer, &processor).unwrap();
            let failures: Vec<String> = report
                .checks
                .iter()
                .filter(|c| !c.passed())
                .map(|c| format!("{}: {:?}", c.name, c.max_abs_diff))
                .collect();
            assert!(
                failures.is_empty() && report.passed(),
                "{name} at blocks {query}x{key}, chunk {chunk}: {failures:?}"
            );
        }
    }
}

//! Mengzi-BERT: parity with the `mengzi-bert-tiny` golden from both weight formats, the
//! `vocab.txt` tokenizer, refusals that name the file, and the masked-LM character check.

mod support;

use std::path::{Path, PathBuf};

use candle_core::{Device, IndexOp};
use candle_nn::ops::softmax_last_dim;
use keye_model::{
    Error,
    golden::max_abs_diff,
    mengzi::{CheckOptions, MengziModel, golden::MengziGoldenCase},
};
use support::torch_zip::{self, Entry, Storage};

fn case_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/mengzi-bert-tiny"
    ))
}

/// A checkpoint folder holding the case's config and tokenizer files (not its weights).
fn folder_without_weights(files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in files {
        std::fs::copy(case_dir().join(file), dir.path().join(file)).unwrap();
    }
    dir
}

const MODEL_FILES: [&str; 4] = [
    "config.json",
    "tokenizer.json",
    "vocab.txt",
    "tokenizer_config.json",
];

/// The golden weights as (name, shape, values), in name order.
fn golden_entries() -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let tensors =
        candle_core::safetensors::load(case_dir().join("model.safetensors"), &Device::Cpu).unwrap();
    let mut entries: Vec<_> = tensors
        .into_iter()
        .map(|(name, t)| {
            let values = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            (name, t.dims().to_vec(), values)
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
}

/// Writes the golden weights as `dir/pytorch_model.bin`, leaving out the names in `skip`.
fn write_bin(dir: &Path, storage: Storage, skip: &[&str]) -> PathBuf {
    let entries = golden_entries();
    let entries: Vec<Entry> = entries
        .iter()
        .filter(|(name, _, _)| !skip.contains(&name.as_str()))
        .map(|(name, shape, values)| Entry {
            name,
            shape: shape.clone(),
            values: values.clone(),
        })
        .collect();
    let path = dir.join("pytorch_model.bin");
    torch_zip::write(&path, &entries, storage);
    path
}

fn assert_case_passes(model: &MengziModel) -> keye_model::golden::GoldenReport {
    let case = MengziGoldenCase::open(&case_dir()).unwrap();
    let report = case.run_with(model).unwrap();
    for check in &report.checks {
        assert!(
            check.passed(),
            "{}: max|diff| {:?}",
            check.name,
            check.max_abs_diff
        );
    }
    assert!(report.unmatched.is_empty(), "{:?}", report.unmatched);
    assert!(report.passed());
    report
}

#[test]
fn golden_parity_from_model_safetensors() {
    let model = MengziModel::load(&case_dir(), &Device::Cpu).unwrap();
    assert!(model.weights_path().ends_with("model.safetensors"));
    let report = assert_case_passes(&model);
    let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    for expected in [
        "input_ids",
        "attention_mask",
        "token_type_ids",
        "last_hidden_state",
        "mean_pooled",
        "mlm_logits_masked_sentence",
        "pair_input_ids",
        "pair_token_type_ids",
        "pair_last_hidden_state",
        "pair_mean_pooled",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} not compared: {names:?}"
        );
    }
    // The integer tensors are compared exactly.
    let ids = report
        .checks
        .iter()
        .find(|c| c.name == "input_ids")
        .unwrap();
    assert_eq!(ids.tolerance, 0.0);
}

#[test]
fn the_masked_token_prediction_is_the_golden_top5() {
    let model = MengziModel::load(&case_dir(), &Device::Cpu).unwrap();
    let encoded = model.tokenizer().encode("北京是中国的[MASK]都。").unwrap();
    assert_eq!(encoded.ids[7], model.tokenizer().special().mask);
    let batch = model.batch(&[encoded]).unwrap();
    let hidden = model.hidden_states(&batch).unwrap();
    let logits = model.mlm_logits(&hidden.i((0, 7..8)).unwrap()).unwrap();
    let sorted: Vec<u32> = logits
        .arg_sort_last_dim(false)
        .unwrap()
        .squeeze(0)
        .unwrap()
        .to_vec1()
        .unwrap();
    assert_eq!(sorted[..5], [10, 461, 484, 298, 527]);
}

#[test]
fn pytorch_model_bin_float32_gives_the_same_outputs_as_safetensors() {
    let dir = folder_without_weights(&MODEL_FILES);
    // As torch.save writes a BertForMaskedLM state dict: the tied decoder stored too.
    write_bin(dir.path(), Storage::Float, &[]);
    let from_bin = MengziModel::load(dir.path(), &Device::Cpu).unwrap();
    assert!(from_bin.weights_path().ends_with("pytorch_model.bin"));
    assert_case_passes(&from_bin);

    let from_safetensors = MengziModel::load(&case_dir(), &Device::Cpu).unwrap();
    let text = ["视频里有一只猫在桌子上睡觉。"];
    assert_eq!(
        from_bin.embed(&text).unwrap(),
        from_safetensors.embed(&text).unwrap()
    );
}

#[test]
fn a_checkpoint_without_the_tied_decoder_ties_it_on_load() {
    let dir = folder_without_weights(&MODEL_FILES);
    write_bin(
        dir.path(),
        Storage::Float,
        &[
            "cls.predictions.decoder.weight",
            "cls.predictions.decoder.bias",
        ],
    );
    let model = MengziModel::load(dir.path(), &Device::Cpu).unwrap();
    assert_case_passes(&model);
}

#[test]
fn pytorch_model_bin_float16_stays_within_half_rounding() {
    // Langboat ships mengzi-bert-base as float16 pytorch_model.bin.
    let dir = folder_without_weights(&MODEL_FILES);
    write_bin(dir.path(), Storage::Half, &[]);
    let model = MengziModel::load(dir.path(), &Device::Cpu).unwrap();
    let report = MengziGoldenCase::open(&case_dir())
        .unwrap()
        .run_with(&model)
        .unwrap();
    let worst = report
        .checks
        .iter()
        .filter(|c| c.tolerance > 0.0)
        .map(|c| c.max_abs_diff.unwrap())
        .fold(0.0f64, f64::max);
    // Half precision rounds weights by ~1e-3 relative: off the 1e-4 tolerance, yet close.
    assert!(worst > 1e-6 && worst < 5e-2, "worst {worst}");
    assert!(
        report
            .checks
            .iter()
            .filter(|c| c.tolerance == 0.0)
            .all(|c| c.passed())
    );
}

#[test]
fn the_vocab_txt_tokenizer_gives_the_tokenizer_json_ids() {
    let dir = folder_without_weights(&["config.json", "vocab.txt", "tokenizer_config.json"]);
    std::fs::copy(
        case_dir().join("model.safetensors"),
        dir.path().join("model.safetensors"),
    )
    .unwrap();
    let from_vocab = MengziModel::load(dir.path(), &Device::Cpu).unwrap();
    assert!(from_vocab.tokenizer().path().ends_with("vocab.txt"));
    assert_case_passes(&from_vocab);
    let from_json = MengziModel::load(&case_dir(), &Device::Cpu).unwrap();
    for text in [
        "他说：“好！”😀 𠀀",
        "Keye-VL 是一个多模态语言模型。",
        "ＡＢＣ全角，和\u{3000}空格\t制表",
    ] {
        assert_eq!(
            from_vocab.tokenizer().encode(text).unwrap(),
            from_json.tokenizer().encode(text).unwrap(),
            "{text}"
        );
    }
}

/// The error's message, which must name `file`.
fn load_error(dir: &Path, file: &str) -> String {
    let error = MengziModel::load(dir, &Device::Cpu).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains(&dir.join(file).display().to_string()),
        "{message}"
    );
    message
}

#[test]
fn a_t5_config_is_refused_naming_config_json() {
    let dir = folder_without_weights(&MODEL_FILES);
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"architectures": ["T5ForConditionalGeneration"], "model_type": "t5", "d_model": 768}"#,
    )
    .unwrap();
    let message = load_error(dir.path(), "config.json");
    assert!(
        message.contains("not a BERT masked language model"),
        "{message}"
    );
    assert!(message.contains("t5"), "{message}");
}

#[test]
fn weights_without_an_mlm_head_are_refused_naming_the_file() {
    let dir = folder_without_weights(&MODEL_FILES);
    let heads: Vec<String> = golden_entries()
        .into_iter()
        .map(|(name, _, _)| name)
        .filter(|name| name.starts_with("cls."))
        .collect();
    let heads: Vec<&str> = heads.iter().map(String::as_str).collect();
    write_bin(dir.path(), Storage::Float, &heads);
    let message = load_error(dir.path(), "pytorch_model.bin");
    assert!(
        message.contains("no masked-language-model head"),
        "{message}"
    );
}

#[test]
fn truncated_weight_files_are_refused_naming_the_file() {
    // safetensors cut in the middle of the data.
    let dir = folder_without_weights(&MODEL_FILES);
    let bytes = std::fs::read(case_dir().join("model.safetensors")).unwrap();
    std::fs::write(
        dir.path().join("model.safetensors"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    let message = load_error(dir.path(), "model.safetensors");
    assert!(message.contains("truncated or corrupt"), "{message}");

    // A torch zip cut anywhere: the central directory at its end is gone.
    let dir = folder_without_weights(&MODEL_FILES);
    let path = write_bin(dir.path(), Storage::Float, &[]);
    let bytes = std::fs::read(&path).unwrap();
    for cut in [bytes.len() - 10, bytes.len() / 2, 100] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let message = load_error(dir.path(), "pytorch_model.bin");
        assert!(message.contains("truncated or corrupt"), "{cut}: {message}");
    }

    // Not a zip at all (the pre-1.6 format, or any other file).
    std::fs::write(&path, b"\x80\x02}q\x00.").unwrap();
    let message = load_error(dir.path(), "pytorch_model.bin");
    assert!(message.contains("not a zip archive"), "{message}");
}

#[test]
fn a_config_that_does_not_fit_the_weights_is_refused_naming_the_weights() {
    let dir = folder_without_weights(&MODEL_FILES);
    let config = std::fs::read_to_string(case_dir().join("config.json")).unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        config.replace("\"intermediate_size\": 128", "\"intermediate_size\": 64"),
    )
    .unwrap();
    write_bin(dir.path(), Storage::Float, &[]);
    let message = load_error(dir.path(), "pytorch_model.bin");
    assert!(message.contains("intermediate.dense.weight"), "{message}");
    assert!(message.contains("[128, 32]"), "{message}");
}

#[test]
fn missing_files_are_named() {
    let dir = folder_without_weights(&MODEL_FILES);
    let error = MengziModel::load(dir.path(), &Device::Cpu).unwrap_err();
    assert!(matches!(error, Error::NoBertWeights { .. }), "{error}");
    assert!(error.to_string().contains("pytorch_model.bin"));

    let dir = folder_without_weights(&["config.json"]);
    std::fs::copy(
        case_dir().join("model.safetensors"),
        dir.path().join("model.safetensors"),
    )
    .unwrap();
    load_error(dir.path(), "tokenizer.json");
}

/// The probability of `text`'s character at char offset `at`, masked, computed directly.
fn masked_probability(model: &MengziModel, text: &str, at: usize) -> f32 {
    let encoded = model.tokenizer().encode(text).unwrap();
    let token = encoded
        .offsets
        .iter()
        .position(|&(s, e)| s == at && e == at + 1)
        .unwrap();
    let written = encoded.ids[token];
    let mut ids = encoded.ids.clone();
    ids[token] = model.tokenizer().special().mask;
    let batch = model
        .batch(&[keye_model::mengzi::Encoded {
            type_ids: vec![0; ids.len()],
            offsets: encoded.offsets.clone(),
            special: encoded.special.clone(),
            ids,
        }])
        .unwrap();
    let hidden = model.hidden_states(&batch).unwrap();
    let logits = model
        .mlm_logits(&hidden.i((0, token..token + 1)).unwrap())
        .unwrap();
    let p: Vec<f32> = softmax_last_dim(&logits)
        .unwrap()
        .squeeze(0)
        .unwrap()
        .to_vec1()
        .unwrap();
    p[written as usize]
}

#[test]
fn every_chinese_character_is_scored_at_its_own_offset_in_mixed_text() {
    let model = MengziModel::load(&case_dir(), &Device::Cpu).unwrap();
    // Latin words, an emoji (outside the BMP), full-width punctuation and letters, a CJK
    // extension-B character the vocabulary lacks, and a line break between two sentences.
    let text = "Keye-VL说：“好！”😀 我们去公园散步，ＡＢ看电影𠀀\n他在桌子上睡觉";
    let scores = model
        .score_characters(text, &CheckOptions::default())
        .unwrap();
    let chars: Vec<char> = text.chars().collect();
    let expected: Vec<usize> = chars
        .iter()
        .enumerate()
        .filter(|(_, c)| keye_model::mengzi::check::is_chinese_char(**c))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        scores.iter().map(|s| s.char_offset).collect::<Vec<_>>(),
        expected
    );
    for score in &scores {
        assert_eq!(chars[score.char_offset], score.character);
        assert_eq!(
            text[score.byte_offset..].chars().next(),
            Some(score.character)
        );
        assert!(score.suggestions.len() <= 3);
        assert!(
            score
                .suggestions
                .iter()
                .all(|s| s.character != score.character)
        );
        assert!(
            score
                .suggestions
                .windows(2)
                .all(|w| w[0].probability >= w[1].probability)
        );
    }
    let unknown = scores.iter().find(|s| s.character == '𠀀').unwrap();
    assert!(!unknown.known && unknown.is_suspect(f32::INFINITY));
    assert!(
        scores
            .iter()
            .filter(|s| s.character != '𠀀')
            .all(|s| s.known)
    );

    // A short sentence fits the context whole, so each score is the plain masked probability of
    // the character in its sentence.
    let sentence = "他在桌子上睡觉";
    let alone = model
        .score_characters(sentence, &CheckOptions::default())
        .unwrap();
    for score in &alone {
        let direct = masked_probability(&model, sentence, score.char_offset);
        assert!(
            (score.probability - direct).abs() < 1e-6,
            "{}: {} vs {direct}",
            score.character,
            score.probability
        );
    }
    // ... and the sentence after the line break is scored on its own, as if alone.
    let tail = &scores[scores.len() - alone.len()..];
    for (in_text, alone) in tail.iter().zip(&alone) {
        assert_eq!(in_text.character, alone.character);
        assert!((in_text.probability - alone.probability).abs() < 1e-6);
    }
}

#[test]
fn batching_does_not_change_the_scores() {
    let model = MengziModel::load(&case_dir(), &Device::Cpu).unwrap();
    let text = "今天天气很好，我们去公园散步。这个视频里有一只猫。";
    let one_by_one = CheckOptions {
        batch: 1,
        ..CheckOptions::default()
    };
    let a = model.score_characters(text, &one_by_one).unwrap();
    let b = model
        .score_characters(text, &CheckOptions::default())
        .unwrap();
    assert_eq!(a.len(), b.len());
    for (a, b) in a.iter().zip(&b) {
        assert_eq!(a.char_offset, b.char_offset);
        assert!((a.probability - b.probability).abs() < 1e-5);
    }
}

#[test]
fn embeddings_are_unit_length_mean_pooled_hidden_states() {
    let model = MengziModel::load(&case_dir(), &Device::Cpu).unwrap();
    let texts = ["今天天气很好，我们去公园散步。", "猫在睡觉"];
    let embeddings = model.embed(&texts).unwrap();
    let expected =
        candle_core::safetensors::load(case_dir().join("outputs.safetensors"), &Device::Cpu)
            .unwrap()
            .remove("mean_pooled")
            .unwrap()
            .i(0)
            .unwrap();
    let norm = expected.sqr().unwrap().sum_all().unwrap().sqrt().unwrap();
    let expected: Vec<f32> = expected.broadcast_div(&norm).unwrap().to_vec1().unwrap();
    assert!(max_abs_diff(&embeddings[0], &expected) < 1e-5);
    let length: f32 = embeddings[1].iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((length - 1.0).abs() < 1e-5);
}

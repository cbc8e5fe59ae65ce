//! Checkpoint loading on temp copies of the tiny Preview checkpoint: sharded loading, dtypes,
//! progress and cancel, and the errors for a missing shard, a truncated file, a missing tensor,
//! a wrong shape and an unknown model type, each naming the file and tensor.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use candle_core::{DType, Device, Tensor};
use keye_model::{
    Error, KeyeModel, LoadOptions, LoadProgress,
    golden::{GoldenCase, max_abs_diff},
    keye::{DecodeState, KeyeInputs},
};

fn tiny_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/models/keye-preview-tiny"
    ))
}

/// A writable copy of the tiny checkpoint folder.
fn copy_tiny() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(tiny_dir()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, tmp.path().join(path.file_name().unwrap())).unwrap();
    }
    tmp
}

fn weights(dir: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap()
}

fn load(dir: &Path) -> Result<KeyeModel, Error> {
    KeyeModel::load(dir, LoadOptions::default())
}

/// Final hidden states of a short text prompt.
fn text_hidden(model: &KeyeModel) -> Vec<f32> {
    let inputs = KeyeInputs {
        input_ids: vec![1001, 687, 198, 623, 482],
        images: None,
        videos: None,
        encoded_videos: None,
    };
    let mut state = DecodeState {
        cache: Default::default(),
        rope_delta: 0,
    };
    let out = model.forward(&inputs, &mut state).unwrap();
    out.hidden
        .to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

#[test]
fn two_shards_with_an_index_load_like_the_single_file() {
    let tmp = copy_tiny();
    let all = weights(tmp.path());
    let (mut first, mut second) = (HashMap::new(), HashMap::new());
    let mut weight_map = serde_json::Map::new();
    for (i, (name, tensor)) in all.iter().enumerate() {
        let (shard, file) = if i % 2 == 0 {
            (&mut first, "model-00001-of-00002.safetensors")
        } else {
            (&mut second, "model-00002-of-00002.safetensors")
        };
        shard.insert(name.clone(), tensor.clone());
        weight_map.insert(name.clone(), file.into());
    }
    candle_core::safetensors::save(&first, tmp.path().join("model-00001-of-00002.safetensors"))
        .unwrap();
    candle_core::safetensors::save(&second, tmp.path().join("model-00002-of-00002.safetensors"))
        .unwrap();
    std::fs::remove_file(tmp.path().join("model.safetensors")).unwrap();
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": weight_map});
    std::fs::write(
        tmp.path().join("model.safetensors.index.json"),
        index.to_string(),
    )
    .unwrap();

    let sharded = load(tmp.path()).unwrap();
    let single = load(&tiny_dir()).unwrap();
    assert_eq!(text_hidden(&sharded), text_hidden(&single));

    // A shard the index names but the folder lacks.
    std::fs::remove_file(tmp.path().join("model-00002-of-00002.safetensors")).unwrap();
    let err = load(tmp.path()).unwrap_err();
    assert!(matches!(err, Error::MissingShard { .. }), "{err}");
    assert!(
        err.to_string().contains("model-00002-of-00002.safetensors"),
        "{err}"
    );
}

#[test]
fn truncated_file_is_reported_with_its_path() {
    let tmp = copy_tiny();
    let path = tmp.path().join("model.safetensors");
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 100)
        .unwrap();
    let err = load(tmp.path()).unwrap_err();
    assert!(matches!(err, Error::CorruptSafetensors { .. }), "{err}");
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}

#[test]
fn wrong_shape_and_missing_tensor_name_the_tensor() {
    let tmp = copy_tiny();
    let mut all = weights(tmp.path());
    let name = "model.layers.1.self_attn.k_proj.weight";
    all.insert(
        name.into(),
        Tensor::zeros((16, 64), DType::F32, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&all, tmp.path().join("model.safetensors")).unwrap();
    let err = load(tmp.path()).unwrap_err();
    assert!(matches!(err, Error::WrongShape { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(name) && text.contains("model.safetensors") && text.contains("[32, 64]"),
        "{text}"
    );

    all.remove(name);
    candle_core::safetensors::save(&all, tmp.path().join("model.safetensors")).unwrap();
    let err = load(tmp.path()).unwrap_err();
    assert!(matches!(err, Error::MissingTensor { .. }), "{err}");
    assert!(err.to_string().contains(name), "{err}");
}

#[test]
fn integer_weights_are_a_dtype_error() {
    let tmp = copy_tiny();
    let mut all = weights(tmp.path());
    let name = "model.norm.weight";
    all.insert(
        name.into(),
        Tensor::zeros(64, DType::I64, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&all, tmp.path().join("model.safetensors")).unwrap();
    let err = load(tmp.path()).unwrap_err();
    assert!(matches!(err, Error::WrongDtype { .. }), "{err}");
    assert!(err.to_string().contains(name), "{err}");
}

#[test]
fn unknown_model_type_is_refused_with_the_config_path() {
    let tmp = copy_tiny();
    let path = tmp.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["model_type"] = "llama".into();
    config["architectures"] = serde_json::json!(["LlamaForCausalLM"]);
    std::fs::write(&path, config.to_string()).unwrap();
    let err = load(tmp.path()).unwrap_err();
    assert!(matches!(err, Error::UnknownModelType { .. }), "{err}");
    assert!(
        err.to_string().contains("config.json") && err.to_string().contains("llama"),
        "{err}"
    );
}

#[test]
fn progress_is_reported_and_cancel_stops_loading() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let options = LoadOptions {
        progress: Some(Box::new(move |p| sink.lock().unwrap().push(p))),
        ..LoadOptions::default()
    };
    KeyeModel::load(&tiny_dir(), options).unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.first(),
        Some(&LoadProgress::CheckedShard { done: 1, total: 1 })
    );
    // 79 stored tensors minus the 11 unused head.* ones.
    assert_eq!(
        seen.last(),
        Some(&LoadProgress::LoadedTensor {
            done: 68,
            total: 68
        })
    );

    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let options = LoadOptions {
        progress: Some(Box::new(move |p| {
            if p == (LoadProgress::LoadedTensor {
                done: 10,
                total: 68,
            }) {
                flag.store(true, Ordering::Relaxed);
            }
        })),
        cancel: Some(cancel),
        ..LoadOptions::default()
    };
    let err = KeyeModel::load(&tiny_dir(), options).unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
}

#[test]
fn half_precision_loads_stays_close_to_f32_and_decodes_the_reference_tokens() {
    let f32_hidden = text_hidden(&load(&tiny_dir()).unwrap());
    let peak = f32_hidden.iter().fold(0f32, |m, v| m.max(v.abs()));
    let case = GoldenCase::open(&tiny_dir().join("../../keye-preview-image")).unwrap();
    // Unit roundoff: f16 keeps 11 significant bits, bf16 8.
    for (dtype, roundoff) in [(DType::F16, 2f32.powi(-11)), (DType::BF16, 2f32.powi(-8))] {
        let options = LoadOptions {
            dtype,
            ..LoadOptions::default()
        };
        let model = KeyeModel::load(&tiny_dir(), options).unwrap();
        assert_eq!(model.dtype(), dtype);
        // Rounding every activation and weight to `dtype` moves the final hidden states by a few
        // roundoffs of the largest activation (measured: f16 0.0038 = 2.7 roundoffs, bf16 0.037 =
        // 3.3, of a peak of 2.93); 8 roundoffs leave room for other CPUs and still catch an op
        // left in the wrong precision, which costs O(1).
        let tolerance = f64::from(8.0 * roundoff * peak);
        let diff = max_abs_diff(&text_hidden(&model), &f32_hidden);
        assert!(
            diff <= tolerance,
            "{dtype:?}: max diff {diff} > {tolerance}"
        );

        // Greedy decoding in half precision keeps the reference's tokens on the golden image case.
        let options = LoadOptions {
            dtype,
            ..LoadOptions::default()
        };
        let report = case.run(options).unwrap();
        let ids = report
            .checks
            .iter()
            .find(|c| c.name == "generated_ids")
            .expect("the case stores its greedy tokens");
        assert_eq!(ids.expected_shape, [8]);
        assert_eq!(
            ids.max_abs_diff,
            Some(0.0),
            "{dtype:?}: greedy tokens differ"
        );
    }
}

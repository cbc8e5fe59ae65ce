//! Quantized checkpoints: quantizing at load and saving a GGUF give the same model (identical
//! logits after a reload), q8_0 stays close to f32 on the golden prompts, and a damaged GGUF is
//! refused naming the file.

use std::path::{Path, PathBuf};

use keye_model::{
    DType, Device, LoadOptions, Runtime,
    gguf::{GgufCheckpoint, GgufWriter, TensorEntry, file_name, quantize_checkpoint},
    keye::{KeyeInputs, VisionBatch},
    quality::compare,
    quantize::{QuantKind, QuantizeSpec},
};

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures"))
}

/// A copy of a tiny checkpoint in a temporary folder (so files can be written beside it).
fn copy_model(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixtures().join("models").join(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

fn q8() -> QuantizeSpec {
    QuantizeSpec {
        kind: QuantKind::Q8_0,
        vision: false,
    }
}

fn load(path: &Path, quantize: QuantizeSpec) -> Runtime {
    Runtime::load(
        path,
        LoadOptions {
            quantize,
            ..LoadOptions::default()
        },
    )
    .unwrap()
}

/// The golden image case's prompt, as the reference processor made it (ids and pixels).
fn golden_image_prompt() -> KeyeInputs {
    let inputs = candle_core::safetensors::load(
        fixtures().join("keye-preview-image/inputs.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    let ids: Vec<u32> = inputs["input_ids"]
        .flatten_all()
        .unwrap()
        .to_dtype(DType::U32)
        .unwrap()
        .to_vec1()
        .unwrap();
    KeyeInputs {
        input_ids: ids,
        images: Some(VisionBatch::images(
            inputs["pixel_values"].clone(),
            vec![[1, 8, 10]],
        )),
        videos: None,
        encoded_videos: None,
    }
}

fn logits(runtime: &Runtime, inputs: &KeyeInputs) -> Vec<f32> {
    let out = runtime
        .model
        .forward(inputs, &mut Default::default())
        .unwrap();
    let s = inputs.input_ids.len();
    runtime
        .model
        .logits(&out.hidden.narrow(1, s - 1, 1).unwrap())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

#[test]
fn a_saved_quantized_checkpoint_reloads_to_identical_logits() {
    let dir = copy_model("keye-preview-tiny");
    for spec in [
        q8(),
        QuantizeSpec {
            kind: QuantKind::Q8_0,
            vision: true,
        },
    ] {
        let in_memory = load(dir.path(), spec);
        assert_eq!(in_memory.quantization, spec);
        assert!(in_memory.gguf.is_none());
        let written =
            quantize_checkpoint(dir.path(), &spec, None, &mut LoadOptions::default()).unwrap();
        assert_eq!(written, dir.path().join(file_name(&spec)));

        // The folder with the same --quantize now loads the GGUF, as does the file itself.
        for path in [dir.path(), written.as_path()] {
            let reloaded = load(path, spec);
            assert_eq!(reloaded.gguf.as_deref(), Some(written.as_path()));
            assert_eq!(reloaded.quantization, spec);
            assert_eq!(reloaded.parameters, in_memory.parameters);
            assert_eq!(reloaded.weights_bytes, in_memory.weights_bytes);
            let prompt = golden_image_prompt();
            assert_eq!(logits(&reloaded, &prompt), logits(&in_memory, &prompt));
        }
        // Quantized weights are smaller than f32 ones.
        assert!(in_memory.weights_bytes < load(dir.path(), QuantizeSpec::default()).weights_bytes);
    }
}

#[test]
fn q8_0_agrees_with_f32_on_the_top_token_of_the_golden_prompt() {
    let dir = fixtures().join("models/keye-preview-tiny");
    let reference = load(&dir, QuantizeSpec::default());
    let quantized = load(&dir, q8());
    let report = compare(
        &reference.model,
        &quantized.model,
        &[("golden image".into(), golden_image_prompt())],
        16,
    )
    .unwrap();
    // Measured: 0.81 top-1 agreement and 7.4e-4 nats mean KL over these 16 steps (the tiny
    // random model's distributions are nearly flat, so near-ties flip easily). A broken
    // quantization (wrong block order, wrong scale) falls to chance (about 1/1024) and a KL of
    // whole nats.
    assert!(report.top1_agreement >= 0.6, "{report:?}");
    assert!(report.mean_kl < 1e-2, "{report:?}");
    assert!(report.mean_kl > 0.0, "q8_0 must not be exact: {report:?}");
}

/// Rewrites the GGUF at `from` into `to` with `config` in place of its embedded config.json.
fn rewrite_with_config(from: &Path, to: &Path, config: &serde_json::Value) {
    let gguf = GgufCheckpoint::open(from).unwrap();
    let files: Vec<(String, String)> = gguf
        .files
        .iter()
        .map(|(name, text)| {
            let text = if name == "config.json" {
                serde_json::to_string(config).unwrap()
            } else {
                text.clone()
            };
            (name.clone(), text)
        })
        .collect();
    let shapes = gguf.tensor_shapes();
    let mut names: Vec<&str> = shapes.keys().copied().collect();
    names.sort();
    let mut data = Vec::new();
    let mut entries = Vec::new();
    for name in names {
        let (format, bytes) = if gguf.is_quantized(name) {
            let q = gguf.quantized(name, &Device::Cpu).unwrap();
            (q.dtype(), q.data().unwrap().into_owned())
        } else {
            let dense = gguf.dense(name, &Device::Cpu, DType::F32).unwrap();
            let values: Vec<f32> = dense.flatten_all().unwrap().to_vec1().unwrap();
            (
                candle_core::quantized::GgmlDType::F32,
                values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        };
        entries.push(TensorEntry {
            name: name.to_string(),
            shape: shapes[name].clone(),
            format,
        });
        data.push((name.to_string(), bytes));
    }
    let mut writer = GgufWriter::create(to, &files, &gguf.spec, entries).unwrap();
    for (name, bytes) in data {
        writer.write_tensor(&name, &bytes).unwrap();
    }
    writer.finish().unwrap();
}

#[test]
fn a_damaged_gguf_is_refused_naming_the_file() {
    let dir = copy_model("keye-preview-tiny");
    let written =
        quantize_checkpoint(dir.path(), &q8(), None, &mut LoadOptions::default()).unwrap();
    let bytes = std::fs::read(&written).unwrap();
    let broken = dir.path().join("broken.gguf");

    // Truncated: the last tensor's data is cut.
    std::fs::write(&broken, &bytes[..bytes.len() - 100]).unwrap();
    let error = Runtime::load(&broken, LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(error.contains("broken.gguf"), "{error}");
    assert!(error.contains("truncated"), "{error}");

    // Not a GGUF at all.
    std::fs::write(&broken, b"GGUF but not really").unwrap();
    let error = Runtime::load(&broken, LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("broken.gguf") && error.contains("not a readable GGUF"),
        "{error}"
    );

    // Tensors that do not fit the config inside: a wider feed-forward than the file holds.
    let gguf = GgufCheckpoint::open(&written).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&gguf.files["config.json"]).unwrap();
    let wider = config["intermediate_size"].as_u64().unwrap() * 2;
    config["intermediate_size"] = wider.into();
    rewrite_with_config(&written, &broken, &config);
    let error = Runtime::load(&broken, LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(error.contains("broken.gguf"), "{error}");
    assert!(
        error.contains("model.layers.0.mlp.gate_proj.weight has shape"),
        "{error}"
    );

    // And the untouched rewrite loads: the check is about the shapes, not the rewriting.
    let config: serde_json::Value = serde_json::from_str(&gguf.files["config.json"]).unwrap();
    rewrite_with_config(&written, &broken, &config);
    Runtime::load(&broken, LoadOptions::default()).unwrap();
}

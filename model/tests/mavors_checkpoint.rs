//! A checkpoint that carries its own trained Mavors encoder is run with those weights: the loader
//! must not re-initialise the IVE from the Keye tower when `mavors.ive.*` is present.

use std::{collections::HashMap, path::Path};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use keye_model::{
    KeyeConfig, LoadOptions, Runtime,
    mavors::{Mavors, MavorsConfig, MavorsWeights},
};

fn tiny_model() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/models/keye-1.5-tiny")
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    let diff: Vec<f32> = (a - b).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    diff.iter().map(|d| d.abs()).fold(0.0, |m, d| {
        if d.is_finite() && m.is_finite() {
            m.max(d)
        } else {
            f32::NAN
        }
    })
}

#[test]
fn a_checkpoint_with_its_own_trained_ive_is_run_with_it() {
    let dir = tempfile::tempdir().unwrap();
    for file in [
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "preprocessor_config.json",
    ] {
        std::fs::copy(tiny_model().join(file), dir.path().join(file)).unwrap();
    }
    let mavors = MavorsConfig {
        chunk_frames: 2,
        ..MavorsConfig::default()
    };
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tiny_model().join("config.json")).unwrap())
            .unwrap();
    config["mavors_config"] = serde_json::to_value(&mavors).unwrap();
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    let keye = KeyeConfig::from_file(&dir.path().join("config.json")).unwrap();

    // Weights initialised from the tower, then "trained": every IVE tensor moved away from it.
    let base =
        candle_core::safetensors::load(dir.path().join("model.safetensors"), &Device::Cpu).unwrap();
    let names: Vec<String> = base.keys().cloned().collect();
    let vb = VarBuilder::from_tensors(base, DType::F32, &Device::Cpu);
    let initial =
        MavorsWeights::from_keye(&vb, &mavors, &keye.vision, keye.text.hidden_size).unwrap();
    let trained: HashMap<String, Tensor> = initial
        .tensors()
        .iter()
        .map(|(name, t)| {
            let t = if name.starts_with("mavors.ive.") {
                t.affine(1.5, 0.01).unwrap()
            } else {
                t.clone()
            };
            (name.clone(), t)
        })
        .collect();
    candle_core::safetensors::save(&trained, dir.path().join("mavors.safetensors")).unwrap();
    let mut weight_map: HashMap<String, &str> = names
        .into_iter()
        .map(|n| (n, "model.safetensors"))
        .collect();
    weight_map.extend(trained.keys().map(|n| (n.clone(), "mavors.safetensors")));
    let index = serde_json::json!({"metadata": {}, "weight_map": weight_map});
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        index.to_string(),
    )
    .unwrap();

    let runtime = Runtime::load(dir.path(), LoadOptions::default()).unwrap();
    let loaded = runtime.mavors.as_ref().expect("a Mavors encoder");
    let build = |tensors: HashMap<String, Tensor>| {
        Mavors::new(
            &mavors,
            &keye.vision,
            keye.text.hidden_size,
            VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu),
        )
        .unwrap()
    };
    let patches = Tensor::rand(-1f32, 1.0, (2 * 2 * 2 * 2, 3, 14, 14), &Device::Cpu).unwrap();
    let run = |m: &Mavors| m.encode_video(&patches, &[0, 1], 2, 2).unwrap().tokens;
    let ours = run(loaded);
    assert_eq!(max_diff(&ours, &run(&build(trained))), 0.0);
    assert!(max_diff(&ours, &run(&build(initial.tensors().clone()))) > 1e-3);
}

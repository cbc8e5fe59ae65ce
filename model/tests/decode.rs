//! Prefill and decoding with the KV cache: a prompt fed in two chunks (the image in the second)
//! gives the same positions and logits as one prefill, and decode steps continue it.

use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use keye_model::{
    KeyeModel, LoadOptions,
    golden::max_abs_diff,
    keye::{DecodeState, KeyeInputs, VisionBatch},
};

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures"))
}

fn last_logits(model: &KeyeModel, hidden: &Tensor) -> Vec<f32> {
    let s = hidden.dim(1).unwrap();
    let logits = model.logits(&hidden.narrow(1, s - 1, 1).unwrap()).unwrap();
    logits.flatten_all().unwrap().to_vec1().unwrap()
}

#[test]
fn chunked_prefill_matches_one_prefill_and_decoding_continues_it() {
    let model = KeyeModel::load(
        &fixtures().join("models/keye-preview-tiny"),
        LoadOptions::default(),
    )
    .unwrap();
    let case = candle_core::safetensors::load(
        fixtures().join("keye-preview-image/inputs.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    let ids: Vec<u32> = case["input_ids"]
        .flatten_all()
        .unwrap()
        .to_dtype(DType::U32)
        .unwrap()
        .to_vec1()
        .unwrap();
    let image = VisionBatch::images(case["pixel_values"].clone(), vec![[1, 8, 10]]);
    let fresh = || DecodeState {
        cache: Default::default(),
        rope_delta: 0,
    };

    let mut whole = fresh();
    let one = model
        .forward(
            &KeyeInputs {
                input_ids: ids.clone(),
                images: Some(image.clone()),
                videos: None,
                encoded_videos: None,
            },
            &mut whole,
        )
        .unwrap();

    // The first 10 tokens are text; the image block starts later, in the second chunk.
    let mut chunked = fresh();
    model
        .forward(
            &KeyeInputs {
                input_ids: ids[..10].to_vec(),
                images: None,
                videos: None,
                encoded_videos: None,
            },
            &mut chunked,
        )
        .unwrap();
    let two = model
        .forward(
            &KeyeInputs {
                input_ids: ids[10..].to_vec(),
                images: Some(image),
                videos: None,
                encoded_videos: None,
            },
            &mut chunked,
        )
        .unwrap();
    assert_eq!(chunked.rope_delta, whole.rope_delta);
    assert_eq!(chunked.cache.seq_len(), ids.len());
    let diff = max_abs_diff(
        &last_logits(&model, &one.hidden),
        &last_logits(&model, &two.hidden),
    );
    assert!(diff < 1e-4, "prefill logits differ by {diff}");

    // One decode step from either state gives the same logits.
    let a = model
        .decode_step(198, &mut whole)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let b = model
        .decode_step(198, &mut chunked)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let diff = max_abs_diff(&a, &b);
    assert!(diff < 1e-4, "decode step logits differ by {diff}");
    assert_eq!(whole.cache.seq_len(), ids.len() + 1);
}

//! The vision tower's own attention on one frame (for researchers): the inspected forward leaves the
//! tower's output unchanged, every query row is a distribution over the frame's patches, and layer
//! 0's weights equal an explicit computation from the checkpoint's tensors done here.

use std::path::PathBuf;

use candle_core::{D, DType, Device, Tensor};
use keye_model::{
    KeyeModel, LoadOptions,
    keye::VisionBatch,
    preprocess::{ImageProcessorConfig, preprocess_image},
};

fn model_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/models/keye-1.5-tiny"
    ))
}

fn frame(model: &KeyeModel) -> (Tensor, [usize; 3]) {
    let processor =
        ImageProcessorConfig::from_file(&model_dir().join("preprocessor_config.json")).unwrap();
    let image = image::open(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/keye-preview-image/image.png"
    ))
    .unwrap()
    .to_rgb8();
    let patches = preprocess_image(&image, &processor).unwrap();
    let p = model.config().vision.patch_size;
    let n = patches.num_patches();
    let pixels = Tensor::from_vec(patches.pixel_values, (n, 3, p, p), &Device::Cpu).unwrap();
    (pixels, patches.grid_thw)
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

#[test]
fn inspecting_keeps_the_output_and_rows_are_distributions() {
    let model = KeyeModel::load(&model_dir(), LoadOptions::default()).unwrap();
    let (pixels, grid) = frame(&model);
    let last = model.config().vision.num_hidden_layers - 1;
    let maps = model.vision_attention(&pixels, grid, &[last, 0]).unwrap();
    let plain = model
        .encode_vision(&VisionBatch::images(pixels.clone(), vec![grid]))
        .unwrap();
    let diff = max_abs_diff(&maps.output.last_hidden, &plain.vit.last_hidden);
    assert_eq!(diff, 0.0, "inspection must not change the tower's output");

    let n = grid[1] * grid[2];
    let heads = model.config().vision.num_attention_heads;
    assert_eq!(
        maps.layers.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
        [last, 0]
    );
    for (_, probs) in &maps.layers {
        assert_eq!(probs.dims(), [heads, n, n]);
        let sums = probs.sum(D::Minus1).unwrap().flatten_all().unwrap();
        for s in sums.to_vec1::<f32>().unwrap() {
            assert!((s - 1.0).abs() < 1e-5, "row sum {s}");
        }
    }
    let map = maps.map_for_patch(0, 1, 2, None).unwrap();
    assert_eq!(map.len(), n);
    assert!((map.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    let head0 = maps.map_for_patch(0, 1, 2, Some(0)).unwrap();
    assert_ne!(
        map, head0,
        "the head mean differs from one head on random weights"
    );
    assert!(maps.map_for_patch(0, grid[1], 0, None).is_err());
    assert!(
        maps.map_for_patch(last + 1, 0, 0, None).is_err(),
        "not inspected"
    );
}

#[test]
fn layer_zero_weights_equal_an_explicit_computation() {
    let dir = model_dir();
    let model = KeyeModel::load(&dir, LoadOptions::default()).unwrap();
    let (pixels, grid) = frame(&model);
    let maps = model.vision_attention(&pixels, grid, &[0]).unwrap();
    let cfg = &model.config().vision;
    let (h, w) = (grid[1], grid[2]);
    let n = h * w;
    let heads = cfg.num_attention_heads;
    let head_dim = cfg.hidden_size / heads;

    let weights =
        candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap();
    let get = |name: &str| {
        weights[&format!("visual.vision_model.encoder.layers.0.{name}")]
            .to_dtype(DType::F32)
            .unwrap()
    };
    // LayerNorm of the embeddings (the tower's layer-0 input).
    let x = maps.output.embeddings.clone();
    let mean = x.mean_keepdim(D::Minus1).unwrap();
    let centered = x.broadcast_sub(&mean).unwrap();
    let var = centered.sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
    let normed = centered
        .broadcast_div(&(var + cfg.layer_norm_eps).unwrap().sqrt().unwrap())
        .unwrap()
        .broadcast_mul(&get("layer_norm1.weight"))
        .unwrap()
        .broadcast_add(&get("layer_norm1.bias"))
        .unwrap();
    let project = |name: &str| {
        normed
            .matmul(&get(&format!("self_attn.{name}.weight")).t().unwrap())
            .unwrap()
            .broadcast_add(&get(&format!("self_attn.{name}.bias")))
            .unwrap()
            .reshape((n, heads, head_dim))
            .unwrap()
            .transpose(0, 1)
            .unwrap()
            .contiguous()
            .unwrap()
    };
    // 2-D rotary: the first half of the frequencies turn with the row, the second with the column,
    // applied as rotate-half over the head dimension.
    let rope_dim = head_dim / 2;
    let inv_freq: Vec<f32> = (0..rope_dim / 2)
        .map(|i| 1.0 / (cfg.rope_theta as f32).powf((2 * i) as f32 / rope_dim as f32))
        .collect();
    let mut angles = Vec::with_capacity(n * rope_dim);
    for idx in 0..n {
        let (row, col) = ((idx / w) as f32, (idx % w) as f32);
        angles.extend(inv_freq.iter().map(|f| row * f));
        angles.extend(inv_freq.iter().map(|f| col * f));
    }
    let angles = Tensor::from_vec(angles, (n, rope_dim), &Device::Cpu).unwrap();
    let angles = Tensor::cat(&[&angles, &angles], 1).unwrap();
    let (cos, sin) = (angles.cos().unwrap(), angles.sin().unwrap());
    let rotate = |t: &Tensor| {
        let half = head_dim / 2;
        let x1 = t.narrow(2, 0, half).unwrap();
        let x2 = t.narrow(2, half, half).unwrap();
        let rotated = Tensor::cat(&[&x2.neg().unwrap(), &x1], 2).unwrap();
        (t.broadcast_mul(&cos).unwrap() + rotated.broadcast_mul(&sin).unwrap()).unwrap()
    };
    let q = rotate(&project("q_proj"));
    let k = rotate(&project("k_proj"));
    let scores = (q.matmul(&k.t().unwrap()).unwrap() * (head_dim as f64).powf(-0.5)).unwrap();
    let expected = candle_nn::ops::softmax_last_dim(&scores).unwrap();
    let diff = max_abs_diff(&maps.layers[0].1, &expected);
    assert!(diff < 1e-5, "max |diff| {diff}");
}

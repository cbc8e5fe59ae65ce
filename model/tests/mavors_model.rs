//! Mavors encoder on a tiny random Keye-VL tower built in the test: the 3-D patch initialisation,
//! C-RoPE invariances, causality across chunks, images as chunks, and weight save/load.

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::{VarBuilder, VarMap};
use keye_model::config::VisionConfig;
use keye_model::keye::vision::VisionModel;
use keye_model::mavors::{ChunkRotary, InterChunkAggregator, Mavors, MavorsConfig, MavorsWeights};

const LLM_HIDDEN: usize = 24;
const F: usize = 4;

fn vision_config() -> VisionConfig {
    serde_json::from_value(serde_json::json!({
        "hidden_size": 32,
        "intermediate_size": 48,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "image_size": 56,
        "patch_size": 14,
    }))
    .unwrap()
}

fn mavors_config() -> MavorsConfig {
    MavorsConfig {
        chunk_frames: F,
        ifa_layers: 2,
        projector_hidden_size: Some(40),
        ..MavorsConfig::default()
    }
}

/// Overwrites every variable with random values, so no weight is a constant that hides a bug: norm
/// scales around 1, everything else normal with standard deviation `std`.
fn randomise(varmap: &VarMap, std: f32) {
    let data = varmap.data().lock().unwrap();
    for (name, var) in data.iter() {
        let noise = |std: f32| Tensor::randn(0f32, std, var.shape(), &Device::Cpu).unwrap();
        let values = if name.contains("norm") && name.ends_with("weight") {
            (noise(0.1) + 1.0).unwrap()
        } else {
            noise(std)
        };
        var.set(&values).unwrap();
    }
}

/// A tiny Keye-VL checkpoint holding only the vision tower (`visual.*`), random weights.
fn keye_checkpoint(vision: &VisionConfig) -> VarMap {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    VisionModel::new(vision, vb.pp("visual").into()).unwrap();
    // About the scale of trained SigLIP weights.
    randomise(&varmap, 0.05);
    varmap
}

fn keye_tower(varmap: &VarMap, vision: &VisionConfig) -> VisionModel {
    let vb = VarBuilder::from_varmap(varmap, DType::F32, &Device::Cpu);
    VisionModel::new(vision, vb.pp("visual").into()).unwrap()
}

fn mavors_from(weights: &MavorsWeights, vision: &VisionConfig) -> Mavors {
    let vb = weights.var_builder(DType::F32, &Device::Cpu);
    Mavors::new(&mavors_config(), vision, LLM_HIDDEN, vb).unwrap()
}

/// Normalised pixels of one frame, in [-1, 1] like Keye-VL's (x - 0.5) / 0.5 inputs.
fn frame_patches(cells: usize) -> Tensor {
    Tensor::rand(-1f32, 1.0, (cells, 3, 14, 14), &Device::Cpu).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

#[test]
fn static_chunk_reproduces_the_per_frame_patch_embedding_and_tower() {
    let vision = vision_config();
    let checkpoint = keye_checkpoint(&vision);
    let keye_vb = VarBuilder::from_varmap(&checkpoint, DType::F32, &Device::Cpu);
    let weights =
        MavorsWeights::from_keye(&keye_vb, &mavors_config(), &vision, LLM_HIDDEN).unwrap();
    let mavors = mavors_from(&weights, &vision);
    let tower = keye_tower(&checkpoint, &vision);

    // 3 x 5 patches: not the 4 x 4 learned grid (interpolated) and odd on both sides (pool padding).
    let (gh, gw) = (3, 5);
    let frame = frame_patches(gh * gw);
    let per_frame = tower.forward(&frame, &[[1, gh, gw]]).unwrap();
    let chunk = Tensor::cat(&vec![frame.clone(); F], 0).unwrap();
    let out = mavors.encode_video(&chunk, &[0], gh, gw).unwrap();

    let embedded = out.ive.embeddings.i(0).unwrap();
    let diff = max_diff(&embedded, &per_frame.embeddings);
    assert!(diff < 1e-5, "embedding differs by {diff}");
    // Same weights after the embedding, so the whole tower agrees too.
    let hidden = out.ive.hidden.i(0).unwrap();
    let diff = max_diff(&hidden, &per_frame.last_hidden);
    assert!(diff < 1e-5, "tower output differs by {diff}");

    // 2x2 average pooling with the odd last row and column repeated: 2 x 3 tokens.
    assert_eq!(out.ive.pooled.dims(), [1, 6, 32]);
    let cell = |r: usize, c: usize| per_frame.last_hidden.i(r * gw + c).unwrap();
    let mean = |cells: [(usize, usize); 4]| {
        let sum = cells
            .iter()
            .map(|&(r, c)| cell(r, c))
            .reduce(|a, b| (a + b).unwrap())
            .unwrap();
        (sum / 4.0).unwrap()
    };
    let pooled = out.ive.pooled.i(0).unwrap();
    assert!(
        max_diff(
            &pooled.i(0).unwrap(),
            &mean([(0, 0), (0, 1), (1, 0), (1, 1)])
        ) < 1e-5
    );
    assert!(
        max_diff(
            &pooled.i(2).unwrap(),
            &mean([(0, 4), (0, 4), (1, 4), (1, 4)])
        ) < 1e-5
    );
    assert!(
        max_diff(
            &pooled.i(5).unwrap(),
            &mean([(2, 4), (2, 4), (2, 4), (2, 4)])
        ) < 1e-5
    );
    assert_eq!(out.tokens.dims(), [6, LLM_HIDDEN]);
}

#[test]
fn moving_chunk_embeds_as_the_mean_of_its_frames() {
    let vision = vision_config();
    let checkpoint = keye_checkpoint(&vision);
    let keye_vb = VarBuilder::from_varmap(&checkpoint, DType::F32, &Device::Cpu);
    let weights =
        MavorsWeights::from_keye(&keye_vb, &mavors_config(), &vision, LLM_HIDDEN).unwrap();
    let mavors = mavors_from(&weights, &vision);
    let tower = keye_tower(&checkpoint, &vision);

    // Two chunks of distinct frames: each chunk's embedding is the average of its frames' 2-D
    // embeddings (the position embedding is added once, so it survives the average unchanged).
    let (gh, gw) = (2, 3);
    let frames: Vec<Tensor> = (0..2 * F).map(|_| frame_patches(gh * gw)).collect();
    let out = mavors
        .encode_video(&Tensor::cat(&frames, 0).unwrap(), &[0, 1], gh, gw)
        .unwrap();
    for chunk in 0..2 {
        let per_frame: Vec<Tensor> = frames[chunk * F..(chunk + 1) * F]
            .iter()
            .map(|frame| tower.forward(frame, &[[1, gh, gw]]).unwrap().embeddings)
            .collect();
        let mean = (Tensor::stack(&per_frame, 0).unwrap().sum(0).unwrap() / F as f64).unwrap();
        let embedded = out.ive.embeddings.i(chunk).unwrap();
        assert!(max_diff(&embedded, &mean) < 1e-5, "chunk {chunk}");
        assert!(max_diff(&embedded, &per_frame[0]) > 1e-2);
    }
}

#[test]
fn c_rope_rotates_by_chunk_index_difference_only() {
    let (head_dim, tokens) = (8, 3);
    let rotary = ChunkRotary::new(head_dim, 10_000.0).unwrap();
    let q = Tensor::randn(0f32, 1.0, (1, 1, 2 * tokens, head_dim), &Device::Cpu).unwrap();
    let k = Tensor::randn(0f32, 1.0, (1, 1, 2 * tokens, head_dim), &Device::Cpu).unwrap();
    let scores = |positions: &[u32]| {
        let (cos, sin) = rotary.cos_sin(positions, tokens, &Device::Cpu).unwrap();
        let q = candle_nn::rotary_emb::rope(&q, &cos, &sin).unwrap();
        let k = candle_nn::rotary_emb::rope(&k, &cos, &sin).unwrap();
        q.matmul(&k.t().unwrap())
            .unwrap()
            .squeeze(0)
            .unwrap()
            .squeeze(0)
            .unwrap()
    };
    let plain = q
        .matmul(&k.t().unwrap())
        .unwrap()
        .squeeze(0)
        .unwrap()
        .squeeze(0)
        .unwrap();
    let within = |s: &Tensor| {
        s.narrow(0, 0, tokens)
            .unwrap()
            .narrow(1, 0, tokens)
            .unwrap()
    };
    let across = |s: &Tensor| {
        s.narrow(0, tokens, tokens)
            .unwrap()
            .narrow(1, 0, tokens)
            .unwrap()
    };

    // Tokens of one chunk share a position: no relative rotation, wherever the chunk sits.
    for position in [0, 1, 7, 500] {
        assert!(max_diff(&within(&scores(&[position, position + 1])), &within(&plain)) < 1e-4);
    }
    // Across chunks only the difference of positions matters, and it does matter.
    let near = across(&scores(&[3, 5]));
    assert!(max_diff(&near, &across(&scores(&[40, 42]))) < 1e-4);
    assert!(max_diff(&near, &across(&plain)) > 1e-3);
    assert!(max_diff(&near, &across(&scores(&[3, 9]))) > 1e-3);
}

fn aggregator(vision: &VisionConfig) -> InterChunkAggregator {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let ifa = InterChunkAggregator::new(vision, 3, 10_000.0, vb).unwrap();
    // Variables are updated in place, so the layers see the random values; large ones make every
    // chunk's influence on the others plainly visible.
    randomise(&varmap, 0.3);
    ifa
}

#[test]
fn shifting_every_chunk_by_k_leaves_the_aggregator_output_unchanged() {
    let vision = vision_config();
    let ifa = aggregator(&vision);
    let chunks = Tensor::randn(0f32, 1.0, (3, 4, 32), &Device::Cpu).unwrap();
    let base = ifa.forward(&chunks, &[0, 1, 2]).unwrap();
    for k in [1, 9, 250] {
        let shifted = ifa.forward(&chunks, &[k, k + 1, k + 2]).unwrap();
        assert!(max_diff(&base, &shifted) < 1e-4, "shift {k}");
    }
    // Spacing (an accelerated video) is a different input.
    let spaced = ifa.forward(&chunks, &[0, 3, 6]).unwrap();
    assert!(max_diff(&base, &spaced) > 1e-3);
}

#[test]
fn changing_chunk_j_never_changes_earlier_chunks() {
    let vision = vision_config();
    let ifa = aggregator(&vision);
    let chunks = Tensor::randn(0f32, 1.0, (4, 3, 32), &Device::Cpu).unwrap();
    let positions = [0, 1, 2, 3];
    let base = ifa.forward(&chunks, &positions).unwrap();
    for j in 0..4 {
        let replacement = Tensor::randn(0f32, 1.0, (1, 3, 32), &Device::Cpu).unwrap();
        let mut parts: Vec<Tensor> = (0..4).map(|c| chunks.narrow(0, c, 1).unwrap()).collect();
        parts[j] = replacement;
        let changed = ifa
            .forward(&Tensor::cat(&parts, 0).unwrap(), &positions)
            .unwrap();
        for c in 0..4 {
            let diff = max_diff(&base.i(c).unwrap(), &changed.i(c).unwrap());
            if c < j {
                assert!(
                    diff < 1e-6,
                    "chunk {c} changed by {diff} when chunk {j} did"
                );
            } else {
                assert!(diff > 1e-3, "chunk {c} ignored a change of chunk {j}");
            }
        }
    }
}

#[test]
fn images_become_single_chunks_aggregated_independently() {
    let vision = vision_config();
    let checkpoint = keye_checkpoint(&vision);
    let keye_vb = VarBuilder::from_varmap(&checkpoint, DType::F32, &Device::Cpu);
    let weights =
        MavorsWeights::from_keye(&keye_vb, &mavors_config(), &vision, LLM_HIDDEN).unwrap();
    let mavors = mavors_from(&weights, &vision);

    let thumbnail = frame_patches(4 * 6);
    let slice = frame_patches(3 * 3);
    let tokens = mavors
        .encode_images(&[(thumbnail.clone(), 4, 6), (slice, 3, 3)])
        .unwrap();
    assert_eq!(tokens[0].dims(), [6, LLM_HIDDEN]);
    assert_eq!(tokens[1].dims(), [4, LLM_HIDDEN]);
    // Same as the image repeated across one chunk at position 0, alone.
    let chunk = Tensor::cat(&vec![thumbnail; F], 0).unwrap();
    let alone = mavors.encode_video(&chunk, &[0], 4, 6).unwrap().tokens;
    assert!(max_diff(&tokens[0], &alone) < 1e-5);
}

#[test]
fn weights_save_and_load_round_trip_under_mavors_names() {
    let vision = vision_config();
    let checkpoint = keye_checkpoint(&vision);
    let keye_vb = VarBuilder::from_varmap(&checkpoint, DType::F32, &Device::Cpu);
    let weights =
        MavorsWeights::from_keye(&keye_vb, &mavors_config(), &vision, LLM_HIDDEN).unwrap();

    let names = weights.tensors();
    assert!(names.keys().all(|name| name.starts_with("mavors.")));
    let kernel = &names["mavors.ive.vision_model.embeddings.patch_embedding.weight"];
    assert_eq!(kernel.dims(), [32, 3, F, 14, 14]);
    assert!(names.contains_key("mavors.ive.vision_model.encoder.layers.1.mlp.fc2.weight"));
    assert!(names.contains_key("mavors.ifa.layers.1.self_attn.q_proj.weight"));
    assert!(!names.contains_key("mavors.ifa.layers.2.self_attn.q_proj.weight"));
    assert_eq!(
        names["mavors.projector.linear_2.weight"].dims(),
        [LLM_HIDDEN, 40]
    );
    // The ViT is copied from the Keye tower.
    let keye_fc1 =
        checkpoint.data().lock().unwrap()["visual.vision_model.encoder.layers.0.mlp.fc1.weight"]
            .as_tensor()
            .clone();
    assert_eq!(
        max_diff(
            &names["mavors.ive.vision_model.encoder.layers.0.mlp.fc1.weight"],
            &keye_fc1
        ),
        0.0
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mavors.safetensors");
    weights.save(&path).unwrap();
    let loaded = MavorsWeights::load(&path, &Device::Cpu).unwrap();
    assert_eq!(loaded.tensors().len(), names.len());
    for (name, tensor) in names {
        assert_eq!(max_diff(tensor, &loaded.tensors()[name]), 0.0, "{name}");
    }

    // A model built from the file computes what the original does.
    let chunk = frame_patches(F * 2 * 2);
    let original = mavors_from(&weights, &vision)
        .encode_video(&chunk, &[0], 2, 2)
        .unwrap();
    let vb =
        unsafe { VarBuilder::from_mmaped_safetensors(&[&path], DType::F32, &Device::Cpu).unwrap() };
    let reloaded = Mavors::new(&mavors_config(), &vision, LLM_HIDDEN, vb)
        .unwrap()
        .encode_video(&chunk, &[0], 2, 2)
        .unwrap();
    assert_eq!(max_diff(&original.tokens, &reloaded.tokens), 0.0);

    // A checkpoint that already carries a trained IFA and projector keeps them.
    let mut combined = loaded.tensors().clone();
    for (name, var) in checkpoint.data().lock().unwrap().iter() {
        combined.insert(name.clone(), var.as_tensor().clone());
    }
    let both = VarBuilder::from_tensors(combined, DType::F32, &Device::Cpu);
    let again = MavorsWeights::from_keye(&both, &mavors_config(), &vision, LLM_HIDDEN).unwrap();
    for name in [
        "mavors.ifa.layers.0.mlp.fc1.weight",
        "mavors.projector.linear_1.weight",
    ] {
        assert_eq!(
            max_diff(&again.tensors()[name], &names[name]),
            0.0,
            "{name}"
        );
    }
    // Without one, the IFA starts fresh.
    let fresh = MavorsWeights::from_keye(&keye_vb, &mavors_config(), &vision, LLM_HIDDEN).unwrap();
    let name = "mavors.ifa.layers.0.mlp.fc1.weight";
    assert!(max_diff(&fresh.tensors()[name], &names[name]) > 1e-3);

    let missing = dir.path().join("missing.safetensors");
    let error = MavorsWeights::load(&missing, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(error.contains("missing.safetensors"), "{error}");
}

#[test]
fn a_planned_video_encodes_to_the_tokens_its_plan_promises() {
    use keye_model::mavors::{ChunkPlan, FrameGeometry, frame_patches};
    use keye_model::preprocess::ImageProcessorConfig;

    let vision = vision_config();
    let checkpoint = keye_checkpoint(&vision);
    let keye_vb = VarBuilder::from_varmap(&checkpoint, DType::F32, &Device::Cpu);
    let weights =
        MavorsWeights::from_keye(&keye_vb, &mavors_config(), &vision, LLM_HIDDEN).unwrap();
    let mavors = mavors_from(&weights, &vision);

    // 5.5 s of 96x64 frames at 4 fps starting at 2 s, sampled at 2 fps: 11 samples -> 3 chunks of 4.
    let decoded: Vec<image::RgbImage> = (0..22u8)
        .map(|i| image::RgbImage::from_fn(96, 64, |x, y| image::Rgb([i * 10, x as u8, y as u8])))
        .collect();
    let timestamps: Vec<f64> = (0..22).map(|i| 2.0 + i as f64 * 0.25).collect();
    let geometry = FrameGeometry::for_frame(96, 64, 56, 14).unwrap();
    let plan = ChunkPlan::new(&timestamps, 7.5, geometry, &mavors_config()).unwrap();
    assert_eq!(plan.chunks.len(), 3);
    assert_eq!(plan.chunks[2].pad_frames, 1);

    let frames: Vec<image::RgbImage> = plan
        .chunks
        .iter()
        .flat_map(|chunk| chunk.frame_indices.iter().map(|&i| decoded[i].clone()))
        .collect();
    let processor = ImageProcessorConfig {
        image_mean: [0.5; 3],
        image_std: [0.5; 3],
        ..ImageProcessorConfig::default()
    };
    let patches = frame_patches(&frames, &geometry, &processor, &Device::Cpu).unwrap();
    let out = mavors
        .encode_video(
            &patches,
            &plan.positions(),
            geometry.grid_h,
            geometry.grid_w,
        )
        .unwrap();
    assert_eq!(out.tokens.dims(), [plan.total_tokens(), LLM_HIDDEN]);
    assert_eq!(out.aggregated.dims(), [3, geometry.tokens(), 32]);

    // A chunk count that disagrees with the patches is an error, not a panic.
    assert!(
        mavors
            .encode_video(&patches, &[0, 1], geometry.grid_h, geometry.grid_w)
            .is_err()
    );
}

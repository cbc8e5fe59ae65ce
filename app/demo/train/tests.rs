//! Tests of the trainer: examples, determinism and resume, gradients, starting from a checkpoint.

use super::*;
use crate::demo::{questions::Question, teach, train::example::DECISION_WEIGHT};

fn options(out: &Path, encoder: Encoder) -> TrainOptions {
    TrainOptions {
        out: out.to_path_buf(),
        encoder,
        steps: 1,
        seed: 3,
        from: None,
        batch: 1,
        checkpoint_every: 1,
        eval_videos: 1,
        learning_rate: 1e-3,
        workers: 2,
        first_stage: 0,
        binding_drill: false,
        contrast: false,
    }
}

/// A checkpoint folder of `encoder` whose weights are seed 11's initialisation.
fn saved_checkpoint(folder: &Path, encoder: Encoder) {
    prepare_folder(&options(folder, encoder)).unwrap();
    let source = Trainee::load(folder, &Device::Cpu).unwrap();
    initialise(&source.varmap, 11, 4).unwrap();
    save_model(&source.varmap, &folder.join("model.safetensors")).unwrap();
}

/// A Keye trainee on a fresh folder in `dir` (trained tokenizer, configs, untrained weights).
fn fresh_trainee(dir: &Path) -> Trainee {
    prepare_folder(&options(dir, Encoder::Keye15)).unwrap();
    Trainee::load(dir, &Device::Cpu).unwrap()
}

#[test]
fn examples_teach_the_replies_and_probe_the_content_token() {
    let dir = tempfile::tempdir().unwrap();
    let trainee = fresh_trainee(dir.path());
    let ctx = trainee.context(&Device::Cpu);
    let mut yuv = YuvRoundTrip::new();
    let mut probes = 0;
    let mut decisions = Vec::new();
    for seed in 0..16 {
        let recipe = curriculum::recipe(0.9, 0, 0, false);
        let example = build(&ctx, &mut yuv, seed, &recipe).unwrap();
        let ids = &example.inputs.input_ids;
        let (last, rest) = example.targets.split_last().unwrap();
        for &(position, token, _) in rest {
            assert_eq!(ids[position + 1], token, "seed {seed}");
        }
        let decisive: Vec<u32> = example
            .targets
            .iter()
            .filter(|t| t.2 == DECISION_WEIGHT)
            .map(|t| t.1)
            .collect();
        assert!(decisive.len() <= 1, "one decision per reply, seed {seed}");
        decisions.extend(decisive);
        assert_eq!(example.tokens.colour.len(), example.vision.len());
        assert!(
            example.tokens.colour.iter().any(|&c| c > 0),
            "an actor is seen"
        );
        let patches = example.patches.as_ref().unwrap();
        assert_eq!(patches.colour.len(), patches.shape.len());
        if let Some(mask) = &example.attention {
            probes += 1;
            assert_eq!(
                last.0,
                ids.len() - 1,
                "a probe ends right before its answer"
            );
            assert_eq!(mask.len(), example.vision.len());
            assert!(mask.contains(&1.0), "the named actor is on some token");
            let word = trainee.tokenizer.decode(&[last.1]).unwrap();
            assert!(word.trim().chars().all(char::is_alphabetic), "{word:?}");
        } else {
            assert_eq!(ids[last.0 + 1], last.1);
            let end = trainee.tokenizer.token_id("<|im_end|>").unwrap();
            assert_eq!(last.1, end, "a full reply ends with <|im_end|>");
        }
        let (loss, parts, _) = trainee.loss(&example).unwrap();
        assert!(loss.to_scalar::<f32>().unwrap().is_finite(), "{parts:?}");
    }
    assert!(probes > 0);
    assert!(
        !decisions.is_empty(),
        "some final question is asked in auto mode"
    );
    let first_words = [teach::ANSWER_DIRECTLY, teach::THINK_FIRST]
        .map(|decision| decision.trim_start_matches("<analysis>"));
    for token in decisions {
        let word = trainee.tokenizer.decode(&[token]).unwrap();
        let word = word.trim();
        assert!(
            !word.is_empty() && first_words.iter().any(|text| text.starts_with(word)),
            "the weighted token is the decision's first word, not {word:?}"
        );
    }
}

/// A contrast conversation asks about each other actor before the final question: every
/// question in the prompt names one actor, and only the final one names its actor. The
/// curriculum's contrast conversations keep to the final question's kind; the binding drill's
/// mix colour and shape questions about still frames.
#[test]
fn contrast_conversations_ask_about_the_other_actors_first() {
    let dir = tempfile::tempdir().unwrap();
    let trainee = fresh_trainee(dir.path());
    let ctx = trainee.context(&Device::Cpu);
    let mut yuv = YuvRoundTrip::new();
    let curriculum = curriculum::recipe(0.9, 0, 2, true);
    assert_eq!(curriculum.contrast, example::Contrast::SameKind);
    let drill = curriculum::binding_drill();
    assert_eq!(drill.contrast, example::Contrast::AnyKind);
    for recipe in [curriculum, drill] {
        let mut with_history = 0;
        for seed in 0..10 {
            let example = build(&ctx, &mut yuv, seed, &recipe).unwrap();
            let prompt = trainee.tokenizer.decode(&example.inputs.input_ids).unwrap();
            let scene = Scene::generate(seed, &recipe.world);
            assert!(scene.actors.len() >= 2, "seed {seed}");
            let mut asked: Vec<(usize, Question)> = all_questions(&scene)
                .into_iter()
                .filter_map(|q| prompt.find(&q.question).map(|at| (at, q)))
                .collect();
            asked.sort_by_key(|(at, _)| *at);
            let ((_, last), history) = asked.split_last().expect("a question is asked");
            assert_eq!(last.named.len(), 1, "seed {seed}: {}", last.question);
            for (_, q) in history {
                if recipe.contrast == example::Contrast::SameKind {
                    assert_eq!(q.kind, last.kind, "seed {seed}: {}", q.question);
                }
                assert!(
                    recipe.kinds.contains(&q.kind),
                    "seed {seed}: {}",
                    q.question
                );
                assert_eq!(q.named.len(), 1, "seed {seed}: {}", q.question);
                assert_ne!(q.named, last.named, "seed {seed}: {}", q.question);
            }
            with_history += usize::from(!history.is_empty());
        }
        assert!(
            with_history >= 8,
            "most conversations ask about another actor first: {with_history} of 10 ({:?})",
            recipe.contrast
        );
    }
}

/// Two runs with one seed write the same bytes, and a run stopped after its first step and
/// started again ends where an uninterrupted run does.
#[test]
fn training_is_deterministic_and_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let run = |out: &Path, stop_after: Option<usize>| {
        let mut options = options(out, Encoder::Keye15);
        options.steps = 2;
        options.batch = 2;
        options.eval_videos = 0;
        let cancel = AtomicBool::new(false);
        train(
            &options,
            &mut |event| {
                if let TrainEvent::Step { step, .. } = event
                    && Some(step) == stop_after
                {
                    cancel.store(true, Ordering::Relaxed);
                }
            },
            &cancel,
        )
        .unwrap();
    };
    let (whole, resumed) = (dir.path().join("whole"), dir.path().join("resumed"));
    run(&whole, None);
    run(&resumed, Some(1));
    let state: State = serde_json::from_str(
        &std::fs::read_to_string(resumed.join("training/state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state.step, 1, "stopped after the first step");
    run(&resumed, None);
    for file in ["tokenizer.json", "config.json", "model.safetensors"] {
        let a = std::fs::read(whole.join(file)).unwrap();
        let b = std::fs::read(resumed.join(file)).unwrap();
        assert!(a == b, "{file} differs between the runs");
    }
}

/// The training forward is the app's forward: every weight the checkpoint ships (and the
/// training heads) gets a gradient, for both encoders.
#[test]
fn every_weight_gets_a_gradient() {
    for encoder in [Encoder::Keye15, Encoder::Mavors] {
        let dir = tempfile::tempdir().unwrap();
        prepare_folder(&options(dir.path(), encoder)).unwrap();
        let device = Device::Cpu;
        let trainee = Trainee::load(dir.path(), &device).unwrap();
        initialise(&trainee.varmap, 1, 4).unwrap();
        let ctx = trainee.context(&device);
        let mut recipe = curriculum::recipe(0.0, 0, 0, false);
        recipe.probe_share = 1.0;
        let example = build(&ctx, &mut YuvRoundTrip::new(), 5, &recipe).unwrap();
        let (loss, _, _) = trainee.loss(&example).unwrap();
        let grads = loss.backward().unwrap();
        let missing: Vec<String> = params::sorted_vars(&trainee.varmap)
            .into_iter()
            .filter(|(name, var)| {
                // Mavors checkpoints keep Keye's own tower for images; videos skip it.
                let unused = encoder == Encoder::Mavors
                    && (name.starts_with("visual.")
                        || name.starts_with("mlp_AR.")
                        || name.starts_with("aux.patch"));
                !unused && grads.get(var.as_tensor()).is_none()
            })
            .map(|(name, _)| name)
            .collect();
        assert!(
            missing.is_empty(),
            "{encoder:?}: no gradient for {missing:?}"
        );
    }
}

/// `train-demo --encoder mavors --from DIR`: the decoder and tower start as DIR's weights, the
/// IVE as DIR's tower inflated over the chunk's frames, the projector as DIR's folded, the IFA as
/// the identity (its residual outputs zero, the rest the seed's); two optimizer steps move every
/// `mavors.*` tensor (IVE, IFA, projector) by about the learning rate, so they are trained (the
/// IFA's inner weights get a gradient once its outputs are no longer zero, after the first).
#[test]
fn mavors_from_a_keye_checkpoint_starts_there_and_trains_its_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let (keye, mavors) = (dir.path().join("keye"), dir.path().join("mavors"));
    let device = Device::Cpu;
    saved_checkpoint(&keye, Encoder::Keye15);

    let mut run = options(&mavors, Encoder::Mavors);
    run.from = Some(keye.clone());
    run.eval_videos = 0;
    run.workers = 1;
    run.steps = 2;
    run.checkpoint_every = 2;
    let lr = run.learning_rate;
    train(&run, &mut |_| {}, &AtomicBool::new(false)).unwrap();

    let before = candle_core::safetensors::load(keye.join("model.safetensors"), &device).unwrap();
    let after = candle_core::safetensors::load(mavors.join("model.safetensors"), &device).unwrap();
    let config = KeyeConfig::from_file(&mavors.join("config.json")).unwrap();
    let VideoEncoder::Mavors(cfg) =
        VideoEncoder::from_config_file(&mavors.join("config.json")).unwrap()
    else {
        panic!("the trained checkpoint's config has no mavors_config");
    };
    let inflated = MavorsWeights::from_keye(
        &VarBuilder::from_tensors(before.clone(), DType::F32, &device),
        &cfg,
        &config.vision,
        config.text.hidden_size,
    )
    .unwrap()
    .tensors()
    .clone();
    // Where each shipped tensor started: DIR's weights, the inflated tower and folded projector,
    // zero (the IFA's outputs) or the seed's initialisation (the IFA's other weights).
    let fresh = Trainee::load(&mavors, &device).unwrap();
    initialise(&fresh.varmap, run.seed, config.text.num_hidden_layers).unwrap();
    let fresh: HashMap<String, Tensor> = params::sorted_vars(&fresh.varmap)
        .into_iter()
        .map(|(name, var)| (name, var.as_tensor().clone()))
        .collect();
    let max_diff = |a: &Tensor, b: &Tensor| -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap()
    };
    let mut encoder_parts = [0usize; 3];
    for (name, trained) in &after {
        let (start, from) = if let Some(t) = before.get(name) {
            (t.clone(), "the --from checkpoint")
        } else if name.starts_with("mavors.ive.") || name.starts_with("mavors.projector.") {
            encoder_parts[usize::from(name.starts_with("mavors.projector.")) * 2] += 1;
            let t = inflated.get(name);
            (
                t.unwrap_or_else(|| panic!("{name}: not made from DIR"))
                    .clone(),
                "the tower or DIR's projector",
            )
        } else if name.contains("out_proj.") || name.contains("fc2.") {
            assert!(name.starts_with("mavors.ifa."), "{name}");
            encoder_parts[1] += 1;
            (trained.zeros_like().unwrap(), "zero")
        } else {
            assert!(
                name.starts_with("mavors.ifa."),
                "{name}: where does it come from?"
            );
            encoder_parts[1] += 1;
            (fresh[name].clone(), "the seed")
        };
        let moved = max_diff(trained, &start);
        assert!(
            moved <= 2.0 * run.steps as f32 * lr as f32,
            "{name}: {moved} away from {from} after {} steps",
            run.steps
        );
        if name.starts_with("mavors.") {
            assert!(moved > 0.0, "{name}: not updated by the step");
        }
    }
    assert!(
        encoder_parts.iter().all(|&n| n > 0),
        "IVE, IFA and projector tensors: {encoder_parts:?}"
    );
    assert_eq!(
        encoder_parts[0],
        inflated
            .keys()
            .filter(|n| n.starts_with("mavors.ive."))
            .count(),
        "every IVE tensor the tower makes is shipped"
    );
}

/// The frame-by-frame attention term: nothing to pay when every frame's attention is on the
/// actor, much when one frame's brightest cells are elsewhere although the whole video's share
/// is high, and its gradient moves that frame's mass onto the actor.
#[test]
fn the_per_frame_term_pulls_each_frames_peak_onto_the_actor() {
    let device = Device::Cpu;
    // Two frames of three cells; the actor is on the first cell of each.
    let mask = [1.0f32, 0.0, 0.0, 1.0, 0.0, 0.0];
    let frames = [0usize, 0, 0, 1, 1, 1];
    let term = |weights: &[f32]| {
        let on_vision = candle_core::Var::new(weights, &device).unwrap();
        let on_actor = on_vision
            .as_tensor()
            .mul(&Tensor::new(&mask, &device).unwrap())
            .unwrap();
        let loss = per_frame_share_loss(on_vision.as_tensor(), &on_actor, &mask, &frames)
            .unwrap()
            .expect("frames show the actor");
        let grads = loss.backward().unwrap();
        let grad: Vec<f32> = grads.get(on_vision.as_tensor()).unwrap().to_vec1().unwrap();
        (loss.to_scalar::<f32>().unwrap(), grad)
    };
    let (on_every_frame, _) = term(&[0.45, 0.0, 0.0, 0.45, 0.05, 0.05]);
    assert!(on_every_frame < 0.15, "{on_every_frame}");
    // 80 % of the mass is on the actor, but frame 1's is mostly off it.
    let (off_in_one, grad) = term(&[0.7, 0.0, 0.0, 0.1, 0.1, 0.1]);
    assert!(off_in_one > 0.5, "{off_in_one}");
    assert!(grad[3] < 0.0 && grad[4] > 0.0 && grad[5] > 0.0, "{grad:?}");
    // No frame shows the actor: no term.
    let none = per_frame_share_loss(
        &Tensor::new(&[0.5f32, 0.5], &device).unwrap(),
        &Tensor::new(&[0.0f32, 0.0], &device).unwrap(),
        &[0.0, 0.0],
        &[0, 1],
    )
    .unwrap();
    assert!(none.is_none());
}

/// Fine-tuning a Mavors checkpoint starts from its own trained encoder, not from its Keye tower
/// inflated again.
#[test]
fn mavors_from_a_mavors_checkpoint_keeps_its_trained_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let (trained, tuned) = (dir.path().join("trained"), dir.path().join("tuned"));
    let device = Device::Cpu;
    saved_checkpoint(&trained, Encoder::Mavors);

    let mut run = options(&tuned, Encoder::Mavors);
    run.from = Some(trained.clone());
    prepare_folder(&run).unwrap();
    let trainee = Trainee::load(&tuned, &device).unwrap();
    initialise(&trainee.varmap, run.seed, 4).unwrap();
    start_from(&trainee, &trained, &tuned, &device).unwrap();

    let saved = candle_core::safetensors::load(trained.join("model.safetensors"), &device).unwrap();
    let vars: HashMap<String, Tensor> = params::sorted_vars(&trainee.varmap)
        .into_iter()
        .map(|(name, var)| (name, var.as_tensor().clone()))
        .collect();
    let ive: Vec<&String> = saved.keys().filter(|n| n.contains(".ive.")).collect();
    assert!(!ive.is_empty(), "the checkpoint has a Mavors encoder");
    for (name, tensor) in &saved {
        let var = &vars[name];
        let same: Vec<f32> = var.flatten_all().unwrap().to_vec1().unwrap();
        let want: Vec<f32> = tensor.flatten_all().unwrap().to_vec1().unwrap();
        assert!(same == want, "{name} is not the checkpoint's");
    }
}

/// The tower has no q/k norm, so its weights start at 1/sqrt(fan-in) (sharp enough attention
/// to learn where things are); the decoder's at GPT-2's 0.02.
#[test]
fn the_vision_tower_starts_at_fan_in_scale_and_the_decoder_at_gpt2_scale() {
    let dir = tempfile::tempdir().unwrap();
    prepare_folder(&options(dir.path(), Encoder::Keye15)).unwrap();
    let trainee = Trainee::load(dir.path(), &Device::Cpu).unwrap();
    initialise(&trainee.varmap, 1, 4).unwrap();
    let vars = params::sorted_vars(&trainee.varmap);
    let std_of = |name: &str| -> f64 {
        let (_, var) = vars.iter().find(|(n, _)| n == name).unwrap();
        let values: Vec<f32> = var.flatten_all().unwrap().to_vec1().unwrap();
        let n = values.len() as f64;
        (values.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / n).sqrt()
    };
    let hidden = trainee.config.vision.hidden_size as f64;
    let tower = std_of("visual.vision_model.encoder.layers.0.self_attn.q_proj.weight");
    assert!(
        (tower * hidden.sqrt() - 1.0).abs() < 0.1,
        "tower q_proj std {tower}"
    );
    let patches = std_of("visual.vision_model.embeddings.patch_embedding.weight");
    assert!(
        (patches * (3.0 * 14.0 * 14.0f64).sqrt() - 1.0).abs() < 0.1,
        "patch std {patches}"
    );
    let decoder = std_of("model.layers.0.self_attn.q_proj.weight");
    assert!(
        (decoder / 0.02 - 1.0).abs() < 0.1,
        "decoder q_proj std {decoder}"
    );
}

//! `train-judge`: teaches a copy of a demo checkpoint to answer HAICBench questions from a
//! caption alone, the job of the caption setting's judge. The demo model itself is trained on
//! video questions only and answers a caption given as text as if it had a video (see README);
//! this fine-tune shows it captions of generated scenes with the four-option questions about
//! them, in exactly the prompt `eval haicbench` and "Score caption" send, and the right option's
//! text as the reply. Only the decoder's text path is used: the vision tower is untouched.
//!
//! Resumable like `train-demo`: the state is saved with each checkpoint and a rerun goes on.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::atomic::{AtomicBool, Ordering},
    time::Instant,
};

use anyhow::Context as _;
use candle_core::{D, Device, Tensor};
use keye_model::{
    chat::{ChatMessage, ContentPart, MessageContent},
    generate::{ThinkingMode, prepare_prompt},
    keye::{DecodeState, KvCache, Prefill},
};
use serde::{Deserialize, Serialize};

use super::{
    MODEL_FILES, Trainee, learning_rate,
    params::{
        AdamW, accumulate, clipped_step, load_state, merge_gradients, on_workers, save_model,
        save_state,
    },
    start_from,
};
use crate::{
    demo::{
        questions::{all_questions, four_options, structure},
        world::{Scene, WorldSpec},
    },
    haicbench::{Category, QaItem, prompt::caption_prompt},
};

/// What to train.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JudgeOptions {
    /// The checkpoint to start from (its files are copied; its weights are the start).
    pub from: PathBuf,
    pub out: PathBuf,
    pub steps: usize,
    pub batch: usize,
    pub seed: u64,
    pub learning_rate: f64,
    pub checkpoint_every: usize,
}

#[derive(Serialize, Deserialize)]
struct JudgeState {
    options: JudgeOptions,
    step: usize,
    seconds: f64,
}

/// One training question: the prompt's token ids and (position, token) targets of the reply.
struct Example {
    inputs: keye_model::keye::KeyeInputs,
    targets: Vec<(usize, u32)>,
}

/// The four-option questions of a generated scene, with the scene's HAIC caption.
pub fn scene_questions(seed: u64) -> (String, Vec<QaItem>) {
    let scene = Scene::generate(seed, &WorldSpec::full());
    let caption = haic::text::render(&structure(&scene));
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x7A1D_6E00_0000_0001);
    let items = all_questions(&scene)
        .iter()
        .enumerate()
        .filter_map(|(k, q)| {
            let (options, answer, category) = four_options(q, &mut rng)?;
            Some(QaItem {
                id: format!("{seed}-{k}"),
                video: String::new(),
                question: q.question.clone(),
                options: options.try_into().ok()?,
                answer: usize::from(answer as u8 - b'A'),
                category: Category::parse(category)?,
            })
        })
        .collect();
    (caption, items)
}

fn example(trainee: &Trainee, seed: u64) -> anyhow::Result<Option<Example>> {
    let (caption, items) = scene_questions(seed);
    if items.is_empty() {
        return Ok(None);
    }
    let item = &items[(seed as usize) % items.len()];
    let messages = [ChatMessage {
        role: "user".into(),
        content: MessageContent::Parts(vec![ContentPart::Text {
            text: caption_prompt(&caption, item),
        }]),
    }];
    let prompt = prepare_prompt(
        &trainee.model,
        &trainee.tokenizer,
        &trainee.processor,
        &messages,
        Vec::new(),
        ThinkingMode::NoThink,
    )?;
    let mut ids = prompt.inputs.input_ids.clone();
    let tail = trainee
        .tokenizer
        .encode(&format!("{}<|im_end|>", item.options[item.answer]))?;
    let mut targets = Vec::with_capacity(tail.len());
    for &token in &tail {
        targets.push((ids.len() - 1, token));
        ids.push(token);
    }
    ids.pop();
    Ok(Some(Example {
        inputs: keye_model::keye::KeyeInputs {
            input_ids: ids,
            ..prompt.inputs
        },
        targets,
    }))
}

/// Mean next-token cross-entropy of the reply.
fn loss(trainee: &Trainee, example: &Example) -> anyhow::Result<Tensor> {
    let mut state = DecodeState {
        cache: KvCache::default(),
        rope_delta: 0,
    };
    let output = trainee
        .model
        .prefill(&example.inputs, &mut state, Prefill::default())?;
    let hidden = output.hidden.squeeze(0)?;
    let device = hidden.device().clone();
    let positions: Vec<u32> = example.targets.iter().map(|t| t.0 as u32).collect();
    let wanted: Vec<u32> = example.targets.iter().map(|t| t.1).collect();
    let rows = hidden.index_select(&Tensor::new(positions, &device)?, 0)?;
    let log_probs = candle_nn::ops::log_softmax(&trainee.model.logits(&rows)?, D::Minus1)?;
    let picked = log_probs
        .gather(&Tensor::new(wanted, &device)?.unsqueeze(1)?, 1)?
        .squeeze(1)?;
    Ok(picked.mean_all()?.neg()?)
}

/// Seeds of judge training scenes: apart from `demo-data`'s (which mix the index in
/// differently), so tests on generated data sets ask about scenes the judge never read.
fn example_seed(seed: u64, step: usize, index: usize) -> u64 {
    let mut h = seed ^ 0x1D6E_5EED_0000_0000;
    h = h.wrapping_add((step as u64) << 20 | index as u64);
    h = h.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^ (h >> 29)
}

/// Runs (or resumes) the fine-tune; `on_step(step, loss)` after each step.
pub fn train_judge(
    options: &JudgeOptions,
    on_step: &mut dyn FnMut(usize, f64),
    cancel: &AtomicBool,
) -> anyhow::Result<()> {
    let device = Device::Cpu;
    let out = &options.out;
    let state_path = out.join("training/state.json");
    std::fs::create_dir_all(out.join("training"))
        .with_context(|| format!("{}: cannot create the folder", out.display()))?;
    let resumed: Option<JudgeState> = if state_path.is_file() {
        let text = std::fs::read_to_string(&state_path)?;
        Some(serde_json::from_str(&text).with_context(|| format!("{}", state_path.display()))?)
    } else {
        for file in MODEL_FILES {
            std::fs::copy(options.from.join(file), out.join(file))
                .with_context(|| format!("{}: cannot copy {file}", options.from.display()))?;
        }
        None
    };
    let trainee = Trainee::load(out, &device)?;
    let mut optimizer = AdamW::new(&trainee.varmap)?;
    let (mut step, mut seconds) = (0, 0.0);
    match &resumed {
        Some(state) => {
            start_from(&trainee, out, out, &device)?;
            load_state(
                &mut optimizer,
                &out.join("training/state.safetensors"),
                &device,
            )?;
            optimizer.steps = state.step;
            (step, seconds) = (state.step, state.seconds);
        }
        None => start_from(&trainee, &options.from, out, &device)?,
    }
    while step < options.steps && !cancel.load(Ordering::Relaxed) {
        let started = Instant::now();
        let workers = 2.min(options.batch);
        let (trainee_ref, vars) = (&trainee, optimizer.vars());
        let parts = on_workers(workers, |worker| {
            let (mut grads, mut total, mut count) = (HashMap::new(), 0.0, 0);
            for index in (worker..options.batch).step_by(workers) {
                let seed = example_seed(options.seed, step, index);
                let Some(example) = example(trainee_ref, seed)? else {
                    continue;
                };
                let loss = loss(trainee_ref, &example)?;
                total += f64::from(loss.to_scalar::<f32>()?);
                count += 1;
                accumulate(&mut grads, vars, &loss.backward()?)?;
            }
            Ok((grads, total, count))
        })?;
        let mut sums: HashMap<String, Tensor> = HashMap::new();
        let (mut total, mut count) = (0.0, 0usize);
        for (grads, part_total, part_count) in parts {
            merge_gradients(&mut sums, grads)?;
            total += part_total;
            count += part_count;
        }
        let batch = count.max(1) as f64;
        let lr = learning_rate(options.learning_rate, step, options.steps);
        clipped_step(&mut optimizer, &sums, batch, lr)?;
        step += 1;
        seconds += started.elapsed().as_secs_f64();
        on_step(step, total / batch);
        if step % options.checkpoint_every == 0 || step == options.steps {
            save_model(&trainee.varmap, &out.join("model.safetensors"))?;
            save_state(&optimizer, &out.join("training/state.safetensors"))?;
            let state = JudgeState {
                options: options.clone(),
                step,
                seconds,
            };
            std::fs::write(&state_path, serde_json::to_string_pretty(&state)?)
                .with_context(|| format!("{}: cannot write", state_path.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    fn options(out: &std::path::Path, steps: usize) -> JudgeOptions {
        JudgeOptions {
            from: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/keye-demo"),
            out: out.to_path_buf(),
            steps,
            batch: 2,
            seed: 5,
            learning_rate: 1e-3,
            checkpoint_every: 1,
        }
    }

    #[test]
    fn examples_ask_in_the_eval_prompt_and_target_the_right_option() {
        let trainee = Trainee::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/keye-demo"),
            &Device::Cpu,
        )
        .unwrap();
        let seed = example_seed(0, 0, 0);
        let (caption, items) = scene_questions(seed);
        let item = &items[(seed as usize) % items.len()];
        let example = example(&trainee, seed).unwrap().unwrap();
        let prompt = trainee.tokenizer.decode(&example.inputs.input_ids).unwrap();
        assert!(prompt.contains(&caption_prompt(&caption, item)), "{prompt}");
        let reply: Vec<u32> = example.targets.iter().map(|t| t.1).collect();
        assert_eq!(
            trainee.tokenizer.decode(&reply).unwrap(),
            format!("{}<|im_end|>", item.options[item.answer])
        );
    }

    #[test]
    fn training_goes_on_where_it_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = AtomicBool::new(false);
        let mut steps = Vec::new();
        train_judge(
            &options(dir.path(), 2),
            &mut |step, _| {
                steps.push(step);
                cancel.store(true, Ordering::Relaxed);
            },
            &cancel,
        )
        .unwrap();
        assert_eq!(steps, [1]);
        let cancel = AtomicBool::new(false);
        train_judge(
            &options(dir.path(), 2),
            &mut |step, _| steps.push(step),
            &cancel,
        )
        .unwrap();
        assert_eq!(steps, [1, 2]);
        let model = crate::inference::LoadedModel::load(dir.path(), Default::default(), None, None);
        assert!(model.is_ok(), "the judge loads as a checkpoint");
    }
}

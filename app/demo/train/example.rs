//! One training example: a generated scene rendered in memory at the frames the model's own
//! video plan samples, turned into a prompt by the app's code (`VideoPlan::prepare`,
//! `prepare_prompt`, the chat template), a conversation of a few questions with their replies,
//! and the dense targets the generator knows: per vision token and per ViT patch, which colour,
//! shape and size covers it and how that actor moved since the previous frame; and, for a
//! "probe" (a conversation cut right before the final answer's content token), the vision tokens
//! of the actor that answer names.

use candle_core::Device;
use keye_model::{
    KeyeModel, KeyeTokenizer,
    chat::{ChatMessage, ContentPart, MessageContent, VideoPlaceholder},
    generate::{PromptMedia, ThinkingMode, VisionTokenMap, prepare_prompt},
    keye::KeyeInputs,
    mavors::Mavors,
    preprocess::ImageProcessorConfig,
    video::{VideoEncoderKind, VideoPlan, VideoPlanSettings, VideoTimeline, VideoVision},
};

use crate::demo::{
    questions::{Kind, Question, all_questions, trace},
    render::{RenderedFrame, YuvRoundTrip, render},
    teach::{self, reply},
    world::{Colour, Direction, Scene, Shape, Size, WorldSpec, cell_region, overlaps},
};

/// Everything building an example needs from the model being trained.
pub struct Context<'a> {
    pub model: &'a KeyeModel,
    pub mavors: Option<&'a Mavors>,
    pub tokenizer: &'a KeyeTokenizer,
    pub processor: &'a ImageProcessorConfig,
    pub settings: &'a VideoPlanSettings,
    pub encoder: VideoEncoderKind,
    pub device: &'a Device,
}

/// What kind of example to make (the curriculum sets it).
#[derive(Clone, Debug)]
pub struct Recipe {
    pub world: WorldSpec,
    /// Kinds the questions may have.
    pub kinds: Vec<Kind>,
    /// Questions answered before the final one in the same conversation.
    pub history: usize,
    /// Chance that the final question is a probe (cut before its content token).
    pub probe_share: f64,
    /// Chance of `/think` and of auto (no marker) for the final question; the rest `/no_think`.
    pub think_share: f64,
    pub auto_share: f64,
    /// Whether the history asks about the scene's other actors only, so that only the actor a
    /// question names tells the answers apart.
    pub contrast: Contrast,
}

/// What a contrast conversation's history asks of the other actors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contrast {
    /// An ordinary conversation: any other question about the scene.
    Off,
    /// The final question's kind.
    SameKind,
    /// Any of the recipe's kinds.
    AnyKind,
}

/// Class counts of the dense heads: background + colours, background + shapes, motion since the
/// previous frame (still, left, right, up, down), background + sizes.
pub const COLOUR_CLASSES: usize = 1 + Colour::ALL.len();
pub const SHAPE_CLASSES: usize = 1 + Shape::ALL.len();
pub const MOTION_CLASSES: usize = 5;
pub const SIZE_CLASSES: usize = 3;

/// Dense labels of a set of cells (vision tokens or patches); -1 means "no label here".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CellLabels {
    pub colour: Vec<i64>,
    pub shape: Vec<i64>,
    pub motion: Vec<i64>,
    pub size: Vec<i64>,
}

/// A built example.
pub struct Example {
    pub inputs: KeyeInputs,
    pub vision: VisionTokenMap,
    /// (position, token): the logits at `position` should predict `token`.
    pub targets: Vec<(usize, u32, f32)>,
    /// Per vision token, in the map's order.
    pub tokens: CellLabels,
    /// Per ViT patch in the tower's packed order (Keye's own encoder only).
    pub patches: Option<CellLabels>,
    /// For a probe: 1 for the vision tokens on the named actor, else 0 (map order).
    pub attention: Option<Vec<f32>>,
    /// Rows already encoded by Mavors (for the dense heads on the encoder's own output).
    pub encoded: Option<candle_core::Tensor>,
}

/// Builds the example of `seed` for `recipe`.
pub fn build(
    ctx: &Context,
    yuv: &mut YuvRoundTrip,
    seed: u64,
    recipe: &Recipe,
) -> anyhow::Result<Example> {
    let scene = Scene::generate(seed, &recipe.world);
    let mut rng = fastrand::Rng::with_seed(seed ^ 0xA5A5_5A5A_F00D_CAFE);
    let timeline = VideoTimeline {
        frame_times: scene.frame_times(),
        end: scene.duration(),
        fps: f64::from(scene.fps),
        width: scene.width,
        height: scene.height,
    };
    let plan = VideoPlan::new(ctx.encoder, &timeline, ctx.settings)?;
    let wanted = plan.frames_to_decode();
    let rendered: Vec<RenderedFrame> = wanted
        .iter()
        .map(|&i| render(&scene, scene.frame_time(i)))
        .collect();
    let images = rendered
        .iter()
        .map(|r| yuv.apply(&r.image))
        .collect::<Result<Vec<_>, _>>()?;
    let steps = plan.chunks(&timeline);
    let prepared = plan.prepare(
        &timeline,
        &images,
        ctx.settings,
        ctx.processor,
        ctx.mavors,
        ctx.device,
    )?;
    let shown: Vec<f64> = match &prepared.placeholder {
        VideoPlaceholder::SlowFast(frames) => frames
            .iter()
            .zip(&steps)
            .map(|(f, s)| f.timestamp.unwrap_or(s.start))
            .collect(),
        VideoPlaceholder::Tokens(_) => steps.iter().map(|s| s.start).collect(),
    };
    let frame_of = |index: usize| -> &RenderedFrame {
        let at = wanted.binary_search(&index).unwrap_or(0);
        &rendered[at]
    };
    let patch_grids: Option<Vec<[usize; 3]>> = match &prepared.vision {
        VideoVision::Pixels { patches, .. } => Some(patches.iter().map(|p| p.grid_thw).collect()),
        VideoVision::Encoded { .. } => None,
    };
    let encoded = match &prepared.vision {
        VideoVision::Encoded { tokens, .. } => Some(tokens.clone()),
        VideoVision::Pixels { .. } => None,
    };

    // The conversation: history questions answered without thinking, then the final one.
    let questions: Vec<Question> = all_questions(&scene)
        .into_iter()
        .filter(|q| recipe.kinds.contains(&q.kind))
        .collect();
    anyhow::ensure!(
        !questions.is_empty(),
        "scene {seed} has no question of the recipe's kinds"
    );
    let contrasts = |q: &Question| contrasting(&questions, q, recipe.contrast).next().is_some();
    // A contrast conversation ends on a question some other actor can be asked too.
    let pool: Vec<&Question> = if questions.iter().any(contrasts) {
        questions.iter().filter(|q| contrasts(q)).collect()
    } else {
        questions.iter().collect()
    };
    let probe_candidates: Vec<&Question> = pool
        .iter()
        .copied()
        .filter(|q| teach::grounded(q.kind) && q.named.len() == 1)
        .collect();
    let probe = !probe_candidates.is_empty() && rng.f64() < recipe.probe_share;
    let mut last = if probe {
        probe_candidates[rng.usize(..probe_candidates.len())].clone()
    } else {
        pool[rng.usize(..pool.len())].clone()
    };
    // The caption editor's "Draft with model" asks with its own long prompt.
    if last.kind == Kind::Describe && rng.f64() < 0.3 {
        last.question = crate::caption_draft::draft_prompt();
    }
    let mut history: Vec<Question> = if recipe.contrast != Contrast::Off {
        contrasting(&questions, &last, recipe.contrast)
            .cloned()
            .collect()
    } else {
        questions
            .iter()
            .filter(|q| q.question != last.question && q.kind != Kind::Describe)
            .cloned()
            .collect()
    };
    rng.shuffle(&mut history);
    history.truncate(recipe.history);
    let roll = rng.f64();
    let mode = if roll < recipe.think_share {
        ThinkingMode::Think
    } else if roll < recipe.think_share + recipe.auto_share {
        ThinkingMode::Auto
    } else {
        ThinkingMode::NoThink
    };
    let mut messages = Vec::new();
    for (i, q) in history.iter().enumerate() {
        let mut parts = if i == 0 {
            vec![ContentPart::Video]
        } else {
            vec![]
        };
        parts.push(ContentPart::Text {
            text: format!("{}{}", q.question, ThinkingMode::NoThink.marker()),
        });
        messages.push(ChatMessage {
            role: "user".into(),
            content: MessageContent::Parts(parts),
        });
        messages.push(ChatMessage {
            role: "assistant".into(),
            content: MessageContent::Text(q.answer.clone()),
        });
    }
    let mut parts = if history.is_empty() {
        vec![ContentPart::Video]
    } else {
        vec![]
    };
    parts.push(ContentPart::Text {
        text: last.question.clone(),
    });
    messages.push(ChatMessage {
        role: "user".into(),
        content: MessageContent::Parts(parts),
    });
    let prompt = prepare_prompt(
        ctx.model,
        ctx.tokenizer,
        ctx.processor,
        &messages,
        vec![PromptMedia::Video(prepared)],
        mode,
    )?;
    let mut ids = prompt.inputs.input_ids.clone();
    let mut targets = history_targets(ctx.tokenizer, &ids)?;
    let answer = reply(&last, &trace(&scene, &last, &shown), mode);
    let tail = ctx
        .tokenizer
        .encode(&format!("{}<|im_end|>", answer.text))?;
    let answer_start = ctx
        .tokenizer
        .encode(&answer.text[..answer.content_at])?
        .len();
    let cut = if probe {
        content_token(ctx.tokenizer, &tail, answer.content_at)?
    } else {
        tail.len()
    };
    let decisive = if answer.decision_len > 0 {
        Some(decisive_token(ctx.tokenizer)?)
    } else {
        None
    };
    for (k, &token) in tail.iter().enumerate().take(cut + usize::from(probe)) {
        let weight = if Some(k) == decisive {
            DECISION_WEIGHT
        } else if k >= answer_start.min(cut) {
            2.0
        } else {
            1.0
        };
        targets.push((ids.len() - 1, token, weight));
        if k < cut {
            ids.push(token);
        }
    }

    let vision = prompt.vision.clone();
    let grid_of = |frame: usize| vision.media[0].frames[frame];
    let frames_of_step = |step: usize| -> Vec<usize> { steps[step].frame_indices.clone() };
    let mut tokens = CellLabels::default();
    let mut attention = probe.then(|| Vec::with_capacity(vision.len()));
    for r in &vision.refs {
        let (rows, cols) = grid_of(r.frame);
        let region = cell_region(r.row, r.col, rows, cols, scene.width, scene.height);
        let first = frames_of_step(r.frame)[0];
        let previous = (r.frame > 0).then(|| frames_of_step(r.frame - 1)[0]);
        push_labels(
            &mut tokens,
            &scene,
            frame_of(first),
            first,
            previous,
            region,
        );
        if let Some(mask) = attention.as_mut() {
            let hit = frames_of_step(r.frame).into_iter().any(|f| {
                scene
                    .box_at_frame(last.named[0], f)
                    .is_some_and(|b| overlaps(region, b))
            });
            mask.push(if hit { 1.0 } else { 0.0 });
        }
    }
    let patches = patch_grids.map(|grids| {
        let mut labels = CellLabels::default();
        for (step, [t, rows, cols]) in grids.into_iter().enumerate() {
            let first = frames_of_step(step)[0];
            let previous = (step > 0).then(|| frames_of_step(step - 1)[0]);
            for _ in 0..t {
                for row in 0..rows {
                    for col in 0..cols {
                        let region = cell_region(row, col, rows, cols, scene.width, scene.height);
                        push_labels(
                            &mut labels,
                            &scene,
                            frame_of(first),
                            first,
                            previous,
                            region,
                        );
                    }
                }
            }
        }
        labels
    });
    Ok(Example {
        inputs: KeyeInputs {
            input_ids: ids,
            ..prompt.inputs
        },
        vision,
        targets,
        tokens,
        patches,
        attention,
        encoded,
    })
}

/// The questions that each name one other actor than `question` does, of its kind for
/// `SameKind` (none for a question that does not name exactly one, or with `Off`).
fn contrasting<'q>(
    questions: &'q [Question],
    question: &'q Question,
    contrast: Contrast,
) -> impl Iterator<Item = &'q Question> {
    questions.iter().filter(move |q| {
        let kind = match contrast {
            Contrast::Off => false,
            Contrast::SameKind => q.kind == question.kind,
            Contrast::AnyKind => true,
        };
        kind && question.named.len() == 1 && q.named.len() == 1 && q.named != question.named
    })
}

/// Targets of the assistant turns already in the prompt: every token after each
/// `<|im_start|>assistant\n` up to and including its `<|im_end|>`.
fn history_targets(
    tokenizer: &KeyeTokenizer,
    ids: &[u32],
) -> anyhow::Result<Vec<(usize, u32, f32)>> {
    let header = tokenizer.encode("<|im_start|>assistant\n")?;
    let end = tokenizer
        .token_id("<|im_end|>")
        .ok_or_else(|| anyhow::anyhow!("the tokenizer has no <|im_end|>"))?;
    let mut targets = Vec::new();
    let mut at = 0;
    while let Some(found) = ids[at..].windows(header.len()).position(|w| w == header) {
        let start = at + found + header.len();
        let mut k = start;
        while k < ids.len() {
            targets.push((k - 1, ids[k], 1.0));
            if ids[k] == end {
                break;
            }
            k += 1;
        }
        at = k.max(start);
        if at >= ids.len() {
            break;
        }
    }
    Ok(targets)
}

/// Weight of auto-think's decisive token. It picks the whole reply's shape (a trace or the
/// answer at once) yet is one token among hundreds, and at weight 1 a 2500-step run learned to
/// decide by a word the questions share ("shape") instead of by what they ask.
pub const DECISION_WEIGHT: f32 = 8.0;

/// Index, in a reply that starts with an auto-think decision, of the first token where the two
/// decisions differ: the one that decides.
fn decisive_token(tokenizer: &KeyeTokenizer) -> anyhow::Result<usize> {
    let direct = tokenizer.encode(teach::ANSWER_DIRECTLY)?;
    let think = tokenizer.encode(teach::THINK_FIRST)?;
    Ok(direct
        .iter()
        .zip(&think)
        .take_while(|(a, b)| a == b)
        .count())
}

/// Index in `tail` of the token that holds byte `content_at` of the reply text (a word's
/// leading space belongs to the word's token).
fn content_token(
    tokenizer: &KeyeTokenizer,
    tail: &[u32],
    content_at: usize,
) -> anyhow::Result<usize> {
    for k in 0..tail.len() {
        let text = tokenizer.decode(&tail[..=k])?;
        if text.len() > content_at {
            return Ok(k);
        }
    }
    anyhow::bail!("the reply has no content token at byte {content_at}")
}

/// Labels of one cell: the actor covering at least 30 % of it (the largest), else background;
/// motion only where a previous frame exists.
fn push_labels(
    labels: &mut CellLabels,
    scene: &Scene,
    frame: &RenderedFrame,
    index: usize,
    previous: Option<usize>,
    region: [f64; 4],
) {
    let cover = frame.coverage(
        region[0],
        region[1],
        region[2],
        region[3],
        scene.actors.len(),
    );
    let best = (1..cover.len()).max_by(|&a, &b| cover[a].total_cmp(&cover[b]));
    let owner = best.filter(|&o| cover[o] >= 0.3).map(|o| o - 1);
    match owner {
        None => {
            labels.colour.push(0);
            labels.shape.push(0);
            labels.size.push(0);
            labels.motion.push(if previous.is_some() { 0 } else { -1 });
        }
        Some(actor) => {
            let a = &scene.actors[actor];
            let t = scene.frame_time(index);
            let pose = a.pose(t);
            let colour = Colour::ALL
                .iter()
                .position(|&c| c == pose.colour)
                .unwrap_or(0);
            let shape = Shape::ALL
                .iter()
                .position(|&s| s == a.look.shape)
                .unwrap_or(0);
            labels.colour.push(colour as i64 + 1);
            labels.shape.push(shape as i64 + 1);
            labels.size.push(match a.look.size {
                Size::Small => 1,
                Size::Big => 2,
            });
            labels.motion.push(match previous {
                None => -1,
                Some(p) => {
                    let before = a.pose(scene.frame_time(p));
                    let (dx, dy) = (pose.x - before.x, pose.y - before.y);
                    if dx.abs().max(dy.abs()) < 1.5 {
                        0
                    } else {
                        let direction = if dx.abs() >= dy.abs() {
                            if dx < 0.0 {
                                Direction::Left
                            } else {
                                Direction::Right
                            }
                        } else if dy < 0.0 {
                            Direction::Up
                        } else {
                            Direction::Down
                        };
                        1 + Direction::ALL
                            .iter()
                            .position(|&d| d == direction)
                            .unwrap_or(0) as i64
                    }
                }
            });
        }
    }
}

//! The model side of the app, shared by `ask` and the GUI: loading a checkpoint on a worker with
//! progress and cancel, and asking a question about videos and images on a worker: decoding only
//! the frames the model's video encoder samples, building the prompt, then streaming generation.
//! Everything reports over crossbeam channels so no caller ever blocks on the model.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
};

use crossbeam_channel::{Receiver, Sender};
use keye_model::{
    LoadOptions, LoadProgress, Runtime,
    budget::{MemoryEstimate, PromptShape, Refusal, VisualBudget, estimate_memory},
    chat::{ChatMessage, ContentPart, MessageContent},
    device::{DTypeChoice, DeviceChoice, available_memory, resolve_device, resolve_dtype},
    generate::{
        CaptureSpec, GenerationEvent, GenerationOutput, GenerationRequest, PromptMedia,
        SamplingParams, ThinkingMode, VisionTokenMap, generate, prepare_prompt,
    },
    quantize::QuantizeSpec,
    video::{FrameSpan, PlanChunk, VideoEncoderKind, VideoPlan, VideoPlanSettings, VideoTimeline},
};
use serde::Serialize;

use crate::files::is_image;
use crate::video::{FrameIndex, FrameSpec, IndexedVideo, Video, VideoError, VideoInfo};

mod pipeline;
use pipeline::rgb_image;
pub use pipeline::{DecodedPlan, decode_planned};

/// Why asking or loading failed, naming the file where there is one.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    #[error(transparent)]
    Model(#[from] keye_model::Error),
    #[error(transparent)]
    Video(#[from] VideoError),
    #[error("{path}: {message}")]
    Media { path: PathBuf, message: String },
    #[error("cancelled")]
    Cancelled,
    /// A server answering for the app (`ask --server`) failed or refused; its message.
    #[error("{0}")]
    Remote(String),
}

/// Where and in which precision to load a checkpoint (`--device`, `--dtype`, `--quantize`, the
/// model manager's choices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Placement {
    pub device: DeviceChoice,
    pub dtype: DTypeChoice,
    pub quantize: QuantizeSpec,
}

impl Placement {
    /// The dtype of the dense weights: as chosen, except that `auto` for a quantized model of
    /// more than a billion parameters on a CPU is bf16 (quantizing is asked for to save memory;
    /// an f32 embedding table alone would be 2.5 GB at 8B).
    pub fn dense_dtype(&self, device: &keye_model::Device, parameters: usize) -> keye_model::DType {
        let large = parameters > 1_000_000_000;
        if self.dtype == DTypeChoice::Auto && !self.quantize.is_none() && large {
            return if device.is_cpu() {
                keye_model::DType::BF16
            } else {
                resolve_dtype(self.dtype, device, parameters)
            };
        }
        resolve_dtype(self.dtype, device, parameters)
    }
}

/// A checkpoint ready to answer questions.
#[derive(Debug)]
pub struct LoadedModel {
    pub runtime: Runtime,
    /// Memory the system had free right after loading (bytes), less the kernel copies the first
    /// prompt will make, for budgets and estimates.
    pub free_after_load: Option<u64>,
    /// Whether a prompt has run, so the CPU kernels' copies of quantized weights exist (they
    /// count in what is free from then on, not in each prompt's estimate).
    kernel_copies_made: AtomicBool,
}

impl LoadedModel {
    /// Loads `dir` on this thread where `placement` says (auto: a GPU when this build and machine
    /// have one, else the CPU in f32 when it fits, bf16 when not); `progress` sees every step.
    pub fn load(
        dir: &Path,
        placement: Placement,
        progress: Option<Box<dyn FnMut(LoadProgress) + Send>>,
        cancel: Option<Arc<AtomicBool>>,
    ) -> Result<Self, InferenceError> {
        let device = resolve_device(placement.device)?;
        let config = keye_model::runtime::checkpoint_config(dir, &placement.quantize)?;
        let parameters = keye_model::bench::parameter_count(&config);
        let dtype = placement.dense_dtype(&device, parameters);
        let options = LoadOptions {
            device,
            dtype,
            quantize: placement.quantize,
            progress,
            cancel,
        };
        let runtime = Runtime::load(dir, options)?;
        Ok(Self {
            free_after_load: runtime
                .model
                .device()
                .is_cpu()
                .then(available_memory)
                .flatten()
                .map(|free| free.saturating_sub(runtime.kernel_copy_bytes)),
            kernel_copies_made: AtomicBool::new(runtime.kernel_copy_bytes == 0),
            runtime,
        })
    }

    /// The visual-token budget this model gets by default: sized to the memory left beside its
    /// weights on a CPU, the processors' own ceiling on a GPU.
    pub fn default_budget(&self) -> VisualBudget {
        match self.free_after_load {
            Some(free) => VisualBudget::for_memory(
                self.runtime.model.config(),
                self.runtime.dtype().size_in_bytes(),
                free,
            ),
            None => VisualBudget::default(),
        }
    }

    /// The peak memory a prompt of `shape` needs on this model.
    pub fn estimate(&self, shape: PromptShape) -> MemoryEstimate {
        let model = &self.runtime.model;
        estimate_memory(
            model.config(),
            self.runtime.weights_bytes,
            self.runtime.dtype().size_in_bytes(),
            model.prefill_chunk(),
            model.attention_blocks(),
            shape,
        )
        .with_kernel_copies(if self.kernel_copies_made.load(Ordering::Relaxed) {
            0
        } else {
            self.runtime.kernel_copy_bytes
        })
    }
}

/// Loading progress and outcome, in order; ends with `Loaded`, `Failed` or `Cancelled`.
#[derive(Debug)]
pub enum LoadEvent {
    Progress {
        stage: &'static str,
        done: usize,
        total: usize,
    },
    Loaded(Arc<LoadedModel>),
    Failed(String),
    Cancelled,
}

/// A checkpoint loading on a worker thread.
#[derive(Debug)]
pub struct LoadHandle {
    pub events: Receiver<LoadEvent>,
    cancel: Arc<AtomicBool>,
}

impl LoadHandle {
    /// Stops loading before the next shard or tensor.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

/// Loads `dir` on a worker thread where `placement` says.
pub fn spawn_load(dir: PathBuf, placement: Placement) -> LoadHandle {
    let (sender, events) = crossbeam_channel::unbounded();
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    std::thread::spawn(move || {
        let progress_sender = sender.clone();
        let progress = Box::new(move |p: LoadProgress| {
            let (stage, done, total) = match p {
                LoadProgress::CheckedShard { done, total } => ("checking shards", done, total),
                LoadProgress::LoadedTensor { done, total } => ("loading tensors", done, total),
                LoadProgress::QuantizedTensor { done, total } => {
                    ("loading and quantizing tensors", done, total)
                }
            };
            let _ = progress_sender.send(LoadEvent::Progress { stage, done, total });
        });
        let event = match LoadedModel::load(&dir, placement, Some(progress), Some(flag)) {
            Ok(model) => LoadEvent::Loaded(Arc::new(model)),
            Err(InferenceError::Model(keye_model::Error::Cancelled)) => LoadEvent::Cancelled,
            Err(error) => LoadEvent::Failed(error.to_string()),
        };
        let _ = sender.send(event);
    });
    LoadHandle { events, cancel }
}

/// One earlier exchange of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Turn {
    pub question: String,
    pub answer: String,
}

/// A question about media, with the conversation so far.
#[derive(Debug, Clone)]
pub struct Question {
    /// Videos or images, attached to the first user message.
    pub media: Vec<PathBuf>,
    pub history: Vec<Turn>,
    pub text: String,
    pub system: Option<String>,
    pub thinking: ThinkingMode,
    pub sampling: SamplingParams,
    pub capture: Option<CaptureSpec>,
    /// Sampling knobs and the visual-token ceiling; a prompt over it, or one whose memory
    /// estimate exceeds what is free, is refused before the model runs.
    pub budget: VisualBudget,
    /// Videos among `media` already opened and indexed (the GUI's player): the worker reads
    /// them from that index instead of scanning the file again.
    pub indexed: Vec<IndexedVideo>,
}

/// One decoder temporal step of a media item, on the source.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FrameRef {
    /// The first decoded frame of the step (0 for an image).
    pub index: usize,
    /// Seconds from the video's first frame (the player's timeline); 0 for an image.
    pub time: f64,
    pub end: f64,
}

/// Where each frame of a media item, as the [`VisionTokenMap`] numbers them, sits on the source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MediaFrames {
    pub path: PathBuf,
    /// The encoder's view of a video (`None` for images): frames or chunks.
    pub encoder: Option<VideoEncoderKind>,
    pub frames: Vec<FrameRef>,
}

/// Everything an ask reports, in order.
#[derive(Debug, Clone)]
pub enum AskEvent {
    Preparing {
        stage: String,
        done: usize,
        total: usize,
    },
    /// The prompt is built; generation starts.
    Prepared {
        vision: VisionTokenMap,
        media: Vec<MediaFrames>,
        prompt_tokens: usize,
    },
    /// Streamed generation; its `Done` or `Error` ends the ask.
    Generation(GenerationEvent),
    /// Preparation failed (the message names the file) or was cancelled.
    Failed(String),
    /// The prompt is over the visual-token budget or would not fit in free memory; nothing ran.
    /// (Its `Display` names the command line's flags; a GUI names its own knobs.)
    Refused(Refusal),
}

/// A question being answered on a worker thread.
#[derive(Debug)]
pub struct AskHandle {
    pub events: Receiver<AskEvent>,
    cancel: Arc<AtomicBool>,
    thread: JoinHandle<Result<GenerationOutput, InferenceError>>,
}

impl AskHandle {
    /// A handle over a worker that answers elsewhere (a remote server): the same events and
    /// the same cancel, so callers hold either kind alike.
    pub(crate) fn from_worker(
        events: Receiver<AskEvent>,
        cancel: Arc<AtomicBool>,
        thread: JoinHandle<Result<GenerationOutput, InferenceError>>,
    ) -> Self {
        Self {
            events,
            cancel,
            thread,
        }
    }

    /// Stops decoding frames or generating before the next frame or token.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// A flag that cancels this ask when set (for a Ctrl-C handler).
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }

    /// Waits for the worker: the generation's output (with the attention capture) or the error.
    pub fn join(self) -> Result<GenerationOutput, InferenceError> {
        self.thread.join().map_err(|_| InferenceError::Media {
            path: PathBuf::new(),
            message: "the ask worker panicked".into(),
        })?
    }
}

/// Answers `question` with `model` on a worker thread.
pub fn spawn_ask(model: Arc<LoadedModel>, question: Question) -> AskHandle {
    let (sender, events) = crossbeam_channel::unbounded();
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let thread = std::thread::spawn(move || {
        let result = ask(&model, &question, &flag, &sender);
        match &result {
            Err(InferenceError::Model(keye_model::Error::Budget(refusal))) => {
                let _ = sender.send(AskEvent::Refused(refusal.clone()));
            }
            Err(error) => {
                let _ = sender.send(AskEvent::Failed(error.to_string()));
            }
            Ok(_) => {}
        }
        result
    });
    AskHandle {
        events,
        cancel,
        thread,
    }
}

/// A question's prompt as the model sees it, and where each media item's frames sit on its
/// source (images first, then videos, as the token map numbers them): media decoded and
/// prepared, the chat rendered, the budget and free memory checked. `progress(stage, done,
/// total)` reports decoding.
pub fn prepare_question(
    model: &LoadedModel,
    question: &Question,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<(keye_model::generate::PreparedPrompt, Vec<MediaFrames>), InferenceError> {
    let runtime = &model.runtime;
    let mut settings = runtime.video_settings.clone();
    let mut processor = runtime.processor.clone();
    question.budget.apply(&mut settings, &mut processor);
    let mut media = Vec::with_capacity(question.media.len());
    let mut frames = Vec::with_capacity(question.media.len());
    for path in &question.media {
        let (item, placed) = load_media(
            runtime,
            &settings,
            &processor,
            path,
            &question.indexed,
            cancel,
            progress,
        )?;
        media.push(item);
        frames.push(placed);
    }
    // The token map numbers images first, then videos; order the frame lists the same way.
    let (mut images, videos): (Vec<_>, Vec<_>) =
        frames.into_iter().partition(|m| m.encoder.is_none());
    images.extend(videos);
    let messages = chat_messages(question);
    let prompt = prepare_prompt(
        &runtime.model,
        &runtime.tokenizer,
        &processor,
        &messages,
        media,
        question.thinking,
    )?;
    let refuse = |refusal| InferenceError::Model(keye_model::Error::Budget(refusal));
    question.budget.check(prompt.vision.len()).map_err(refuse)?;
    if let Some(free) = model.free_after_load {
        // What is free now, not at load time, in case other work took memory since.
        let free = available_memory().unwrap_or(free);
        model
            .estimate(prompt_shape(&prompt, question.sampling.max_new_tokens))
            .check_fits(free)
            .map_err(refuse)?;
    }
    Ok((prompt, images))
}

fn ask(
    model: &LoadedModel,
    question: &Question,
    cancel: &AtomicBool,
    events: &Sender<AskEvent>,
) -> Result<GenerationOutput, InferenceError> {
    let (prompt, images) = prepare_question(model, question, cancel, &mut |stage, done, total| {
        let _ = events.send(AskEvent::Preparing {
            stage: stage.to_owned(),
            done,
            total,
        });
    })?;
    let _ = events.send(AskEvent::Prepared {
        vision: prompt.vision.clone(),
        media: images,
        prompt_tokens: prompt.inputs.input_ids.len(),
    });
    let request = GenerationRequest {
        prompt,
        sampling: question.sampling.clone(),
        capture: question.capture.clone(),
    };
    let mut emit = |event: GenerationEvent| {
        if events.send(AskEvent::Generation(event)).is_err() {
            cancel.store(true, Ordering::Relaxed);
        }
    };
    match generate(
        &model.runtime.model,
        &model.runtime.tokenizer,
        &request,
        cancel,
        &mut emit,
    ) {
        Ok(output) => {
            model.kernel_copies_made.store(true, Ordering::Relaxed);
            emit(GenerationEvent::Done(output.summary.clone()));
            Ok(output)
        }
        Err(error) => {
            emit(GenerationEvent::Error {
                message: error.to_string(),
            });
            Err(error.into())
        }
    }
}

/// The chat: system prompt, earlier turns (the media go with the first user message), then the
/// question.
fn chat_messages(question: &Question) -> Vec<ChatMessage> {
    let mut messages = Vec::new();
    if let Some(system) = &question.system {
        messages.push(ChatMessage {
            role: "system".into(),
            content: MessageContent::Text(system.clone()),
        });
    }
    let media_parts: Vec<ContentPart> = question
        .media
        .iter()
        .map(|path| {
            if is_image(path) {
                ContentPart::Image
            } else {
                ContentPart::Video
            }
        })
        .collect();
    let user = |text: &str, first: bool| {
        let mut parts = if first { media_parts.clone() } else { vec![] };
        parts.push(ContentPart::Text { text: text.into() });
        ChatMessage {
            role: "user".into(),
            content: MessageContent::Parts(parts),
        }
    };
    for (i, turn) in question.history.iter().enumerate() {
        messages.push(user(&turn.question, i == 0));
        messages.push(ChatMessage {
            role: "assistant".into(),
            content: MessageContent::Text(turn.answer.clone()),
        });
    }
    messages.push(user(&question.text, question.history.is_empty()));
    messages
}

/// The frame timeline of an open video, on its own timeline (start offset kept).
pub fn video_timeline(video: &Video) -> VideoTimeline {
    timeline_of(video.info(), video.index())
}

/// [`video_timeline`] of a video opened and indexed elsewhere (no file access).
pub fn indexed_timeline(video: &IndexedVideo) -> VideoTimeline {
    timeline_of(video.info(), video.index())
}

fn timeline_of(info: &VideoInfo, index: &FrameIndex) -> VideoTimeline {
    let frame_times: Vec<f64> = index
        .entries()
        .iter()
        .map(|e| index.ticks_to_seconds(e.pts))
        .collect();
    let first = frame_times.first().copied().unwrap_or(0.0);
    VideoTimeline {
        end: first + index.duration_seconds(),
        frame_times,
        fps: info.frame_rate(),
        width: info.display_width,
        height: info.display_height,
    }
}

/// `path` read from its index among `known` (opened elsewhere), else opened and scanned.
pub(crate) fn open_video(path: &Path, known: &[IndexedVideo]) -> Result<Video, VideoError> {
    match known.iter().find(|video| video.path() == path) {
        Some(video) => video.open(Default::default()),
        None => Video::open(path),
    }
}

/// The sizes a memory estimate needs, read off a prepared prompt.
pub fn prompt_shape(
    prompt: &keye_model::generate::PreparedPrompt,
    max_new_tokens: usize,
) -> PromptShape {
    let inputs = &prompt.inputs;
    let blocks = inputs
        .images
        .iter()
        .chain(inputs.videos.iter())
        .flat_map(|batch| batch.blocks.iter())
        .map(|b| b.grid.iter().product::<usize>());
    let (patches, largest) = blocks.fold((0, 0), |(sum, max), n| (sum + n, max.max(n)));
    PromptShape {
        prompt_tokens: inputs.input_ids.len(),
        max_new_tokens,
        vision_patches: patches,
        largest_vision_block: largest,
    }
}

/// A video or image prepared for `runtime` with its own default settings (for measurements that
/// need a fixed prompt, such as `bench quality`).
pub fn prepare_video(runtime: &Runtime, path: &Path) -> Result<PromptMedia, InferenceError> {
    let (media, _) = load_media(
        runtime,
        &runtime.video_settings,
        &runtime.processor,
        path,
        &[],
        &AtomicBool::new(false),
        &mut |_, _, _| {},
    )?;
    Ok(media)
}

/// Reads one media file and prepares it for the model with the budgeted `settings` and
/// `processor`; also says where its frames sit.
fn load_media(
    runtime: &Runtime,
    settings: &VideoPlanSettings,
    processor: &keye_model::preprocess::ImageProcessorConfig,
    path: &Path,
    known: &[IndexedVideo],
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<(PromptMedia, MediaFrames), InferenceError> {
    if is_image(path) {
        // The video engine reads stills too (PNG, JPEG, WebP, ...), one frame at full size.
        let mut still = Video::open(path)?;
        let frame = still.frame_index(0, FrameSpec::native_rgb())?;
        let image = rgb_image(path, frame.width, frame.height, &frame.pixels)?;
        return Ok((
            PromptMedia::Image(image),
            MediaFrames {
                path: path.to_path_buf(),
                encoder: None,
                frames: vec![FrameRef {
                    index: 0,
                    time: 0.0,
                    end: 0.0,
                }],
            },
        ));
    }
    let kind = runtime.video_encoder;
    let DecodedPlan {
        timeline,
        plan,
        frames,
        ..
    } = decode_planned(path, known, kind, settings, cancel, progress)?;
    progress("encoding video", 0, 1);
    let prepared = plan
        .prepare(
            &timeline,
            &frames,
            settings,
            processor,
            runtime.mavors.as_ref(),
            runtime.model.device(),
        )
        .map_err(|e| InferenceError::Media {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let origin = timeline.frame_times[0];
    let placed = MediaFrames {
        path: path.to_path_buf(),
        encoder: Some(kind),
        frames: prepared
            .spans
            .iter()
            .map(|&FrameSpan { frame, start, end }| FrameRef {
                index: frame,
                time: start - origin,
                end: end - origin,
            })
            .collect(),
    };
    Ok((PromptMedia::Video(prepared), placed))
}

/// Chat-template tokens around a question (system turn, role markers, vision start/end), an
/// over-estimate for the default template.
const TEMPLATE_TOKENS: usize = 40;
/// Tokens announcing one SlowFast frame or Mavors chunk: `<|frame|>`, its time, fast markers.
const STEP_MARKUP_TOKENS: usize = 7;

/// What a question about one video will cost, worked out from the video's frame index before
/// any frame is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PromptEstimate {
    pub visual: keye_model::video::VisualEstimate,
    /// Prompt tokens: visual tokens, frame markup, the question and the chat template.
    pub shape: PromptShape,
}

/// Plans `path` with `kind` under `settings` (already budgeted) and estimates the prompt a
/// question of `question_tokens` tokens about it becomes.
pub fn estimate_video_prompt(
    path: &Path,
    kind: VideoEncoderKind,
    settings: &VideoPlanSettings,
    question_tokens: usize,
    max_new_tokens: usize,
) -> Result<PromptEstimate, InferenceError> {
    let video = Video::open(path)?;
    estimate_prompt(
        &video_timeline(&video),
        path,
        kind,
        settings,
        question_tokens,
        max_new_tokens,
    )
}

/// [`estimate_video_prompt`] on `path`'s frame timeline.
fn estimate_prompt(
    timeline: &VideoTimeline,
    path: &Path,
    kind: VideoEncoderKind,
    settings: &VideoPlanSettings,
    question_tokens: usize,
    max_new_tokens: usize,
) -> Result<PromptEstimate, InferenceError> {
    let plan = VideoPlan::new(kind, timeline, settings).map_err(|e| InferenceError::Media {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let visual = plan
        .visual_estimate(timeline, settings)
        .map_err(|e| InferenceError::Media {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let markup = match kind {
        VideoEncoderKind::Keye => 0,
        VideoEncoderKind::Keye15 | VideoEncoderKind::Mavors => STEP_MARKUP_TOKENS * visual.steps,
    };
    // Mavors chunks are encoded outside Keye's tower; count their patches all the same, the IVE
    // runs the same tower over them.
    Ok(PromptEstimate {
        visual,
        shape: PromptShape {
            prompt_tokens: visual.tokens + markup + question_tokens + TEMPLATE_TOKENS,
            max_new_tokens,
            vision_patches: visual.patches,
            largest_vision_block: visual.largest_block,
        },
    })
}

impl LoadedModel {
    /// [`estimate_video_prompt`] for a question to this model about `video` (planned on its
    /// frame index, without reading the file) under `budget`, with the memory it needs and
    /// whether the budget or free memory refuses it.
    pub fn estimate_question(
        &self,
        video: &IndexedVideo,
        question: &str,
        budget: &VisualBudget,
        max_new_tokens: usize,
    ) -> Result<(PromptEstimate, MemoryEstimate, Option<Refusal>), InferenceError> {
        let runtime = &self.runtime;
        let mut settings = runtime.video_settings.clone();
        let mut processor = runtime.processor.clone();
        budget.apply(&mut settings, &mut processor);
        let question_tokens = runtime
            .tokenizer
            .encode(question)
            .map(|ids| ids.len())
            .unwrap_or(question.len());
        let estimate = estimate_prompt(
            &indexed_timeline(video),
            video.path(),
            runtime.video_encoder,
            &settings,
            question_tokens,
            max_new_tokens,
        )?;
        let memory = self.estimate(estimate.shape);
        let refusal = budget.check(estimate.visual.tokens).err().or_else(|| {
            // CPU only: on a GPU, system memory says nothing about the device's.
            let free = self
                .free_after_load
                .map(|f| available_memory().unwrap_or(f))?;
            memory.check_fits(free).err()
        });
        Ok((estimate, memory, refusal))
    }
}

/// The plan an encoder makes for a video, without a model: what `plan` prints.
pub fn plan_video(
    path: &Path,
    kind: VideoEncoderKind,
    settings: &VideoPlanSettings,
) -> Result<(VideoTimeline, VideoPlan, Vec<PlanChunk>), InferenceError> {
    let video = Video::open(path)?;
    let timeline = video_timeline(&video);
    let plan = VideoPlan::new(kind, &timeline, settings).map_err(|e| InferenceError::Media {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let chunks = plan.chunks(&timeline);
    Ok((timeline, plan, chunks))
}

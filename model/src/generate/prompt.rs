//! A prompt ready for the decoder: token ids, vision inputs, and where each vision token sits in
//! the prompt and on its media's merged grid, so attention can be mapped back to (media, frame,
//! row, col). The thinking switch is the literal `/think` or `/no_think` the model card asks for
//! at the end of the last user text.

use candle_core::{Device, Tensor};
use image::RgbImage;
use serde::Serialize;

pub use crate::media::{MediaGrid, MediaKind, VisionTokenMap, VisionTokenRef};
use crate::{
    chat::{
        ChatMessage, ContentPart, MessageContent, VideoPlaceholder, expand_placeholders,
        render_chat,
    },
    error::{Error, Result},
    keye::{EncodedVideos, Grid, KeyeInputs, KeyeModel, VisionBatch},
    preprocess::{self, ImageProcessorConfig, Patches},
    tokenizer::KeyeTokenizer,
    video::{PreparedVideo, VideoVision},
};

/// Keye-VL's thinking switch (Qwen3 style).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ThinkingMode {
    /// Nothing appended: the model decides (it may write `<analysis>` first).
    #[default]
    Auto,
    /// `/think`: reason in `<think>…</think>` before answering.
    Think,
    /// `/no_think`: answer directly.
    NoThink,
}

impl ThinkingMode {
    /// The text appended to the last user message.
    pub fn marker(self) -> &'static str {
        match self {
            ThinkingMode::Auto => "",
            ThinkingMode::Think => "/think",
            ThinkingMode::NoThink => "/no_think",
        }
    }

    /// Appends the marker to the last user message's text (adding a text part if it has none).
    pub fn apply(self, messages: &mut [ChatMessage]) -> Result<()> {
        if self == ThinkingMode::Auto {
            return Ok(());
        }
        let last_user = messages
            .iter_mut()
            .rev()
            .find(|m| m.role == "user")
            .ok_or_else(|| Error::Prompt("a thinking mode needs a user message".into()))?;
        match &mut last_user.content {
            MessageContent::Text(text) => text.push_str(self.marker()),
            MessageContent::Parts(parts) => {
                match parts.iter_mut().rev().find_map(|p| match p {
                    ContentPart::Text { text } => Some(text),
                    _ => None,
                }) {
                    Some(text) => text.push_str(self.marker()),
                    None => parts.push(ContentPart::Text {
                        text: self.marker().into(),
                    }),
                }
            }
        }
        Ok(())
    }
}

/// Inputs for generation from any encoder: the Keye model inputs plus the vision-token map.
#[derive(Debug, Clone)]
pub struct PreparedPrompt {
    pub inputs: KeyeInputs,
    pub vision: VisionTokenMap,
    /// The rendered chat text before placeholder expansion (for logs and the GUI).
    pub text: String,
}

/// One image or video of a prompt, in the order of the chat's image and video parts.
#[derive(Debug, Clone)]
pub enum PromptMedia {
    Image(RgbImage),
    /// A video already sampled and prepared for the model's encoder.
    Video(PreparedVideo),
}

/// Builds a prompt from chat messages whose image and video parts are `media` (each kind in
/// order): the processor's template, the thinking switch, image preprocessing, placeholder
/// expansion, tokenization, and the vision inputs for the decoder.
pub fn prepare_prompt(
    model: &KeyeModel,
    tokenizer: &KeyeTokenizer,
    processor: &ImageProcessorConfig,
    messages: &[ChatMessage],
    media: Vec<PromptMedia>,
    thinking: ThinkingMode,
) -> Result<PreparedPrompt> {
    let mut messages = messages.to_vec();
    thinking.apply(&mut messages)?;
    let text = render_chat(&messages, tokenizer.tokens(), true);
    let merge = model.config().vision.spatial_merge_size;
    let device = model.device();

    let mut image_patches = Vec::new();
    let mut videos = Vec::new();
    for item in media {
        match item {
            PromptMedia::Image(image) => {
                image_patches.push(preprocess::preprocess_image(&image, processor)?)
            }
            PromptMedia::Video(video) => videos.push(video),
        }
    }
    let grids: Vec<Grid> = image_patches.iter().map(|p| p.grid_thw).collect();
    let tokens_per_image: Vec<usize> = grids
        .iter()
        .map(|g| g.iter().product::<usize>() / (merge * merge))
        .collect();
    let markers = tokenizer.tokens().slowfast.as_ref();
    let placeholders: Vec<VideoPlaceholder> = videos
        .iter()
        .map(|v| match (&v.placeholder, markers) {
            // Without frame markers (the Preview's tokenizer) chunks go in as bare tokens.
            (VideoPlaceholder::SlowFast(frames), None) => {
                VideoPlaceholder::Tokens(frames.iter().map(|f| f.tokens).sum())
            }
            (placeholder, _) => placeholder.clone(),
        })
        .collect();
    let expanded = expand_placeholders(
        &text,
        tokenizer.tokens(),
        markers,
        &tokens_per_image,
        &placeholders,
    )?;
    let input_ids = tokenizer.encode(&expanded)?;

    let image_grids = grids
        .iter()
        .map(|&[t, h, w]| MediaGrid {
            kind: MediaKind::Image,
            frames: vec![(h / merge, w / merge); t],
        })
        .collect();
    let video_grids = videos.iter().map(|v| v.grid.clone()).collect();
    let tokens = &model.config().tokens;
    let vision = VisionTokenMap::new(
        &input_ids,
        tokens.image,
        tokens.video,
        image_grids,
        video_grids,
    )?;

    let images = if image_patches.is_empty() {
        None
    } else {
        Some(VisionBatch::images(
            patches_tensor(image_patches, processor, device)?,
            grids,
        ))
    };
    let (videos, encoded_videos) = video_inputs(videos, processor, device)?;
    Ok(PreparedPrompt {
        inputs: KeyeInputs {
            input_ids,
            images,
            videos,
            encoded_videos,
        },
        vision,
        text,
    })
}

/// Patches of several inputs as one `(N, 3, p, p)` tensor, in order.
fn patches_tensor(
    patches: Vec<Patches>,
    processor: &ImageProcessorConfig,
    device: &Device,
) -> Result<Tensor> {
    let p = processor.patch_size as usize;
    let n: usize = patches.iter().map(|x| x.num_patches()).sum();
    let data: Vec<f32> = patches.into_iter().flat_map(|x| x.pixel_values).collect();
    Ok(Tensor::from_vec(data, (n, 3, p, p), device)?)
}

/// The videos' vision inputs: pixels for Keye's tower or encoded tokens, one kind per prompt.
fn video_inputs(
    videos: Vec<PreparedVideo>,
    processor: &ImageProcessorConfig,
    device: &Device,
) -> Result<(Option<VisionBatch>, Option<EncodedVideos>)> {
    if videos.is_empty() {
        return Ok((None, None));
    }
    let mut all_patches = Vec::new();
    let mut pixel_blocks = Vec::new();
    let mut tokens = Vec::new();
    let mut token_blocks = Vec::new();
    for video in videos {
        match video.vision {
            VideoVision::Pixels { patches, blocks } => {
                all_patches.extend(patches);
                pixel_blocks.extend(blocks);
            }
            VideoVision::Encoded {
                tokens: rows,
                blocks,
            } => {
                tokens.push(rows);
                token_blocks.extend(blocks);
            }
        }
    }
    match (all_patches.is_empty(), tokens.is_empty()) {
        (false, true) => Ok((
            Some(VisionBatch {
                pixel_values: patches_tensor(all_patches, processor, device)?,
                blocks: pixel_blocks,
            }),
            None,
        )),
        (true, false) => Ok((
            None,
            Some(EncodedVideos {
                tokens: Tensor::cat(&tokens, 0)?,
                blocks: token_blocks,
            }),
        )),
        _ => Err(Error::Input(
            "the videos of one prompt must all come from the same encoder".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_map_to_media_frame_row_col_in_prompt_order() {
        // ids: text, 2x3 image (6 tokens), text, video of 2 frames of 1x2 (4 tokens).
        let (img, vid) = (9, 8);
        let mut ids = vec![1];
        ids.extend([img; 6]);
        ids.push(2);
        ids.extend([vid; 4]);
        let map = VisionTokenMap::new(
            &ids,
            img,
            vid,
            vec![MediaGrid {
                kind: MediaKind::Image,
                frames: vec![(2, 3)],
            }],
            vec![MediaGrid {
                kind: MediaKind::Video,
                frames: vec![(1, 2), (1, 2)],
            }],
        )
        .unwrap();
        assert_eq!(map.positions, vec![1, 2, 3, 4, 5, 6, 8, 9, 10, 11]);
        let r = |media, frame, row, col| VisionTokenRef {
            media,
            frame,
            row,
            col,
        };
        assert_eq!(map.refs[4], r(0, 0, 1, 1));
        assert_eq!(map.refs[5], r(0, 0, 1, 2));
        assert_eq!(map.refs[8], r(1, 1, 0, 0));
        assert_eq!(map.refs[9], r(1, 1, 0, 1));
        assert!(VisionTokenMap::new(&ids[..5], img, vid, map.media[..1].to_vec(), vec![]).is_err());
    }

    #[test]
    fn thinking_marker_goes_after_the_last_user_text() {
        let mut messages: Vec<ChatMessage> = serde_json::from_str(
            r#"[{"role":"user","content":"a"},{"role":"assistant","content":"b"},
                {"role":"user","content":[{"type":"text","text":"Q"},{"type":"image"}]}]"#,
        )
        .unwrap();
        ThinkingMode::NoThink.apply(&mut messages).unwrap();
        assert_eq!(
            messages[2].content,
            MessageContent::Parts(vec![
                ContentPart::Text {
                    text: "Q/no_think".into()
                },
                ContentPart::Image
            ])
        );
        assert_eq!(messages[0].content, MessageContent::Text("a".into()));
    }
}

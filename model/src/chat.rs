//! The processor chat template of Keye-VL (`chat_template.json`, the same format for 1.5) and the
//! processor's placeholder expansion: each `<|image_pad|>` becomes one token per merged patch;
//! each `<|video_pad|>` becomes the Preview's run of video tokens or the 1.5 per-frame layout
//! `<|frame|>ts` + (slow: N pads | fast: `<|fast_start|>` N pads `<|fast_end|>`).

use serde::Deserialize;

use crate::{
    error::{Error, Result},
    tokenizer::{PromptTokens, SlowFastTokens},
};

/// One chat turn as in the Hugging Face message format.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ChatMessage {
    pub role: String,
    pub content: MessageContent,
}

/// Plain text, or a list of image / video / text parts.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

/// A part of a multimodal message; unknown extra fields (paths, sizes) are ignored here.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    #[serde(alias = "image_url")]
    Image,
    Video,
    Text {
        text: String,
    },
}

/// Renders `messages` exactly as the processor chat template does (`add_vision_id` off).
pub fn render_chat(
    messages: &[ChatMessage],
    tokens: &PromptTokens,
    add_generation_prompt: bool,
) -> String {
    let mut out = String::new();
    for (i, message) in messages.iter().enumerate() {
        if i == 0 && message.role != "system" {
            out.push_str("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n");
        }
        out.push_str("<|im_start|>");
        out.push_str(&message.role);
        out.push('\n');
        match &message.content {
            MessageContent::Text(text) => out.push_str(text),
            MessageContent::Parts(parts) => {
                for part in parts {
                    match part {
                        ContentPart::Image => {
                            out.push_str(&tokens.vision_start);
                            out.push_str(&tokens.image_pad);
                            out.push_str(&tokens.vision_end);
                        }
                        ContentPart::Video => {
                            out.push_str(&tokens.vision_start);
                            out.push_str(&tokens.video_pad);
                            out.push_str(&tokens.vision_end);
                        }
                        ContentPart::Text { text } => out.push_str(text),
                    }
                }
            }
        }
        out.push_str("<|im_end|>\n");
    }
    if add_generation_prompt {
        out.push_str("<|im_start|>assistant\n");
    }
    out
}

/// How one video's single `<|video_pad|>` is expanded.
#[derive(Debug, Clone, PartialEq)]
pub enum VideoPlaceholder {
    /// Preview: T*h*w/merge² video tokens, no timestamps.
    Tokens(usize),
    /// 1.5 SlowFast: one entry per sampled frame, in time order.
    SlowFast(Vec<FramePlaceholder>),
}

/// One 1.5 video frame in the prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct FramePlaceholder {
    /// Seconds, printed as `format(ts, ".1f")`; None prints no number.
    pub timestamp: Option<f64>,
    pub fast: bool,
    /// Merged tokens of the frame: h*w/merge².
    pub tokens: usize,
}

/// Replaces the i-th image placeholder by `images[i]` placeholder tokens and the i-th video
/// placeholder by the expansion of `videos[i]`, as the processor does before tokenizing.
pub fn expand_placeholders(
    prompt: &str,
    tokens: &PromptTokens,
    slowfast: Option<&SlowFastTokens>,
    images: &[usize],
    videos: &[VideoPlaceholder],
) -> Result<String> {
    let mut out = String::with_capacity(prompt.len());
    let (mut next_image, mut next_video) = (0, 0);
    let mut rest = prompt;
    loop {
        let image_at = rest.find(&tokens.image_pad);
        let video_at = rest.find(&tokens.video_pad);
        let (at, is_image) = match (image_at, video_at) {
            (Some(i), Some(v)) if i < v => (i, true),
            (Some(i), None) => (i, true),
            (_, Some(v)) => (v, false),
            (None, None) => break,
        };
        out.push_str(&rest[..at]);
        if is_image {
            let n = images.get(next_image).ok_or_else(|| {
                Error::Prompt(format!(
                    "more image placeholders than the {} images given",
                    images.len()
                ))
            })?;
            out.push_str(&tokens.image_pad.repeat(*n));
            next_image += 1;
            rest = &rest[at + tokens.image_pad.len()..];
        } else {
            let video = videos.get(next_video).ok_or_else(|| {
                Error::Prompt(format!(
                    "more video placeholders than the {} videos given",
                    videos.len()
                ))
            })?;
            match video {
                VideoPlaceholder::Tokens(n) => out.push_str(&tokens.video_pad.repeat(*n)),
                VideoPlaceholder::SlowFast(frames) => {
                    let markers = slowfast.ok_or_else(|| {
                        Error::Prompt("a SlowFast video needs the <|frame|> / <|fast_start|> / <|fast_end|> tokens".into())
                    })?;
                    for frame in frames {
                        out.push_str(&markers.frame);
                        if let Some(ts) = frame.timestamp {
                            out.push_str(&format!("{ts:.1}"));
                        }
                        if frame.fast {
                            out.push_str(&markers.fast_start);
                        }
                        out.push_str(&tokens.video_pad.repeat(frame.tokens));
                        if frame.fast {
                            out.push_str(&markers.fast_end);
                        }
                    }
                }
            }
            next_video += 1;
            rest = &rest[at + tokens.video_pad.len()..];
        }
    }
    out.push_str(rest);
    if next_image != images.len() || next_video != videos.len() {
        return Err(Error::Prompt(format!(
            "the prompt has {next_image} image and {next_video} video placeholders, but {} \
             images and {} videos were given",
            images.len(),
            videos.len()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> PromptTokens {
        PromptTokens {
            image_pad: "<|image_pad|>".into(),
            video_pad: "<|video_pad|>".into(),
            vision_start: "<|vision_start|>".into(),
            vision_end: "<|vision_end|>".into(),
            slowfast: Some(SlowFastTokens {
                frame: "<|frame|>".into(),
                fast_start: "<|fast_start|>".into(),
                fast_end: "<|fast_end|>".into(),
            }),
        }
    }

    #[test]
    fn template_adds_default_system_turn_and_generation_prompt() {
        let messages: Vec<ChatMessage> = serde_json::from_str(
            r#"[{"role":"user","content":[{"type":"image"},{"type":"text","text":"Hi"}]}]"#,
        )
        .unwrap();
        assert_eq!(
            render_chat(&messages, &tokens(), true),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n\
             <|vision_start|><|image_pad|><|vision_end|>Hi<|im_end|>\n<|im_start|>assistant\n"
        );
        let messages: Vec<ChatMessage> = serde_json::from_str(
            r#"[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]"#,
        )
        .unwrap();
        assert_eq!(
            render_chat(&messages, &tokens(), false),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        );
    }

    #[test]
    fn slowfast_expansion_writes_frames_timestamps_and_fast_markers() {
        let t = tokens();
        let frames = vec![
            FramePlaceholder {
                timestamp: Some(0.0),
                fast: false,
                tokens: 2,
            },
            FramePlaceholder {
                timestamp: Some(0.25),
                fast: true,
                tokens: 1,
            },
            FramePlaceholder {
                timestamp: None,
                fast: true,
                tokens: 1,
            },
        ];
        let out = expand_placeholders(
            "a<|image_pad|>b<|video_pad|>c",
            &t,
            t.slowfast.as_ref(),
            &[3],
            &[VideoPlaceholder::SlowFast(frames)],
        )
        .unwrap();
        // 0.25 prints as 0.2: round-half-to-even on the exact binary value, like Python.
        assert_eq!(
            out,
            "a<|image_pad|><|image_pad|><|image_pad|>b<|frame|>0.0<|video_pad|><|video_pad|>\
             <|frame|>0.2<|fast_start|><|video_pad|><|fast_end|>\
             <|frame|><|fast_start|><|video_pad|><|fast_end|>c"
        );
    }

    #[test]
    fn placeholder_count_mismatch_is_an_error() {
        let t = tokens();
        assert!(expand_placeholders("<|image_pad|>", &t, None, &[], &[]).is_err());
        assert!(expand_placeholders("text", &t, None, &[4], &[]).is_err());
        assert!(
            expand_placeholders(
                "<|video_pad|>",
                &t,
                None,
                &[],
                &[VideoPlaceholder::Tokens(2)]
            )
            .is_ok()
        );
    }
}

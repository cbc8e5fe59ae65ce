//! The checkpoint's `tokenizer.json` plus the placeholder strings the chat template and the
//! processor need. Ids come from config.json and the tokenizer, never from constants, so any
//! vocabulary works (the tiny test models use ids around 1000).

use std::path::{Path, PathBuf};

use crate::{
    config::KeyeConfig,
    error::{Error, Result},
};

/// Spellings of the tokens the prompt is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptTokens {
    pub image_pad: String,
    pub video_pad: String,
    pub vision_start: String,
    pub vision_end: String,
    /// 1.5 SlowFast markers, when the vocabulary has them.
    pub slowfast: Option<SlowFastTokens>,
}

/// `<|frame|>`, `<|fast_start|>`, `<|fast_end|>` (the 1.5 processor's attribute defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlowFastTokens {
    pub frame: String,
    pub fast_start: String,
    pub fast_end: String,
}

/// The 1.5 processor's names for its SlowFast marker tokens.
const SLOWFAST_NAMES: [&str; 3] = ["<|frame|>", "<|fast_start|>", "<|fast_end|>"];

/// `tokenizers`' incremental decoder over a [`KeyeTokenizer`]'s vocabulary.
pub type DecodeStream<'t> = tokenizers::DecodeStream<
    't,
    tokenizers::models::ModelWrapper,
    tokenizers::normalizers::NormalizerWrapper,
    tokenizers::pre_tokenizers::PreTokenizerWrapper,
    tokenizers::processors::PostProcessorWrapper,
    tokenizers::decoders::DecoderWrapper,
>;

/// A Keye-VL tokenizer.
#[derive(Clone)]
pub struct KeyeTokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
    tokens: PromptTokens,
}

impl std::fmt::Debug for KeyeTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyeTokenizer")
            .field("path", &self.path)
            .field("tokens", &self.tokens)
            .finish()
    }
}

impl KeyeTokenizer {
    /// Loads `dir/tokenizer.json` and resolves the placeholder spellings of `config`'s ids.
    pub fn from_dir(dir: &Path, config: &KeyeConfig) -> Result<Self> {
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            return Err(Error::io(
                &path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "file not found"),
            ));
        }
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        Self::from_bytes(&bytes, &path, config)
    }

    /// A tokenizer from the bytes of a `tokenizer.json`; `path` names it in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path, config: &KeyeConfig) -> Result<Self> {
        let path = path.to_path_buf();
        let inner = tokenizers::Tokenizer::from_bytes(bytes).map_err(|e| Error::Tokenizer {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let spelled = |id: u32, what: &str| {
            inner.id_to_token(id).ok_or_else(|| Error::Tokenizer {
                path: path.clone(),
                message: format!("config.json's {what} id {id} is not in the vocabulary"),
            })
        };
        let [frame, fast_start, fast_end] = SLOWFAST_NAMES.map(|t| inner.token_to_id(t));
        let slowfast = match (frame, fast_start, fast_end) {
            (Some(_), Some(_), Some(_)) => Some(SlowFastTokens {
                frame: SLOWFAST_NAMES[0].into(),
                fast_start: SLOWFAST_NAMES[1].into(),
                fast_end: SLOWFAST_NAMES[2].into(),
            }),
            _ => None,
        };
        let tokens = PromptTokens {
            image_pad: spelled(config.tokens.image, "image_token_id")?,
            video_pad: spelled(config.tokens.video, "video_token_id")?,
            vision_start: spelled(config.tokens.vision_start, "vision_start_token_id")?,
            vision_end: spelled(config.tokens.vision_end, "vision_end_token_id")?,
            slowfast,
        };
        Ok(Self {
            inner,
            path,
            tokens,
        })
    }

    pub fn tokens(&self) -> &PromptTokens {
        &self.tokens
    }

    /// The SlowFast markers, or an error naming the tokenizer when a 1.5 video needs them.
    pub fn slowfast_tokens(&self) -> Result<&SlowFastTokens> {
        self.tokens
            .slowfast
            .as_ref()
            .ok_or_else(|| Error::MissingToken {
                path: self.path.clone(),
                token: SLOWFAST_NAMES.join(" "),
                why: "a Keye-VL-1.5 SlowFast video prompt needs",
            })
    }

    /// Token ids of an already rendered and expanded prompt (no BOS or other additions).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode(text, false)
            .map_err(|e| Error::Tokenizer {
                path: self.path.clone(),
                message: e.to_string(),
            })?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Text of `ids`; special tokens are kept so `<think>` / `<|im_end|>` stay visible.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, false).map_err(|e| Error::Tokenizer {
            path: self.path.clone(),
            message: e.to_string(),
        })
    }

    /// Decodes ids one at a time into text pieces, special tokens kept as in [`Self::decode`].
    pub fn decode_stream(&self) -> DecodeStream<'_> {
        self.inner.decode_stream(false)
    }

    /// A `tokenizers` error as ours, naming the tokenizer file.
    pub(crate) fn error(&self, error: impl std::fmt::Display) -> Error {
        Error::Tokenizer {
            path: self.path.clone(),
            message: error.to_string(),
        }
    }

    /// Id of a token spelled exactly `token`.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }
}

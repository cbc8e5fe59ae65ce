//! Mengzi-BERT's WordPiece tokenizer: `tokenizer.json` when the checkpoint has one, else the same
//! pipeline built from `vocab.txt` (BERT normalizer with Chinese characters split out, BERT
//! pre-tokenizer, `[CLS] A [SEP]` / `[CLS] A [SEP] B [SEP]`). Offsets are in characters of the
//! text given, so findings point at the character an annotator sees.

use std::path::{Path, PathBuf};

use tokenizers::{
    AddedToken, Tokenizer, models::wordpiece::WordPiece, normalizers::BertNormalizer,
    pre_tokenizers::bert::BertPreTokenizer, processors::bert::BertProcessing,
};

use crate::error::{Error, Result};

/// The special tokens BERT needs, by spelling.
const SPECIAL_TOKENS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// One text (or pair) as model input.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
    /// Per token, its span in characters of the text it came from ([CLS]/[SEP]: (0, 0)).
    pub offsets: Vec<(usize, usize)>,
    /// Per token, whether it was added by the template ([CLS], [SEP]).
    pub special: Vec<bool>,
}

/// Ids of the special tokens, looked up in the vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialIds {
    pub pad: u32,
    pub unk: u32,
    pub cls: u32,
    pub sep: u32,
    pub mask: u32,
}

#[derive(Clone)]
pub struct MengziTokenizer {
    inner: Tokenizer,
    path: PathBuf,
    special: SpecialIds,
}

impl std::fmt::Debug for MengziTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MengziTokenizer")
            .field("path", &self.path)
            .field("special", &self.special)
            .finish()
    }
}

/// The parts of `tokenizer_config.json` that change the `vocab.txt` pipeline.
#[derive(serde::Deserialize)]
struct TokenizerConfig {
    #[serde(default = "yes")]
    do_lower_case: bool,
    #[serde(default = "yes")]
    tokenize_chinese_chars: bool,
    #[serde(default)]
    strip_accents: Option<bool>,
}

fn yes() -> bool {
    true
}

impl MengziTokenizer {
    /// `dir/tokenizer.json`, else `dir/vocab.txt` (with `tokenizer_config.json`'s casing when
    /// present); an error names the missing or broken file.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let json = dir.join("tokenizer.json");
        if json.is_file() {
            return Self::from_tokenizer_json(&json);
        }
        let vocab = dir.join("vocab.txt");
        if vocab.is_file() {
            let config = dir.join("tokenizer_config.json");
            let config: Option<TokenizerConfig> = if config.is_file() {
                Some(crate::error::read_json(&config)?)
            } else {
                None
            };
            return Self::from_vocab_txt(&vocab, config);
        }
        Err(Error::io(
            dir.join("tokenizer.json"),
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "file not found, and no vocab.txt beside it either",
            ),
        ))
    }

    pub fn from_tokenizer_json(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let inner = Tokenizer::from_bytes(&bytes).map_err(|e| Error::Tokenizer {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::new(inner, path)
    }

    /// The BERT pipeline over a `vocab.txt` (one token a line, id = line number).
    fn from_vocab_txt(path: &Path, config: Option<TokenizerConfig>) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let error = |message: String| Error::Tokenizer {
            path: path.to_path_buf(),
            message,
        };
        let vocab = WordPiece::read_bytes(&bytes).map_err(|e| error(e.to_string()))?;
        let model = WordPiece::builder()
            .vocab(vocab)
            .unk_token("[UNK]".into())
            .continuing_subword_prefix("##".into())
            .max_input_chars_per_word(100)
            .build()
            .map_err(|e| error(e.to_string()))?;
        let config = config.unwrap_or(TokenizerConfig {
            do_lower_case: true,
            tokenize_chinese_chars: true,
            strip_accents: None,
        });
        let mut inner = Tokenizer::new(model);
        inner
            .with_normalizer(Some(BertNormalizer::new(
                true,
                config.tokenize_chinese_chars,
                config.strip_accents,
                config.do_lower_case,
            )))
            .map_err(|e| error(e.to_string()))?;
        inner.with_pre_tokenizer(Some(BertPreTokenizer));
        let id = |token: &str| {
            inner
                .token_to_id(token)
                .ok_or_else(|| error(format!("the vocabulary has no {token}")))
        };
        let (sep, cls) = (id("[SEP]")?, id("[CLS]")?);
        inner.with_post_processor(Some(BertProcessing::new(
            ("[SEP]".into(), sep),
            ("[CLS]".into(), cls),
        )));
        let specials: Vec<AddedToken> = SPECIAL_TOKENS
            .iter()
            .map(|t| AddedToken::from(*t, true))
            .collect();
        inner
            .add_special_tokens(specials)
            .map_err(|e| error(e.to_string()))?;
        Self::new(inner, path)
    }

    fn new(inner: Tokenizer, path: &Path) -> Result<Self> {
        let id = |token: &str| {
            inner.token_to_id(token).ok_or_else(|| Error::MissingToken {
                path: path.to_path_buf(),
                token: token.to_string(),
                why: "a BERT masked language model needs",
            })
        };
        let special = SpecialIds {
            pad: id("[PAD]")?,
            unk: id("[UNK]")?,
            cls: id("[CLS]")?,
            sep: id("[SEP]")?,
            mask: id("[MASK]")?,
        };
        Ok(Self {
            inner,
            path: path.to_path_buf(),
            special,
        })
    }

    pub fn special(&self) -> SpecialIds {
        self.special
    }

    /// The file the tokenizer was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// `[CLS] text [SEP]`.
    pub fn encode(&self, text: &str) -> Result<Encoded> {
        self.encode_input(text.into())
    }

    /// `[CLS] first [SEP] second [SEP]`, type ids 0 then 1. Offsets are within each text.
    pub fn encode_pair(&self, first: &str, second: &str) -> Result<Encoded> {
        self.encode_input((first, second).into())
    }

    fn encode_input(&self, input: tokenizers::EncodeInput) -> Result<Encoded> {
        let encoding =
            self.inner
                .encode_char_offsets(input, true)
                .map_err(|e| Error::Tokenizer {
                    path: self.path.clone(),
                    message: e.to_string(),
                })?;
        Ok(Encoded {
            ids: encoding.get_ids().to_vec(),
            type_ids: encoding.get_type_ids().to_vec(),
            offsets: encoding.get_offsets().to_vec(),
            special: encoding
                .get_special_tokens_mask()
                .iter()
                .map(|&m| m == 1)
                .collect(),
        })
    }

    /// The spelling of a token id.
    pub fn token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }
}

//! The demo model's own tokenizer: a byte-level BPE in Qwen2's layout (NFC, Qwen's split regex,
//! byte-level pre-tokenizer and decoder) trained with the `tokenizers` crate on the generated
//! text, with the chat and vision special tokens added after the learned vocabulary, as Keye-VL's
//! tokenizer has them. Written as `tokenizer.json` and `tokenizer_config.json`.

use std::path::Path;

use serde_json::{Value, json};
use tokenizers::{
    AddedToken, Tokenizer,
    models::{TrainerWrapper, bpe::BpeTrainerBuilder},
    pre_tokenizers::byte_level::ByteLevel,
};

/// Qwen2's pre-tokenizer split (contractions, letters with one leading non-letter, single
/// digits, punctuation runs, newlines, spaces).
const SPLIT_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Added tokens in id order after the learned vocabulary: (content, special). `<think>` and
/// `</think>` are not special, as in Qwen3, so they stay in decoded text; the `<analysis>` and
/// `<answer>` tags of Keye's output format get single tokens too.
pub const ADDED_TOKENS: [(&str, bool); 17] = [
    ("<|endoftext|>", true),
    ("<|im_start|>", true),
    ("<|im_end|>", true),
    ("<|vision_start|>", true),
    ("<|vision_end|>", true),
    ("<|vision_pad|>", true),
    ("<|image_pad|>", true),
    ("<|video_pad|>", true),
    ("<think>", false),
    ("</think>", false),
    ("<|frame|>", true),
    ("<|fast_start|>", true),
    ("<|fast_end|>", true),
    ("<analysis>", false),
    ("</analysis>", false),
    ("<answer>", false),
    ("</answer>", false),
];

/// Why the tokenizer could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("training the tokenizer: {0}")]
    Train(String),
    #[error("{path}: {message}")]
    Write { path: String, message: String },
}

/// Trains a BPE of `vocab_size` learned tokens (bytes included) on `texts`, then adds
/// [`ADDED_TOKENS`]. Special-token spellings inside `texts` are cut out before training.
pub fn train_tokenizer(texts: &[String], vocab_size: usize) -> Result<Tokenizer, TokenizerError> {
    let fail = |e: tokenizers::Error| TokenizerError::Train(e.to_string());
    let skeleton = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": SPLIT_REGEX}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}
        ]},
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                  "ignore_merges": false, "vocab": {}, "merges": []}
    });
    let mut tokenizer: Tokenizer = skeleton.to_string().parse().map_err(fail)?;
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
        .into();
    let pieces = texts.iter().flat_map(|text| split_specials(text));
    tokenizer.train(&mut trainer, pieces).map_err(fail)?;
    let added: Vec<AddedToken> = ADDED_TOKENS
        .iter()
        .map(|&(content, special)| AddedToken::from(content, special).normalized(false))
        .collect();
    // One at a time, in order: ids follow the learned vocabulary in ADDED_TOKENS order.
    for token in added {
        if token.special {
            tokenizer.add_special_tokens([token]).map_err(fail)?;
        } else {
            tokenizer.add_tokens([token]).map_err(fail)?;
        }
    }
    Ok(tokenizer)
}

/// `text` without the spellings of special tokens (they are added, not learned).
fn split_specials(text: &str) -> Vec<String> {
    let mut pieces = vec![text.to_string()];
    for (content, _) in ADDED_TOKENS {
        pieces = pieces
            .iter()
            .flat_map(|p| p.split(content).map(str::to_string).collect::<Vec<_>>())
            .filter(|p| !p.is_empty())
            .collect();
    }
    pieces
}

/// The processor's chat template (the format `keye_model::chat::render_chat` renders).
const CHAT_TEMPLATE: &str = "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] == 'video' or 'video' in content %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/// Writes `tokenizer.json` and `tokenizer_config.json` (Qwen2Tokenizer layout) into `dir`.
pub fn write_tokenizer_files(tokenizer: &Tokenizer, dir: &Path) -> Result<(), TokenizerError> {
    let path = dir.join("tokenizer.json");
    tokenizer
        .save(&path, true)
        .map_err(|e| TokenizerError::Write {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    let mut decoder = serde_json::Map::new();
    for (content, special) in ADDED_TOKENS {
        let id = tokenizer
            .token_to_id(content)
            .ok_or_else(|| TokenizerError::Train(format!("{content} was not added")))?;
        decoder.insert(
            id.to_string(),
            json!({"content": content, "lstrip": false, "normalized": false, "rstrip": false,
                   "single_word": false, "special": special}),
        );
    }
    let specials: Vec<&str> = ADDED_TOKENS
        .iter()
        .filter(|(c, special)| *special && *c != "<|endoftext|>")
        .map(|(c, _)| *c)
        .collect();
    let config = json!({
        "add_prefix_space": false,
        "added_tokens_decoder": Value::Object(decoder),
        "additional_special_tokens": specials,
        "bos_token": null,
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": false,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "extra_special_tokens": {},
        "model_max_length": 32768,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": false,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": null,
    });
    let path = dir.join("tokenizer_config.json");
    let text = serde_json::to_string_pretty(&config).map_err(|e| TokenizerError::Write {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    std::fs::write(&path, text + "\n").map_err(|e| TokenizerError::Write {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_become_single_tokens_and_specials_follow_the_vocabulary() {
        let texts: Vec<String> = (0..200)
            .map(|i| {
                format!(
                    "<|im_start|>user\nWhat colour is the square?/think<|im_end|>\n\
                     <|im_start|>assistant\n<think>\nAt {}.5 s the square is red.\n</think>\n\nred<|im_end|>",
                    i % 4
                )
            })
            .collect();
        let tokenizer = train_tokenizer(&texts, 300).unwrap();
        let vocab = tokenizer.get_vocab_size(false);
        let first_added = tokenizer.token_to_id("<|endoftext|>").unwrap() as usize;
        assert!(first_added >= 256, "{first_added}");
        assert_eq!(
            tokenizer.token_to_id("<|fast_end|>"),
            Some(first_added as u32 + 12)
        );
        assert!(vocab <= first_added + ADDED_TOKENS.len());
        let ids = tokenizer
            .encode("What colour is the square", false)
            .unwrap();
        assert_eq!(ids.get_ids().len(), 5, "{:?}", ids.get_tokens());
        let text = "<|im_start|>assistant\n<think>\nAt 1.5 s\n</think>\n\nred<|im_end|>";
        let ids = tokenizer.encode(text, false).unwrap();
        assert_eq!(tokenizer.decode(ids.get_ids(), false).unwrap(), text);
    }
}

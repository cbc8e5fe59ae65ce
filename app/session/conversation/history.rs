//! Each video's conversation, kept across restarts in a JSON file per video (text only: the
//! attention capture is too large to keep).

use std::borrow::Borrow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use keye_ui::{
    AskTurn, GenerationTiming, ReasoningTrace, ThinkingChoice, TraceDelta, TracePhase, TraceStatus,
};
use serde::{Deserialize, Serialize};

/// A conversation as saved: text only (attention is too large to keep).
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct SavedConversation {
    video: PathBuf,
    turns: Vec<SavedTurn>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct SavedTurn {
    question: String,
    thinking: String,
    sections: Vec<SavedSection>,
    status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timing: Option<SavedTiming>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct SavedSection {
    phase: String,
    text: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct SavedTiming {
    prompt_tokens: usize,
    prefill_ms: f64,
    generated_tokens: usize,
    decode_ms: f64,
}

/// `<data dir>/conversations/<video name>-<hash of its full path>.json`: one file per video,
/// readable names, no clash between equally named videos in different folders.
pub fn history_file(data_dir: &Path, video: &Path) -> PathBuf {
    let dir = data_dir.join("conversations");
    let full = std::fs::canonicalize(video).unwrap_or_else(|_| video.to_path_buf());
    let hash = path_fingerprint(&full);
    let stem: String = video
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(48)
        .collect();
    dir.join(format!("{stem}-{hash:016x}.json"))
}

/// 64-bit FNV-1a of the path's bytes: stable across runs and Rust versions, unlike the std
/// hasher, so a video finds its history again.
fn path_fingerprint(path: &Path) -> u64 {
    use std::hash::Hasher as _;
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(path.as_os_str().as_encoded_bytes());
    hasher.finish()
}

pub fn load_history(file: &Path) -> Result<Vec<AskTurn>, String> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(format!(
                "Conversation history {}: cannot read it: {error}",
                file.display()
            ));
        }
    };
    let saved: SavedConversation = serde_json::from_str(&text).map_err(|error| {
        format!(
            "Conversation history {}: not a saved conversation ({error}); it is left as is",
            file.display()
        )
    })?;
    Ok(saved.turns.into_iter().map(restore_turn).collect())
}

fn restore_turn(saved: SavedTurn) -> AskTurn {
    let mut trace = ReasoningTrace::new();
    for section in saved.sections {
        let phase = match section.phase.as_str() {
            "analysis" => TracePhase::Analysis,
            "thinking" => TracePhase::Thinking,
            _ => TracePhase::Answer,
        };
        trace.push(TraceDelta::new(phase, section.text));
    }
    trace.set_status(match saved.status.as_str() {
        "stopped" => TraceStatus::Stopped,
        "failed" => TraceStatus::Failed(saved.error.unwrap_or_default()),
        // A turn saved while streaming (the app closed) ends where it stopped.
        "streaming" => TraceStatus::Stopped,
        _ => TraceStatus::Finished,
    });
    if let Some(t) = saved.timing {
        trace.set_timing(GenerationTiming {
            prompt_tokens: t.prompt_tokens,
            prefill: Duration::from_secs_f64(t.prefill_ms.max(0.0) / 1000.0),
            generated_tokens: t.generated_tokens,
            decode: Duration::from_secs_f64(t.decode_ms.max(0.0) / 1000.0),
        });
    }
    AskTurn {
        question: saved.question,
        thinking: match saved.thinking.as_str() {
            "think" => ThinkingChoice::Think,
            "no_think" => ThinkingChoice::NoThink,
            _ => ThinkingChoice::Auto,
        },
        trace,
    }
}

fn saved_turn(turn: &AskTurn) -> SavedTurn {
    let (status, error) = match turn.trace.status() {
        TraceStatus::Streaming => ("streaming", None),
        TraceStatus::Finished => ("finished", None),
        TraceStatus::Stopped => ("stopped", None),
        TraceStatus::Failed(message) => ("failed", Some(message.clone())),
    };
    SavedTurn {
        question: turn.question.clone(),
        thinking: match turn.thinking {
            ThinkingChoice::Auto => "auto",
            ThinkingChoice::Think => "think",
            ThinkingChoice::NoThink => "no_think",
        }
        .to_owned(),
        sections: turn
            .trace
            .sections()
            .iter()
            .map(|s| SavedSection {
                phase: match s.phase {
                    TracePhase::Analysis => "analysis",
                    TracePhase::Thinking => "thinking",
                    TracePhase::Answer => "answer",
                }
                .to_owned(),
                text: s.text.clone(),
            })
            .collect(),
        status: status.to_owned(),
        error,
        timing: turn.trace.timing().map(|t| SavedTiming {
            prompt_tokens: t.prompt_tokens,
            prefill_ms: t.prefill.as_secs_f64() * 1000.0,
            generated_tokens: t.generated_tokens,
            decode_ms: t.decode.as_secs_f64() * 1000.0,
        }),
    }
}

/// Writes the conversation atomically and durably (`haic::save::write_atomic`: temporary file,
/// fsync, rename, fsync of the folder), so a crash mid-write never leaves half a history.
pub fn save_history<T: Borrow<AskTurn>>(
    file: &Path,
    video: &Path,
    turns: &[T],
) -> Result<(), String> {
    let fail = |what: &str, error: &dyn std::fmt::Display| {
        format!(
            "Conversation history {}: cannot {what}: {error}",
            file.display()
        )
    };
    let saved = SavedConversation {
        video: video.to_path_buf(),
        turns: turns.iter().map(|turn| saved_turn(turn.borrow())).collect(),
    };
    let json = serde_json::to_string_pretty(&saved).map_err(|e| fail("encode it", &e))?;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| fail("create its folder", &e))?;
    }
    haic::save::write_atomic(file, json.as_bytes(), false).map_err(|e| match e {
        haic::Error::Io { error, .. } => fail("write it", &error),
        other => fail("write it", &other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_names_keep_their_fnv1a_fingerprint() {
        // The published FNV-1a 64 test vectors: history files saved before keep their names.
        assert_eq!(path_fingerprint(Path::new("")), 0xcbf2_9ce4_8422_2325);
        assert_eq!(path_fingerprint(Path::new("a")), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(path_fingerprint(Path::new("foobar")), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn history_round_trips_through_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("conversations/clip.json");
        let mut trace = ReasoningTrace::new();
        trace.push_token(
            0,
            TraceDelta::new(TracePhase::Thinking, "<think>hm</think>"),
        );
        trace.push_token(1, TraceDelta::new(TracePhase::Answer, "Two people."));
        trace.set_status(TraceStatus::Finished);
        trace.set_timing(GenerationTiming {
            prompt_tokens: 12,
            prefill: Duration::from_millis(30),
            generated_tokens: 2,
            decode: Duration::from_millis(10),
        });
        let turns = vec![AskTurn {
            question: "How many?".into(),
            thinking: ThinkingChoice::Think,
            trace,
        }];
        save_history(&file, Path::new("/videos/clip.mp4"), &turns).expect("saved");
        let restored = load_history(&file).expect("loaded");
        assert_eq!(restored.len(), 1);
        assert_eq!(restored[0].question, "How many?");
        assert_eq!(restored[0].thinking, ThinkingChoice::Think);
        assert_eq!(restored[0].trace.text(TracePhase::Answer), "Two people.");
        assert_eq!(
            restored[0].trace.text(TracePhase::Thinking),
            "<think>hm</think>"
        );
        assert_eq!(
            restored[0].trace.timing().map(|t| t.prompt_tokens),
            Some(12)
        );
        assert!(!file.with_extension("json.partial").exists());
    }

    #[test]
    fn a_damaged_history_file_is_reported_not_overwritten_silently() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("clip.json");
        std::fs::write(&file, "{ not json").expect("write");
        let error = load_history(&file).expect_err("damaged");
        assert!(error.contains("clip.json"), "{error}");
        assert_eq!(load_history(&dir.path().join("none.json")), Ok(Vec::new()));
    }
}

//! `keye-studio captions check` and `captions search` as a user runs them, on a file of mixed
//! Chinese and English captions (`tests/fixtures/haic/files/mixed_zh_en.jsonl`) and the tiny
//! Mengzi checkpoint (`tests/fixtures/mengzi-bert-tiny`).

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

fn captions() -> PathBuf {
    fixtures().join("haic/files/mixed_zh_en.jsonl")
}

fn mengzi() -> PathBuf {
    fixtures().join("mengzi-bert-tiny")
}

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_keye-studio"))
        .args(args)
        .output()
        .expect("run keye-studio");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn path_arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The file's records as JSON values, by index.
fn records() -> Vec<Value> {
    std::fs::read_to_string(captions())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The text at a field path such as `caption`, `people[0].attributes`, `events[0].action`.
fn field_text(record: &Value, path: &str) -> String {
    let mut value = record;
    for part in path.split('.') {
        value = match part.split_once('[') {
            Some((name, index)) => {
                let index: usize = index.trim_end_matches(']').parse().unwrap();
                &value[name][index]
            }
            None => &value[part],
        };
    }
    value
        .as_str()
        .unwrap_or_else(|| panic!("{path}"))
        .to_string()
}

fn is_chinese(c: char) -> bool {
    ('\u{4E00}'..='\u{9FFF}').contains(&c)
}

#[test]
fn check_scores_every_chinese_character_at_its_field_and_offset() {
    // A ratio of 0 flags every scored character, so the report lists them all.
    let (code, stdout, stderr) = run(&[
        "captions",
        "check",
        path_arg(&captions()),
        "--mengzi",
        path_arg(&mengzi()),
        "--ratio",
        "0",
        "--json",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let records = records();
    let suspects = report["suspects"].as_array().unwrap();
    let mut seen: BTreeSet<(u64, String, u64)> = BTreeSet::new();
    for suspect in suspects {
        let record = suspect["record"].as_u64().unwrap();
        let path = suspect["path"].as_str().unwrap().to_string();
        let offset = suspect["offset"].as_u64().unwrap();
        let text = field_text(&records[record as usize], &path);
        let character = text.chars().nth(offset as usize).unwrap();
        assert_eq!(
            suspect["character"].as_str().unwrap(),
            character.to_string(),
            "record {record} {path}:{offset}"
        );
        let byte = suspect["byte_offset"].as_u64().unwrap() as usize;
        assert_eq!(text[byte..].chars().next(), Some(character));
        assert_eq!(suspect["line"].as_u64(), Some(record + 1));
        seen.insert((record, path, offset));
    }
    // Exactly the Chinese characters of the fields as written: the structured record's people
    // and event fields (its text is rendered from them), the other records' caption text; the
    // English record and the English question have none.
    let mut expected = BTreeSet::new();
    for (index, record) in records.iter().enumerate() {
        let paths: Vec<String> = if let Some(people) = record["people"].as_array() {
            let mut paths = Vec::new();
            for (p, person) in people.iter().enumerate() {
                for key in person.as_object().unwrap().keys().filter(|k| *k != "id") {
                    paths.push(format!("people[{p}].{key}"));
                }
            }
            let events = record["events"].as_array().unwrap().len();
            paths.extend((0..events).map(|e| format!("events[{e}].action")));
            paths
        } else if record.get("caption").is_some() {
            vec!["caption".into()]
        } else {
            let options = record["options"].as_array().unwrap().len();
            std::iter::once("question".to_string())
                .chain((0..options).map(|o| format!("options[{o}]")))
                .collect()
        };
        for path in &paths {
            for (offset, c) in field_text(record, path).chars().enumerate() {
                if is_chinese(c) {
                    expected.insert((index as u64, path.to_string(), offset as u64));
                }
            }
        }
    }
    assert_eq!(seen, expected);
    assert_eq!(
        report["characters_checked"].as_u64(),
        Some(expected.len() as u64)
    );
    // The record with an emoji, full-width punctuation and full-width Latin letters: offsets
    // count characters, so the characters after the emoji are where an editor shows them.
    let dance = field_text(&records[7], "caption");
    let after_emoji = dance.chars().position(|c| c == '说').unwrap() as u64;
    assert!(seen.contains(&(7, "caption".into(), after_emoji)));
}

#[test]
fn check_lines_name_file_line_record_field_and_offset() {
    let (code, stdout, stderr) = run(&[
        "captions",
        "check",
        path_arg(&captions()),
        "--mengzi",
        path_arg(&mengzi()),
        "--ratio",
        "0",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    let file = captions().display().to_string();
    let line = stdout
        .lines()
        .find(|line| line.contains("record 4: people[0].attributes:4:"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.starts_with(&format!("{file}:5: record 4: ")), "{line}");
    assert!(line.contains("'幅'"), "{line}");
    assert!(line.contains("\"穿红色衣[幅]的女人\""), "{line}");
    assert!(stderr.contains("suspect character(s) among"), "{stderr}");
}

#[test]
fn check_with_an_unreachable_ratio_flags_only_characters_the_model_does_not_know() {
    let (code, stdout, stderr) = run(&[
        "captions",
        "check",
        path_arg(&captions()),
        "--mengzi",
        path_arg(&mengzi()),
        "--ratio",
        "1e30",
        "--json",
    ]);
    let vocab = std::fs::read_to_string(mengzi().join("vocab.txt")).unwrap();
    let vocab: BTreeSet<&str> = vocab.lines().collect();
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let suspects = report["suspects"].as_array().unwrap();
    assert!(!suspects.is_empty());
    for suspect in suspects {
        assert_eq!(suspect["known"], false, "{suspect}");
        assert!(!vocab.contains(suspect["character"].as_str().unwrap()));
    }
    assert_eq!(code, Some(1), "{stderr}");
}

#[test]
fn check_names_a_model_folder_that_is_not_a_bert_mlm() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"model_type": "t5", "architectures": ["T5ForConditionalGeneration"]}"#,
    )
    .unwrap();
    let (code, stdout, stderr) = run(&[
        "captions",
        "check",
        path_arg(&captions()),
        "--mengzi",
        path_arg(dir.path()),
    ]);
    assert_eq!(code, Some(1));
    assert!(stdout.is_empty(), "{stdout}");
    let config = dir.path().join("config.json").display().to_string();
    assert!(
        stderr.contains(&config) && stderr.contains("not a BERT masked language model"),
        "{stderr}"
    );
}

/// The records of a search, in order.
fn search(query: &[&str], model: bool) -> Vec<(u64, String)> {
    let file = captions();
    let model_dir = mengzi();
    let mut args = vec!["captions", "search", path_arg(&file)];
    args.extend_from_slice(query);
    args.extend_from_slice(&["--json", "--top", "20"]);
    if model {
        args.extend_from_slice(&["--mengzi", path_arg(&model_dir)]);
    }
    let (code, stdout, stderr) = run(&args);
    assert_eq!(code, Some(0), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["reranked"], model);
    report["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| {
            assert_eq!(hit["similarity"].is_number(), model, "{hit}");
            (
                hit["record"].as_u64().unwrap(),
                hit["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn record_set(hits: &[(u64, String)]) -> BTreeSet<u64> {
    hits.iter().map(|(record, _)| *record).collect()
}

#[test]
fn search_finds_chinese_and_english_records_with_and_without_the_model() {
    for model in [false, true] {
        // A Chinese word: the two captions where someone rides (骑马), nothing else.
        let riding = search(&["骑马"], model);
        assert_eq!(record_set(&riding), BTreeSet::from([1, 5]), "model {model}");
        assert!(riding.iter().all(|(_, path)| path == "caption"));

        // A structured record is found through its event field, which the hit points at.
        let guitar = search(&["弹吉他"], model);
        assert_eq!(
            guitar,
            vec![(4, "events[0].action".to_string())],
            "model {model}"
        );

        // English words, folded ("rides" meets "ride"): the caption and the question about the
        // horse, and not the other English caption, which shares only "a" (a stop word).
        let horse = search(&["rides a horse"], model);
        assert_eq!(
            record_set(&horse),
            BTreeSet::from([0, 6]),
            "model {model}: {horse:?}"
        );
        assert!(horse.contains(&(0, "events[0].action".into())), "{horse:?}");
        assert!(horse.contains(&(6, "options[1]".into())), "{horse:?}");

        // Both languages in one query.
        let both = search(&["guitar 吉他"], model);
        assert_eq!(record_set(&both), BTreeSet::from([3, 4]), "model {model}");

        // Words no record has.
        assert!(search(&["潜水艇"], model).is_empty());
    }
    // Without the model the ranking is BM25: the record with both words first, the question
    // with only "horse" after it.
    let ranked: Vec<u64> = search(&["horse field"], false)
        .into_iter()
        .map(|(record, _)| record)
        .collect();
    assert_eq!(ranked, [0, 6], "{ranked:?}");
    // Only function words: nothing to look for.
    assert!(search(&["the 的"], false).is_empty());
}

#[test]
fn find_similar_lists_the_nearest_records_but_not_the_record_itself() {
    for model in [false, true] {
        let file = captions();
        let model_dir = mengzi();
        let mut args = vec![
            "captions",
            "search",
            path_arg(&file),
            "--similar-to",
            "1",
            "--json",
        ];
        if model {
            args.extend_from_slice(&["--mengzi", path_arg(&model_dir)]);
        }
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, Some(0), "{stderr}");
        let report: Value = serde_json::from_str(&stdout).unwrap();
        let records: Vec<u64> = report["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|hit| hit["record"].as_u64().unwrap())
            .collect();
        assert!(!records.contains(&1), "{records:?}");
        // Record 5 is the other one on horseback.
        assert!(records.contains(&5), "{records:?}");
    }
}

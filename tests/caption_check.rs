//! The caption check as the editor uses it: the suspects of one record, and a suggestion put
//! in place as one edit that undo takes back whole (record, field and the rendered text).

use std::path::PathBuf;

use haic::{Document, FieldNames, Record, TextField};
use keye_model::{
    Device,
    mengzi::{CheckOptions, MengziModel},
};
use keye_studio::caption_check::{check_record, text_fields};

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

fn open_copy() -> (tempfile::TempDir, Document) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("captions.jsonl");
    std::fs::copy(fixtures().join("haic/files/mixed_zh_en.jsonl"), &path).unwrap();
    let (document, _) = Document::open(&path, &FieldNames::default()).unwrap();
    (dir, document)
}

fn attributes(document: &Document) -> String {
    let caption = document.file().caption(4).unwrap();
    caption.structure().unwrap().people[0].attributes.clone()
}

#[test]
fn a_suggestion_replaces_the_character_as_one_undoable_edit() {
    let model = MengziModel::load(&fixtures().join("mengzi-bert-tiny"), &Device::Cpu).unwrap();
    let (_dir, mut document) = open_copy();
    let record = document.file().record(4).unwrap().clone();
    // Every character counts as a suspect at ratio 0: the tiny model's weights are random.
    let options = CheckOptions {
        ratio: 0.0,
        ..CheckOptions::default()
    };
    let (suspects, scored) = check_record(&model, 4, &record, &options).unwrap();
    assert_eq!(scored, suspects.len());
    let suspect = suspects
        .iter()
        .find(|s| s.path == "people[0].attributes" && s.score.char_offset == 4)
        .unwrap();
    assert_eq!(suspect.score.character, '幅');
    assert_eq!(
        suspect.field,
        Some(TextField::Attributes { id: "P1".into() })
    );
    let replacement = suspect.score.suggestions[0].character;
    assert_ne!(replacement, '幅');

    let before_caption = document.file().caption(4).unwrap().caption.clone();
    let before = attributes(&document);
    let steps = document.undo_steps();
    document.apply(suspect.fix(replacement).unwrap()).unwrap();
    let fixed = attributes(&document);
    let expected: String = before
        .chars()
        .enumerate()
        .map(|(i, c)| if i == 4 { replacement } else { c })
        .collect();
    assert_eq!(fixed, expected);
    // The caption text is rendered again, in Chinese, with the fixed phrase.
    let caption = document.file().caption(4).unwrap().caption.clone();
    assert!(caption.starts_with("视频中有一个人。这个人是"), "{caption}");
    assert!(caption.contains(&fixed), "{caption}");
    assert_eq!(document.undo_steps(), steps + 1);

    assert!(document.undo().unwrap());
    assert_eq!(attributes(&document), before);
    assert_eq!(document.file().caption(4).unwrap().caption, before_caption);
    assert!(document.redo().unwrap());
    assert_eq!(attributes(&document), fixed);
}

#[test]
fn a_free_text_caption_is_fixed_through_its_text() {
    let model = MengziModel::load(&fixtures().join("mengzi-bert-tiny"), &Device::Cpu).unwrap();
    let (_dir, mut document) = open_copy();
    let record = document.file().record(7).unwrap().clone();
    let Record::Caption(caption) = &record else {
        panic!("record 7 is a caption")
    };
    let original = caption.caption.clone();
    let options = CheckOptions {
        ratio: 0.0,
        ..CheckOptions::default()
    };
    let (suspects, _) = check_record(&model, 7, &record, &options).unwrap();
    // After the emoji (two UTF-16 units, one character) and full-width punctuation.
    let at = original.chars().position(|c| c == '跳').unwrap();
    let suspect = suspects.iter().find(|s| s.score.char_offset == at).unwrap();
    assert_eq!(suspect.path, "caption");
    document.apply(suspect.fix('跑').unwrap()).unwrap();
    let fixed = document.file().caption(7).unwrap().caption.clone();
    assert_eq!(fixed, original.replacen('跳', "跑", 1));
    document.undo().unwrap();
    assert_eq!(document.file().caption(7).unwrap().caption, original);
}

#[test]
fn questions_are_checked_but_offer_no_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qa.jsonl");
    std::fs::write(
        &path,
        "{\"question\": \"穿红衣服的女人做了什么？\", \"options\": [\"挥手\", \"跑步\", \"跳舞\", \"坐下\"], \"answer\": \"A\", \"category\": \"Action Details\"}\n",
    )
    .unwrap();
    let file = haic::CaptionFile::load(&path, &FieldNames::default()).unwrap();
    let record = file.record(0).unwrap();
    let paths: Vec<String> = text_fields(record).into_iter().map(|f| f.path).collect();
    assert_eq!(
        paths,
        [
            "question",
            "options[0]",
            "options[1]",
            "options[2]",
            "options[3]"
        ]
    );
    let model = MengziModel::load(&fixtures().join("mengzi-bert-tiny"), &Device::Cpu).unwrap();
    let options = CheckOptions {
        ratio: 0.0,
        ..CheckOptions::default()
    };
    let (suspects, _) = check_record(&model, 0, record, &options).unwrap();
    assert!(suspects.iter().any(|s| s.path == "options[2]"));
    assert!(suspects.iter().all(|s| s.fix('一').is_none()));
}

#[test]
fn the_assistant_checks_and_searches_off_the_calling_thread() {
    use keye_studio::caption_assist::{AssistReply, AssistRequest, Assistant};
    use std::time::Duration;

    let (_dir, document) = open_copy();
    let assistant = Assistant::spawn(|| {}).unwrap();
    let wait = || assistant.recv_timeout(Duration::from_secs(60)).unwrap();
    let record = document.file().record(4).unwrap().clone();
    let check = |version| AssistRequest::Check {
        record: 4,
        version,
        content: Box::new(record.clone()),
        options: CheckOptions {
            ratio: 0.0,
            ..CheckOptions::default()
        },
    };

    // Without a model a check says so instead of failing silently.
    assistant.send(check(1));
    match wait() {
        AssistReply::Checked { result, .. } => {
            assert_eq!(result.unwrap_err(), "no Mengzi model is loaded")
        }
        other => panic!("{other:?}"),
    }

    assistant.send(AssistRequest::LoadModel(
        fixtures().join("mengzi-bert-tiny"),
    ));
    assert!(matches!(wait(), AssistReply::Model(Ok(_))));
    assistant.send(check(2));
    match wait() {
        AssistReply::Checked {
            record: 4,
            version: 2,
            result,
        } => assert!(result.unwrap().iter().any(|s| s.score.character == '幅')),
        other => panic!("{other:?}"),
    }

    let records: Vec<(usize, Record)> = document
        .file()
        .records()
        .map(|(i, r)| (i, r.clone()))
        .collect();
    assistant.send(AssistRequest::Index {
        version: 3,
        records,
    });
    assert!(matches!(
        wait(),
        AssistReply::Indexed {
            version: 3,
            records: 8
        }
    ));
    assistant.send(AssistRequest::Search {
        query: "骑马".into(),
        top: 5,
    });
    match wait() {
        AssistReply::Found { result, .. } => {
            let mut records: Vec<usize> = result.unwrap().iter().map(|h| h.record).collect();
            records.sort();
            assert_eq!(records, [1, 5]);
        }
        other => panic!("{other:?}"),
    }
    assistant.send(AssistRequest::Similar { record: 5, top: 5 });
    match wait() {
        AssistReply::Found {
            similar_to: Some(5),
            result,
            ..
        } => assert!(result.unwrap().iter().all(|h| h.record != 5)),
        other => panic!("{other:?}"),
    }

    // A model folder that is not a Mengzi-BERT is told, naming the file.
    let bad = tempfile::tempdir().unwrap();
    assistant.send(AssistRequest::LoadModel(bad.path().to_path_buf()));
    match wait() {
        AssistReply::Model(Err(message)) => assert!(message.contains("empty"), "{message}"),
        other => panic!("{other:?}"),
    }
}

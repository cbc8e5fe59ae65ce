//! Golden files for canonical rendering and parsing (`tests/fixtures/haic/text`, `.../free`).

use std::{fs, path::PathBuf};

use haic::{Structure, text};

fn fixtures(folder: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/haic"
    ))
    .join(folder)
}

/// The `<case>.txt` files of a folder (not the `.canonical.txt` companions).
fn cases(folder: &str) -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = fs::read_dir(fixtures(folder))
        .expect("fixture folder")
        .map(|entry| entry.expect("fixture entry").path())
        .filter(|path| {
            let name = path
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or_default();
            name.ends_with(".txt") && !name.ends_with(".canonical.txt")
        })
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no fixtures in {folder}");
    cases
}

#[test]
fn golden_texts_parse_to_their_structure_and_render_canonically() {
    for case in cases("text") {
        let text = fs::read_to_string(&case).expect("text fixture");
        let expected: Structure =
            serde_json::from_str(&fs::read_to_string(case.with_extension("json")).expect("json"))
                .expect("structure fixture");
        let parsed = text::parse(&text).unwrap_or_else(|error| panic!("{case:?}: {error}"));
        assert_eq!(parsed, expected, "{case:?}: parsed structure");
        let canonical_path = case.with_extension("canonical.txt");
        let canonical = if canonical_path.exists() {
            fs::read_to_string(&canonical_path).expect("canonical fixture")
        } else {
            text.clone()
        };
        assert_eq!(text::render(&expected), canonical, "{case:?}: rendering");
        assert_eq!(
            text::parse(&canonical),
            Ok(expected),
            "{case:?}: canonical text parses back"
        );
    }
}

/// Each free-text fixture, the byte offset where reading stopped and a fragment of the reason.
const FREE: &[(&str, usize, &str)] = &[
    (
        "chinese_empty_action.txt",
        60,
        "句子“穿红衣服的女人挥手，然后”中有空的动作",
    ),
    (
        "chinese_fewer_people_than_counted.txt",
        102,
        "人数说有3个人，但只介绍了2个：缺少“第三个人是……”",
    ),
    (
        "chinese_text.txt",
        0,
        "字幕没有以人数开头（应为“视频中有……个人。”）（第 1 个字处）",
    ),
    (
        "empty_action.txt",
        117,
        "empty action in \"The man in a hat waves, then \"",
    ),
    (
        "fewer_people_than_counted.txt",
        117,
        "the count says 3 people but only 2 are introduced: \"The third person is ...\" is missing",
    ),
    (
        "names_instead_of_attributes.txt",
        0,
        "does not start with the people count",
    ),
    (
        "sentence_without_known_subject.txt",
        67,
        "the sentence \"A dog barks at the man in a hat\" does not start with a person's attribute phrase",
    ),
];

#[test]
fn text_outside_the_format_is_refused_with_its_reason_and_place() {
    let names: Vec<String> = cases("free")
        .iter()
        .map(|case| case.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let expected: Vec<&str> = FREE.iter().map(|(name, _, _)| *name).collect();
    assert_eq!(names, expected, "every fixture has its expectation");
    for (name, offset, reason) in FREE {
        let text = fs::read_to_string(fixtures("free").join(name)).expect("free fixture");
        let error = text::parse(&text).expect_err(&format!("{name} should not parse"));
        assert!(error.message.contains(reason), "{name}: {}", error.message);
        assert_eq!(error.offset, *offset, "{name}: {}", error.message);
    }
}

#[test]
fn people_without_events_and_empty_captions_render_and_parse() {
    let nobody = Structure::default();
    assert_eq!(text::render(&nobody), "There are no people in the video.");
    assert_eq!(text::parse(&text::render(&nobody)), Ok(nobody));
    assert!(text::parse("").is_err());
}

#[test]
fn many_people_get_ordinals_past_the_words() {
    let people = (1..=23)
        .map(|n| haic::Person::new(format!("P{n}"), format!("the runner with bib {n}x")))
        .collect();
    let structure = Structure {
        people,
        events: Vec::new(),
    };
    let text = text::render(&structure);
    assert!(text.starts_with("There are 23 people in the video."));
    assert!(text.contains("The twentieth person is the runner with bib 20x."));
    assert!(text.contains("The 21st person is") && text.contains("The 22nd person is"));
    assert!(text.contains("The 23rd person is"));
    assert_eq!(text::parse(&text), Ok(structure));
}

#[test]
fn an_absurd_count_is_refused_without_allocating_for_it() {
    let error =
        text::parse("There are 18446744073709551615 people in the video. The first person is x.")
            .expect_err("the second person is missing");
    assert_eq!(
        error.message,
        "the count says 18446744073709551615 people but only 1 is introduced: \"The second person is ...\" is missing",
    );
}

/// Inputs the fuzzer once crashed the parser with (`tests/fixtures/haic/fuzz`); like the fuzz
/// target, the text is the valid UTF-8 prefix of the bytes. Each is refused, at a known place
/// and for a known reason.
#[test]
fn fuzzer_findings_stay_fixed() {
    /// `Err((offset, message))` for a refused text, `Ok(())` for one that parses.
    type Outcome = Result<(), (usize, &'static str)>;
    let expected: &[(&str, Outcome)] = &[
        (
            "fuzz-571de786.txt",
            Err((
                50,
                "the first person is not introduced in the people paragraph",
            )),
        ),
        (
            "fuzz-7b82379d.txt",
            Err((
                84,
                "the count says 3 people but only 1 is introduced: \"The second person is ...\" is missing",
            )),
        ),
        (
            "fuzz-85bc2a57.txt",
            Err((55, "the attribute sentence does not end with \".\"")),
        ),
    ];
    let mut names: Vec<String> = fs::read_dir(fixtures("fuzz"))
        .expect("fuzz fixtures")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    let listed: Vec<&str> = expected.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, listed, "every fixture has its expectation");
    for (name, outcome) in expected {
        let bytes = fs::read(fixtures("fuzz").join(name)).expect("fixture");
        let valid = match std::str::from_utf8(&bytes) {
            Ok(text) => text,
            Err(error) => std::str::from_utf8(&bytes[..error.valid_up_to()]).expect("valid prefix"),
        };
        match (text::parse(valid), outcome) {
            (Ok(structure), Ok(())) => {
                assert_eq!(text::parse(&text::render(&structure)), Ok(structure));
            }
            (Err(error), Err((offset, message))) => {
                assert_eq!(
                    (error.offset, error.message.as_str()),
                    (*offset, *message),
                    "{name}"
                );
            }
            (got, want) => panic!("{name}: parsed to {got:?}, expected {want:?}"),
        }
    }
}

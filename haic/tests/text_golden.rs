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

#[test]
fn text_outside_the_format_is_refused_with_a_reason() {
    for case in cases("free") {
        let text = fs::read_to_string(&case).expect("free fixture");
        let error = text::parse(&text).expect_err(&format!("{case:?} should not parse"));
        assert!(!error.message.is_empty());
        assert!(
            error.offset <= text.len(),
            "{case:?}: offset inside the text"
        );
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
    assert!(error.message.contains("attribute sentence"), "{error}");
}

/// Inputs the fuzzer once crashed the parser with (`tests/fixtures/haic/fuzz`); like the fuzz
/// target, the text is the valid UTF-8 prefix of the bytes.
#[test]
fn fuzzer_findings_stay_fixed() {
    let mut count = 0;
    for entry in fs::read_dir(fixtures("fuzz")).expect("fuzz fixtures") {
        let bytes = fs::read(entry.expect("entry").path()).expect("fixture");
        let valid = match std::str::from_utf8(&bytes) {
            Ok(text) => text,
            Err(error) => std::str::from_utf8(&bytes[..error.valid_up_to()]).expect("valid prefix"),
        };
        if let Ok(structure) = text::parse(valid) {
            assert_eq!(text::parse(&text::render(&structure)), Ok(structure));
        }
        count += 1;
    }
    assert!(count > 0);
}

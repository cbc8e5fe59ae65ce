//! The mutation corpus (`tests/fixtures/haic/mutations`, see its NOTES.md) through loading,
//! the caption text parser, saving and converting: no panic, every problem and every refusal
//! names the file and a line in it, a file saved in its own format comes back byte for byte, and
//! a conversion either keeps every record or is refused.

use std::{fs, path::PathBuf};

use haic::{CaptionFile, Document, FieldNames, Format, Record, text};

fn corpus() -> Vec<PathBuf> {
    let folder = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/haic/mutations"
    ));
    let mut files: Vec<PathBuf> = fs::read_dir(&folder)
        .expect("the mutation corpus")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "json" || ext == "jsonl")
        })
        .collect();
    files.sort();
    assert!(files.len() >= 250, "{} files in {folder:?}", files.len());
    files
}

/// `<path>:<line>:` at the start of `message`, with the line inside the file.
fn names_file_and_line(message: &str, path: &str, lines: usize) -> bool {
    let Some(rest) = message
        .strip_prefix(path)
        .and_then(|rest| rest.strip_prefix(':'))
    else {
        return false;
    };
    let line: String = rest.chars().take_while(char::is_ascii_digit).collect();
    line.parse::<usize>()
        .is_ok_and(|line| line >= 1 && line <= lines)
        && rest[line.len()..].starts_with(':')
}

#[test]
fn every_mutant_loads_converts_or_is_refused_with_file_and_line() {
    let (mut refused, mut converted) = (0, 0);
    for path in corpus() {
        let bytes = fs::read(&path).expect("read");
        let lines = bytes.iter().filter(|&&byte| byte == b'\n').count() + 1;
        let name = path.to_str().expect("utf-8 path");
        let file = CaptionFile::load(&path, &FieldNames::default()).expect("loads");
        for problem in file.problems() {
            let message = problem.to_string();
            assert!(names_file_and_line(&message, name, lines), "{message}");
        }
        for (_, record) in file.records() {
            // The text parser sees every caption; what it accepts renders back to itself.
            if let Record::Caption(caption) = record
                && let Ok(parsed) = text::parse(&caption.caption)
            {
                assert_eq!(text::parse(&text::render(&parsed)), Ok(parsed), "{name}");
            }
        }
        let structural = file.problems().iter().any(|p| p.kind.is_structural());
        match file.to_bytes(file.format(), false) {
            Ok(same) => assert_eq!(same, bytes, "{name}: saved as it is"),
            Err(error) => {
                assert!(structural, "{name}: {error}");
                assert!(
                    names_file_and_line(&error.to_string(), name, lines),
                    "{error}"
                );
            }
        }
        let other = match file.format() {
            Format::JsonLines => Format::JsonArray,
            _ => Format::JsonLines,
        };
        match file.to_bytes(other, false) {
            Ok(out) => {
                assert!(
                    file.problems().is_empty(),
                    "{name}: converted with problems"
                );
                let back = CaptionFile::from_bytes("back", out, &FieldNames::default());
                assert!(back.problems().is_empty(), "{name}: {:?}", back.problems());
                assert_eq!(back.len(), file.len(), "{name}: every record converted");
                converted += 1;
            }
            Err(error) => {
                let message = error.to_string();
                assert!(names_file_and_line(&message, name, lines), "{message}");
                refused += 1;
            }
        }
        if !structural {
            // Leaving out what cannot be read is asked for explicitly, and keeps the rest.
            let out = file.to_bytes(other, true).expect("drop_bad converts");
            let back = CaptionFile::from_bytes("back", out, &FieldNames::default());
            assert!(back.problems().is_empty(), "{name}: {:?}", back.problems());
            assert_eq!(back.records().count(), file.records().count(), "{name}");
        }
        // An editing session opens it, and saving with nothing changed writes nothing.
        let dir = tempfile::tempdir().expect("tempdir");
        let copy = dir.path().join(path.file_name().expect("name"));
        fs::write(&copy, &bytes).expect("copy");
        let (mut document, _) = Document::open(&copy, &FieldNames::default()).expect("opens");
        assert!(!document.save().expect("nothing to save"), "{name}");
    }
    // The corpus exercises both outcomes.
    assert!(
        refused >= 100 && converted >= 30,
        "{refused} refused, {converted} converted"
    );
}

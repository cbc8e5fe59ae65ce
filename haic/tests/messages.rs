//! Every load problem's message, pinned with the exact input that produces it: the place
//! (file:line:column), the record, and words that say what is wrong there once, never a
//! contradiction such as "must be a string, found a string".

use haic::{CaptionFile, FieldNames, Format};

/// (file name, contents, every problem as displayed).
const CASES: &[(&str, &str, &[&str])] = &[
    (
        "a.jsonl",
        r#"{"video": "a.mp4", "caption": "bad \udc00 surrogate"}"#,
        &[
            r"a.jsonl:1:36: record 0: JSON syntax error: invalid escape \udc00: a low surrogate without a high surrogate escape (\ud800 to \udbff) before it",
        ],
    ),
    (
        "a.jsonl",
        r#"{"video": "a.mp4", "caption": "bad \ud83d surrogate"}"#,
        &[
            r"a.jsonl:1:36: record 0: JSON syntax error: invalid escape \ud83d: a high surrogate must be followed by a low surrogate escape (\udc00 to \udfff)",
        ],
    ),
    (
        "a.jsonl",
        r#"{"video": "a.mp4", "caption": "bad \ud83d\u0041 pair"}"#,
        &[
            r"a.jsonl:1:36: record 0: JSON syntax error: invalid escape \ud83d: a high surrogate must be followed by a low surrogate escape (\udc00 to \udfff)",
        ],
    ),
    (
        "a.jsonl",
        r#"{"\udc00": 1, "caption": "key"}"#,
        &[
            r"a.jsonl:1:3: record 0: JSON syntax error: invalid escape \udc00: a low surrogate without a high surrogate escape (\ud800 to \udbff) before it",
        ],
    ),
    (
        "a.jsonl",
        r#"{"video": "a.mp4", "caption": "bad \q escape"}"#,
        &[
            r#"a.jsonl:1:36: record 0: JSON syntax error: invalid escape \q (JSON knows \" \\ \/ \b \f \n \r \t and \uXXXX)"#,
        ],
    ),
    (
        "a.jsonl",
        r#"{"video": "a.mp4", "caption": "bad \u12G4 escape"}"#,
        &[
            r"a.jsonl:1:36: record 0: JSON syntax error: invalid escape: \u must be followed by four hex digits",
        ],
    ),
    (
        "a.jsonl",
        r#"{"caption": 5}"#,
        &[r#"a.jsonl:1:13: record 0: field "caption" must be a string, found a number"#],
    ),
    (
        "a.jsonl",
        r#"{"caption":"x","people":{"id":"P1"}}"#,
        &[
            r#"a.jsonl:1:25: record 0: field "people" must be an array of people ({"id", "attributes", ...}), found an object"#,
        ],
    ),
    (
        "a.jsonl",
        r#"{"caption":"x","people":[{"id":1,"attributes":"a"}]}"#,
        &["a.jsonl:1:32: record 0: people[0].id must be a string, found a number"],
    ),
    (
        "a.jsonl",
        r#"{"caption":"x","people":[{"id":"P1"}]}"#,
        &["a.jsonl:1:26: record 0: people[0].attributes is missing"],
    ),
    (
        "a.jsonl",
        r#"{"caption":"x","people":[{"id":"P1","attributes":"a","hair":3}]}"#,
        &["a.jsonl:1:61: record 0: people[0].hair must be a string, found a number"],
    ),
    (
        "a.jsonl",
        r#"{"caption":"x","people":[7]}"#,
        &["a.jsonl:1:26: record 0: people[0] must be an object, found a number"],
    ),
    (
        "a.jsonl",
        r#"{"caption":"x","events":[{"who":["P1"]}]}"#,
        &["a.jsonl:1:26: record 0: events[0].action is missing"],
    ),
    (
        "a.jsonl",
        r#"{"caption":"x","events":[{"who":["P1"],"action":"a"},{"who":["P1",1],"action":"b"}]}"#,
        &[
            "a.jsonl:1:61: record 0: events[1].who[1] must be a person id (a string), found a number",
        ],
    ),
    (
        "a.jsonl",
        r#"{"caption":"x","events":[{"who":"P1","action":"a","with":null}]}"#,
        &[
            "a.jsonl:1:58: record 0: events[0].with must be a person id or an array of ids, found null",
        ],
    ),
    (
        "a.jsonl",
        r#"{"caption":"x","events":[{"who":"P1","action":"a","start":"1s"}]}"#,
        &["a.jsonl:1:59: record 0: events[0].start must be a number of seconds, found a string"],
    ),
    (
        "a.jsonl",
        r#"{"caption":"x","duration":"8s"}"#,
        &[
            r#"a.jsonl:1:27: record 0: field "duration" must be a number of seconds, found a string"#,
        ],
    ),
    (
        "a.jsonl",
        r#"{"caption":"x","duration":1e999}"#,
        &[r#"a.jsonl:1:27: record 0: field "duration" holds 1e999: number out of range"#],
    ),
    (
        "a.jsonl",
        r#"{"question":"q?","options":"A B C D","answer":"A","category":"Count"}"#,
        &[
            r#"a.jsonl:1:28: record 0: field "options" must be an array or object of four option strings, found a string"#,
        ],
    ),
    (
        "a.jsonl",
        r#"{"question":"q?","options":["a","b",3,"d"],"answer":"A","category":"Count"}"#,
        &["a.jsonl:1:37: record 0: options[2] must be a string, found a number"],
    ),
    (
        "a.jsonl",
        r#"{"question":"q?","options":{"A":"a","B":null},"answer":"A","category":"Count"}"#,
        &["a.jsonl:1:41: record 0: options.B must be a string, found null"],
    ),
    (
        "a.json",
        "[1, \"two\"]",
        &[
            "a.json:1:2: record 0: the record is a number, not an object",
            "a.json:1:5: record 1: the record is a string, not an object",
        ],
    ),
    (
        "a.jsonl",
        r#"{"video":"only"}"#,
        &[r#"a.jsonl:1:1: record 0: the record has neither a "caption" nor a "question" field"#],
    ),
    (
        "a.jsonl",
        "\"hello\"\n",
        &["a.jsonl:1:1: record 0: the record is a string, not an object"],
    ),
    (
        "a.jsonl",
        "42\n{\"caption\": \"the good record after it\"}\n",
        &["a.jsonl:1:1: record 0: the record is a number, not an object"],
    ),
    (
        "a.json",
        "\"hello\"\n",
        &[
            "a.json:1:1: record 0: the file holds a string, not caption records (a JSON array or object of records, or JSON Lines)",
        ],
    ),
    (
        "a.json",
        "42",
        &[
            "a.json:1:1: record 0: the file holds a number, not caption records (a JSON array or object of records, or JSON Lines)",
        ],
    ),
    (
        "a.json",
        "caption: hello\n",
        &["a.json:1:1: record 0: not a JSON array, JSON object or JSON Lines file"],
    ),
    (
        "a.json",
        "[{\"caption\": \"a\"},, {\"caption\": \"b\"}]",
        &["a.json:1:19: JSON syntax error: unexpected ',' where a record should start"],
    ),
    (
        "a.json",
        "[{\"caption\": \"a\"} {\"caption\": \"b\"}]",
        &["a.json:1:19: JSON syntax error: expected ',' or ']' after a record"],
    ),
    (
        "a.json",
        "[{\"caption\": \"a\"}] x",
        &["a.json:1:20: JSON syntax error: unexpected text after the closing ']'"],
    ),
    (
        "a.json",
        "[{\"caption\": \"a\"},\n {\"caption\": ",
        &["a.json:2:14: record 1: truncated JSON: the file ends before its records are closed"],
    ),
    (
        "a.jsonl",
        "{\"caption\": \"a\", \"caption\": \"b\"}",
        &["a.jsonl:1:18: record 0: duplicate key \"caption\""],
    ),
    (
        "a.jsonl",
        "{\"caption\": \"a\"\n",
        &["a.jsonl:1:16: record 0: truncated JSON: the record ends inside a value"],
    ),
    (
        "a.jsonl",
        "{\"caption\": 01}",
        &[
            "a.jsonl:1:14: record 0: JSON syntax error: bad number: a leading 0 must not be followed by digits",
        ],
    ),
    (
        "a.jsonl",
        "{\"caption\": \"a\",}",
        &["a.jsonl:1:17: record 0: JSON syntax error: expected a key string"],
    ),
    (
        "a.jsonl",
        "{\"caption\": \"a\"} {}",
        &["a.jsonl:1:18: record 0: JSON syntax error: unexpected text after the record"],
    ),
    (
        "a.jsonl",
        "{\"caption\": \"tab\there\"}",
        &[
            "a.jsonl:1:17: record 0: JSON syntax error: control character in string (newlines must be escaped)",
        ],
    ),
    (
        "a.jsonl",
        "{\"caption\": \"caf\u{e9} \\ud83d\\ude00\"}",
        &[],
    ),
];

#[test]
fn each_problem_is_told_once_with_its_place() {
    for (name, text, expected) in CASES {
        let file = CaptionFile::from_bytes(name, text.as_bytes().to_vec(), &FieldNames::default());
        let shown: Vec<String> = file.problems().iter().map(ToString::to_string).collect();
        assert_eq!(shown, *expected, "{name}: {text:?}");
    }
}

#[test]
fn invalid_utf8_is_reported_at_its_byte() {
    let bytes = b"{\"caption\": \"ok\"}\n{\"caption\": \"x\xff\"}\n".to_vec();
    let file = CaptionFile::from_bytes("u.jsonl", bytes, &FieldNames::default());
    let shown: Vec<String> = file.problems().iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["u.jsonl:2:15: record 1: invalid UTF-8"]);
}

/// Converting to the other format refuses what it could not keep, naming the first problem
/// (place included) once; converting to the file's own format copies everything as it is.
#[test]
fn conversion_refusals_name_the_place_and_the_problem() {
    for (name, text, expected) in CASES.iter().filter(|case| !case.2.is_empty()) {
        let file = CaptionFile::from_bytes(name, text.as_bytes().to_vec(), &FieldNames::default());
        let other = match file.format() {
            Format::JsonLines => Format::JsonArray,
            _ => Format::JsonLines,
        };
        let error = file
            .to_bytes(other, false)
            .expect_err(&format!("{name}: {text:?} converts"))
            .to_string();
        let first = expected[0];
        let first_without_record = first.replacen(" record 1:", "", 1);
        assert!(
            error.starts_with(first) || error.starts_with(&first_without_record),
            "{name}: {text:?}: {error}"
        );
        assert_eq!(
            error.matches(file.path().to_str().unwrap()).count(),
            1,
            "the file is named once: {error}"
        );
        if !file.problems().iter().any(|p| p.kind.is_structural()) {
            assert_eq!(
                file.to_bytes(file.format(), false).expect("own format"),
                text.as_bytes(),
                "{name}: copied as it is"
            );
        }
    }
}

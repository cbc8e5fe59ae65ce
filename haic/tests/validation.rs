//! Every validation rule: a record that breaks it, the code, and the place it points at.

use haic::{
    CaptionFile, CaptionRecord, Event, FieldNames, Person, QaRecord, Rule, Severity, Structure,
    TextState, text,
    validate::{validate_caption, validate_file, validate_qa, validate_structure},
};

fn people() -> Vec<Person> {
    vec![
        Person::new("P1", "the woman in a red coat"),
        Person::new("P2", "the man with a cane"),
    ]
}

fn found(structure: &Structure, duration: Option<f64>) -> Vec<(Rule, String)> {
    validate_structure(structure, duration)
        .into_iter()
        .map(|finding| (finding.rule, finding.path))
        .collect()
}

fn rule(rule: Rule, path: &str) -> (Rule, String) {
    (rule, path.to_string())
}

#[test]
fn a_well_formed_structure_has_no_findings() {
    let structure = Structure {
        people: people(),
        events: vec![
            Event::new(&["P1"], "waves to")
                .with(&["P2"])
                .timed(0.0, 1.0),
            Event::new(&["P2"], "nods").timed(1.0, 1.0),
        ],
    };
    assert!(found(&structure, Some(1.0)).is_empty());
}

#[test]
fn events_must_refer_to_declared_people() {
    let structure = Structure {
        people: people(),
        events: vec![Event::new(&["P1", "P9"], "waves to").with(&["P2", "P7"])],
    };
    assert_eq!(
        found(&structure, None),
        [
            rule(Rule::UnknownPerson, "events[0].who[1]"),
            rule(Rule::UnknownPerson, "events[0].with[1]")
        ]
    );
}

#[test]
fn every_person_must_appear_in_an_event() {
    let structure = Structure {
        people: people(),
        events: vec![Event::new(&["P1"], "sits down")],
    };
    assert_eq!(
        found(&structure, None),
        [rule(Rule::UnusedPerson, "people[1]")]
    );
}

#[test]
fn two_people_never_share_a_description() {
    let mut people = people();
    people[1].attributes = "The woman in a  red coat.".into();
    let structure = Structure {
        people,
        events: vec![Event::new(&["P1", "P2"], "dance")],
    };
    assert_eq!(
        found(&structure, None),
        [rule(Rule::DuplicateAttributes, "people[1].attributes")]
    );
}

#[test]
fn ids_are_unique_and_descriptions_non_empty() {
    let structure = Structure {
        people: vec![Person::new("P1", "the cook"), Person::new("P1", "  ")],
        events: vec![Event::new(&["P1"], "stirs the pot")],
    };
    assert_eq!(
        found(&structure, None),
        [
            rule(Rule::DuplicatePersonId, "people[1].id"),
            rule(Rule::EmptyAttributes, "people[1].attributes")
        ]
    );
}

#[test]
fn events_need_a_subject_and_an_action() {
    let structure = Structure {
        people: people(),
        events: vec![Event::new(&[], "runs"), Event::new(&["P1", "P2"], "  ")],
    };
    assert_eq!(
        found(&structure, None),
        [
            rule(Rule::NoSubject, "events[0].who"),
            rule(Rule::EmptyAction, "events[1].action")
        ]
    );
}

#[test]
fn events_are_chronological_and_end_after_they_start() {
    let structure = Structure {
        people: people(),
        events: vec![
            Event::new(&["P1"], "stands up").timed(2.0, 3.0),
            Event::new(&["P2"], "sits down").timed(1.0, 1.5),
            Event::new(&["P1"], "claps").timed(4.0, 3.5),
        ],
    };
    assert_eq!(
        found(&structure, None),
        [
            rule(Rule::NotChronological, "events[1].start"),
            rule(Rule::EndBeforeStart, "events[2].end")
        ]
    );
}

#[test]
fn times_lie_inside_the_video_when_its_duration_is_known() {
    let structure = Structure {
        people: people(),
        events: vec![
            Event::new(&["P1"], "stands up").timed(-0.5, 3.0),
            Event::new(&["P2"], "sits down").timed(3.0, 9.5),
        ],
    };
    assert_eq!(
        found(&structure, None),
        [rule(Rule::OutsideVideo, "events[0].start")]
    );
    assert_eq!(
        found(&structure, Some(9.0)),
        [
            rule(Rule::OutsideVideo, "events[0].start"),
            rule(Rule::OutsideVideo, "events[1].end")
        ]
    );
}

#[test]
fn free_and_non_canonical_captions_are_warnings() {
    let free = CaptionRecord {
        video: None,
        duration: None,
        caption: "Tom waves.".into(),
        state: TextState::Free {
            reason: "no count".into(),
        },
        had_structure_fields: false,
        review: Default::default(),
    };
    let findings = validate_caption(&free, None);
    assert_eq!(findings.len(), 1);
    assert_eq!(
        (findings[0].rule, findings[0].severity),
        (Rule::FreeText, Severity::Warning)
    );
    let text =
        "There is one person in the video.\nThe person is the cook.\n\n1. The cook stirs the pot.";
    let structured = CaptionRecord {
        caption: text.into(),
        state: TextState::Structured(text::parse(text).expect("parses")),
        ..free
    };
    let findings = validate_caption(&structured, None);
    assert_eq!(
        findings
            .iter()
            .map(|finding| finding.rule)
            .collect::<Vec<_>>(),
        [Rule::NotCanonical]
    );
}

fn qa(options: &[&str], answer: &str, category: &str) -> QaRecord {
    QaRecord {
        video: Some("v".into()),
        question: "What does the man do first?".into(),
        options: options.iter().map(|option| option.to_string()).collect(),
        answer: answer.into(),
        category: category.into(),
    }
}

fn qa_rules(qa: &QaRecord) -> Vec<(Rule, String)> {
    validate_qa(qa)
        .into_iter()
        .map(|finding| (finding.rule, finding.path))
        .collect()
}

#[test]
fn questions_have_four_distinct_options_a_letter_answer_and_a_known_category() {
    assert!(
        qa_rules(&qa(
            &["A. sits", "B. runs", "C. waves", "D. jumps"],
            "B",
            "Action Sequence"
        ))
        .is_empty()
    );
    assert_eq!(
        qa_rules(&qa(&["sits", "runs", "waves"], "A", "Count")),
        [rule(Rule::OptionCount, "options")]
    );
    assert_eq!(
        qa_rules(&qa(
            &["A. sits", "B. runs", "C) Sits", "D. jumps"],
            "A",
            "Interaction"
        )),
        [rule(Rule::DuplicateOptions, "options[2]")]
    );
    assert_eq!(
        qa_rules(&qa(&["1", "2", "3", "4"], "E", "Count")),
        [rule(Rule::BadAnswer, "answer")]
    );
    assert_eq!(
        qa_rules(&qa(&["1", "2", "3", "4"], "a", "Attribute")),
        [rule(Rule::BadAnswer, "answer")]
    );
    assert_eq!(
        qa_rules(&qa(&["1", "2", "3", "4"], "D", "Body")),
        [rule(Rule::BadCategory, "category")]
    );
    let mut empty = qa(&["1", "2", "3", "4"], "D", "Action Details");
    empty.question = " ".into();
    assert_eq!(qa_rules(&empty), [rule(Rule::EmptyQuestion, "question")]);
}

#[test]
fn file_findings_carry_record_and_line_and_use_the_record_duration() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/haic/files/qa.jsonl"
    );
    let file = CaptionFile::load(path, &FieldNames::default()).expect("load");
    let findings = validate_file(&file, &|_| None);
    let codes: Vec<(usize, usize, &str)> = findings
        .iter()
        .map(|finding| (finding.record, finding.line, finding.finding.rule.code()))
        .collect();
    assert_eq!(
        codes,
        [
            (2, 3, "duplicate-options"),
            (2, 3, "bad-answer"),
            (2, 3, "bad-category")
        ]
    );

    let captions = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/haic/files/captions.json"
    );
    let file = CaptionFile::load(captions, &FieldNames::default()).expect("load");
    let codes: Vec<(usize, &str)> = validate_file(&file, &|_| Some(1.0))
        .iter()
        .map(|finding| (finding.record, finding.finding.rule.code()))
        .collect();
    assert_eq!(codes, [(0, "not-canonical"), (2, "free-text")]);
    let short = validate_file(&file, &|_| Some(1.0));
    assert!(
        short
            .iter()
            .all(|finding| finding.finding.rule != Rule::OutsideVideo),
        "record duration 8.5 wins"
    );
}

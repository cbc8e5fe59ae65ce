//! Property tests: canonical text parses back to the structure it came from, and files come back
//! byte for byte, also around an edited record.

use haic::{CaptionFile, Event, FieldNames, Format, Person, Structure, TextState, text};
use proptest::prelude::*;

const AGES: [&str; 3] = ["young", "old", "middle-aged"];
const NOUNS: [&str; 4] = ["woman", "man", "girl", "boy"];
const COLORS: [&str; 5] = ["red", "blue", "white", "black", "green"];
const GARMENTS: [&str; 4] = ["coat", "shirt", "dress", "hoodie"];
const ACTIONS: [&str; 8] = [
    "waves",
    "turns around",
    "picks up a box",
    "sits down on the bench",
    "runs to",
    "hands a cup to",
    "points at the door",
    "raises the left hand above the head",
];

fn phrases() -> Vec<String> {
    let mut all = Vec::new();
    for age in AGES {
        for noun in NOUNS {
            for color in COLORS {
                for garment in GARMENTS {
                    all.push(format!("the {age} {noun} in a {color} {garment}"));
                }
            }
        }
    }
    all
}

fn structure() -> impl Strategy<Value = Structure> {
    (1usize..=5)
        .prop_flat_map(|count| {
            (
                proptest::sample::subsequence(phrases(), count).prop_shuffle(),
                proptest::collection::vec(
                    (
                        proptest::sample::subsequence(
                            (0..count).collect::<Vec<_>>(),
                            1..=count.min(2),
                        ),
                        proptest::sample::select(ACTIONS.to_vec()),
                        proptest::collection::vec(0..count, 0..=2),
                    ),
                    0..8,
                ),
            )
        })
        .prop_map(|(phrases, events)| {
            let people: Vec<Person> = phrases
                .iter()
                .enumerate()
                .map(|(index, phrase)| Person::new(format!("P{}", index + 1), phrase.clone()))
                .collect();
            let id = |index: usize| people[index].id.clone();
            let events = events
                .into_iter()
                .map(|(who, action, with)| {
                    let mut targets: Vec<String> = Vec::new();
                    for target in with {
                        let target = id(target);
                        if !who.iter().any(|&w| id(w) == target) && !targets.contains(&target) {
                            targets.push(target);
                        }
                    }
                    Event {
                        who: who.into_iter().map(id).collect(),
                        with: targets,
                        ..Event::new(&[], action)
                    }
                })
                .collect();
            Structure { people, events }
        })
}

proptest! {
    #[test]
    fn rendered_text_parses_back_to_the_same_structure(structure in structure()) {
        let rendered = text::render(&structure);
        let parsed = text::parse(&rendered);
        prop_assert_eq!(parsed.as_ref(), Ok(&structure), "{}", rendered);
        prop_assert_eq!(&text::render(&structure), &rendered);
        let crlf = rendered.replace('\n', "\r\n");
        prop_assert_eq!(text::parse(&crlf), Ok(structure));
    }

    #[test]
    fn the_parser_never_panics(input in "(There (is|are) (one|two|3) (person|people) in the video\\. |The (first |second )?person is |the man|, then |\\.|\\n|1\\. | and |[a-zé中 ]{0,6})*") {
        if let Ok(structure) = text::parse(&input) {
            prop_assert!(structure.events.iter().all(|event| !event.action.trim().is_empty()));
        }
    }
}

const LITERALS: [&str; 7] = [
    "1.50",
    "1e3",
    "-0",
    "12345678901234567890123",
    "0.1000",
    "2E-7",
    "true",
];
const CAPTIONS: [&str; 3] = [
    "There is one person in the video. The person is the chef.\\n\\nThe chef tastes the soup.",
    "Free text \\u00e9 with \\\"quotes\\\"",
    "There are two people in the video.",
];

/// One record as JSON text, keys in the given order with the given whitespace.
fn record(single_line: bool) -> impl Strategy<Value = String> {
    let space = if single_line {
        proptest::sample::select(vec!["", " ", "\t"])
    } else {
        proptest::sample::select(vec!["", " ", "\n    ", "\t"])
    };
    (
        proptest::sample::select(CAPTIONS.to_vec()),
        proptest::collection::vec(
            (proptest::sample::select(LITERALS.to_vec()), space.clone()),
            0..4,
        ),
        space,
        any::<bool>(),
    )
        .prop_map(|(caption, extras, space, caption_first)| {
            let mut members = vec![format!("\"caption\":{space}\"{caption}\"")];
            for (index, (literal, space)) in extras.into_iter().enumerate() {
                members.push(format!(
                    "\"x{index}\"{space}:{space}{{\"v\": [{literal},{space}\"s\"]}}"
                ));
            }
            if !caption_first {
                members.rotate_left(1);
            }
            format!("{{{space}{}{space}}}", members.join(&format!(",{space}")))
        })
}

fn file(format: Format) -> impl Strategy<Value = (String, Vec<std::ops::Range<usize>>)> {
    proptest::collection::vec(record(format == Format::JsonLines), 1..6).prop_map(move |records| {
        let (open, separator, close) = match format {
            Format::JsonLines => ("", "\n", "\n"),
            _ => ("[\n  ", ",\n  ", "\n]\n"),
        };
        let mut text = open.to_string();
        let mut spans = Vec::new();
        for (index, record) in records.iter().enumerate() {
            if index > 0 {
                text.push_str(separator);
            }
            spans.push(text.len()..text.len() + record.len());
            text.push_str(record);
        }
        text.push_str(close);
        (text, spans)
    })
}

fn round_trip(
    format: Format,
    (text, spans): (String, Vec<std::ops::Range<usize>>),
    edited: usize,
) -> Result<(), TestCaseError> {
    let name = if format == Format::JsonLines {
        "p.jsonl"
    } else {
        "p.json"
    };
    let mut file = CaptionFile::from_bytes(name, text.clone().into_bytes(), &FieldNames::default());
    prop_assert!(
        file.problems().is_empty(),
        "{:?}\n{}",
        file.problems(),
        text
    );
    prop_assert_eq!(file.len(), spans.len());
    prop_assert_eq!(file.to_bytes(format, false).unwrap(), text.as_bytes());
    let edited = edited % spans.len();
    let mut caption = file.caption(edited).unwrap().clone();
    caption.caption = "Edited \"text\"\nover two lines".into();
    caption.state = TextState::Free {
        reason: "edited".into(),
    };
    file.set_caption(edited, caption).unwrap();
    let saved = String::from_utf8(file.to_bytes(format, false).unwrap()).unwrap();
    let span = &spans[edited];
    prop_assert!(saved.starts_with(&text[..span.start]));
    prop_assert!(saved.ends_with(&text[span.end..]));
    prop_assert!(saved.contains(r#""Edited \"text\"\nover two lines""#));
    let reloaded = CaptionFile::from_bytes(name, saved.into_bytes(), &FieldNames::default());
    prop_assert!(reloaded.problems().is_empty());
    prop_assert_eq!(
        reloaded.caption(edited).unwrap().caption.as_str(),
        "Edited \"text\"\nover two lines"
    );
    Ok(())
}

proptest! {
    #[test]
    fn json_arrays_round_trip_byte_for_byte(file in file(Format::JsonArray), edited in 0usize..6) {
        round_trip(Format::JsonArray, file, edited)?;
    }

    #[test]
    fn json_lines_round_trip_byte_for_byte(file in file(Format::JsonLines), edited in 0usize..6) {
        round_trip(Format::JsonLines, file, edited)?;
    }
}

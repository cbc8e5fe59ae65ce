//! The Chinese form of HAIC caption text: round trips, which form a text is read as, messages
//! in Chinese, and edits that keep a caption's language.

use haic::{
    CaptionFile, Command, Document, Edit, Event, FieldNames, Person, Rule, Structure, TextState,
    text::{self, Language},
    validate::{validate_caption, validate_structure},
};
use proptest::prelude::*;

const AGES: [&str; 3] = ["年轻的", "年老的", "中年"];
const COLORS: [&str; 5] = ["红色", "蓝色", "白色", "黑色", "绿色"];
const GARMENTS: [&str; 4] = ["外套", "衬衫", "连衣裙", "卫衣"];
const NOUNS: [&str; 4] = ["女人", "男人", "女孩", "男孩"];
const ACTIONS: [&str; 8] = [
    "挥手",
    "转身",
    "捡起一个箱子",
    "坐在长椅上",
    "跑向",
    "把杯子递给",
    "指着门",
    "把左手举过头顶",
];

fn phrases() -> Vec<String> {
    let mut all = Vec::new();
    for color in COLORS {
        for garment in GARMENTS {
            for age in AGES {
                for noun in NOUNS {
                    all.push(format!("穿{color}{garment}的{age}{noun}"));
                }
            }
        }
    }
    all
}

fn structure() -> impl Strategy<Value = Structure> {
    (1usize..=12)
        .prop_flat_map(|count| {
            (
                proptest::sample::subsequence(phrases(), count).prop_shuffle(),
                proptest::collection::vec(
                    (
                        proptest::sample::subsequence(
                            (0..count).collect::<Vec<_>>(),
                            1..=count.min(3),
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
    fn chinese_text_parses_back_to_its_structure(structure in structure()) {
        let rendered = text::render(&structure);
        prop_assert!(rendered.starts_with("视频中有"), "{}", rendered);
        prop_assert_eq!(text::parse(&rendered), Ok(structure.clone()));
        // CRLF line ends read the same.
        prop_assert_eq!(text::parse(&rendered.replace('\n', "\r\n")), Ok(structure));
    }
}

#[test]
fn the_opening_or_the_script_decides_the_form() {
    assert_eq!(
        text::parse_language("There are two people ..."),
        Language::English
    );
    assert_eq!(
        text::parse_language("  视频中有两个人。"),
        Language::Chinese
    );
    assert_eq!(text::parse_language("画面里有一个人。"), Language::Chinese);
    assert_eq!(text::parse_language("两个人在跳舞。"), Language::Chinese);
    assert_eq!(
        text::parse_language("A man holds a 欢迎 sign."),
        Language::English
    );
    assert_eq!(text::parse_language("1234"), Language::English);
    assert_eq!(
        Language::of_text("穿Nike T恤的男人"),
        Some(Language::Chinese)
    );
    assert_eq!(Language::of_text("..."), None);
}

#[test]
fn counts_and_ordinals_past_ten_read_back() {
    let people: Vec<Person> = (1..=23)
        .map(|n| Person::new(format!("P{n}"), format!("{n}号选手")))
        .collect();
    let structure = Structure {
        people,
        events: Vec::new(),
    };
    let rendered = text::render(&structure);
    assert!(
        rendered.starts_with("视频中有二十三个人。第一个人是1号选手。"),
        "{rendered}"
    );
    assert!(rendered.contains("第十一个人是11号选手。第十二个人是12号选手。"));
    assert!(rendered.contains("第二十个人是20号选手。第二十一个人是21号选手。"));
    assert_eq!(text::parse(&rendered), Ok(structure));
    assert_eq!(
        text::render(&Structure {
            people: vec![
                Person::new("P1", "穿红衣服的女人"),
                Person::new("P2", "男孩")
            ],
            events: Vec::new()
        }),
        "视频中有两个人。第一个人是穿红衣服的女人。第二个人是男孩。"
    );
    assert_eq!(text::parse("视频中没有人。"), Ok(Structure::default()));
}

#[test]
fn parse_errors_speak_chinese_and_say_where() {
    let error = text::parse("视频中有两个人。第一个人是穿红衣服的女人。\n\n穿红衣服的女人挥手。")
        .unwrap_err();
    assert_eq!(error.language, Language::Chinese);
    assert_eq!(
        error.to_string(),
        "人数说有2个人，但只介绍了1个：缺少“第二个人是……”（第 22 个字处）"
    );
    let error =
        text::parse("视频中有一个人。这个人是穿红衣服的女人。\n\n一只狗在叫。").unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("句子“一只狗在叫”没有以某个人的属性描述开头"),
        "{error}"
    );
}

fn caption_of(text: &str) -> haic::CaptionRecord {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.jsonl");
    let line = serde_json::json!({ "video": "a.mp4", "caption": text }).to_string();
    std::fs::write(&path, line + "\n").unwrap();
    let file = CaptionFile::load(&path, &FieldNames::default()).unwrap();
    file.caption(0).unwrap().clone()
}

#[test]
fn validation_messages_about_chinese_text_are_in_chinese() {
    let free = caption_of("两个人在视频中。穿红衣服的女人向男人挥手。");
    let findings = validate_caption(&free, None);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].rule, Rule::FreeText);
    assert_eq!(
        findings[0].message,
        "字幕不符合 HAIC 结构，按自由文本保留：字幕没有以人数开头（应为“视频中有……个人。”）（第 1 个字处）"
    );

    // Numbered actions and a digit count parse, but are not the canonical form.
    let numbered = caption_of("视频中有1个人。这个人是穿红衣服的女人。\n\n1. 穿红衣服的女人挥手。");
    assert!(matches!(numbered.state, TextState::Structured(_)));
    let findings = validate_caption(&numbered, None);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].rule, Rule::NotCanonical);
    assert!(
        findings[0].message.starts_with("字幕文字不是"),
        "{}",
        findings[0].message
    );

    let canonical = caption_of("视频中有一个人。这个人是穿红衣服的女人。\n\n穿红衣服的女人挥手。");
    assert!(validate_caption(&canonical, None).is_empty());
}

#[test]
fn structure_rules_speak_the_language_of_the_structure() {
    let timed = |who: &[&str], action: &str, start: f64, end: f64| {
        let mut event = Event::new(who, action);
        event.start = Some(start);
        event.end = Some(end);
        event
    };
    let chinese = Structure {
        people: vec![
            Person::new("P1", "穿红衣服的女人"),
            Person::new("P2", "穿红衣服的女人"),
            Person::new("P3", ""),
        ],
        events: vec![
            timed(&["P1", "P9"], "挥手", 5.0, 4.0),
            timed(&["P2"], "转身", 1.0, 20.0),
            Event::new(&[], " "),
        ],
    };
    let findings = validate_structure(&chinese, Some(10.0));
    let message = |rule: Rule| {
        findings
            .iter()
            .find(|f| f.rule == rule)
            .unwrap_or_else(|| panic!("{rule:?}: {findings:?}"))
            .message
            .clone()
    };
    assert_eq!(
        message(Rule::DuplicateAttributes),
        "人物 P2 的描述与 P1 相同（“穿红衣服的女人”），文字无法区分二者"
    );
    assert_eq!(message(Rule::EmptyAttributes), "人物 P3 没有属性描述");
    assert_eq!(message(Rule::UnusedPerson), "人物 P3 没有出现在任何动作中");
    assert_eq!(message(Rule::UnknownPerson), "“P9”不是已声明的人物");
    assert_eq!(message(Rule::NoSubject), "该动作没有主语");
    assert_eq!(message(Rule::EmptyAction), "动作为空");
    assert_eq!(
        message(Rule::EndBeforeStart),
        "结束于 4 秒，早于开始时间 5 秒"
    );
    assert_eq!(
        message(Rule::NotChronological),
        "开始于 1 秒，早于 events[0] 的 5 秒"
    );
    assert_eq!(
        message(Rule::OutsideVideo),
        "结束时间 20 秒超出视频范围（视频长 10 秒）"
    );

    // The same mistakes in an English structure are told in English.
    let english = Structure {
        people: vec![Person::new("P1", "the woman in red")],
        events: vec![Event::new(&["P1", "P9"], "waves")],
    };
    let findings = validate_structure(&english, None);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].message, "\"P9\" is not a declared person");
}

#[test]
fn structure_edits_keep_the_caption_chinese() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let lines = [
        serde_json::json!({"caption": "视频中有一个人。这个人是穿红衣服的女人。\n\n穿红衣服的女人挥手。"}),
        // An empty Chinese record: nothing in its structure says Chinese, its text does.
        serde_json::json!({"caption": "视频中没有人。"}),
    ];
    let text: String = lines.iter().map(|l| l.to_string() + "\n").collect();
    std::fs::write(&path, text).unwrap();
    let (mut document, _) = Document::open(&path, &FieldNames::default()).unwrap();
    document
        .apply(Command {
            record: 0,
            edit: Edit::SetAction {
                index: 0,
                action: "转身".into(),
            },
        })
        .unwrap();
    assert_eq!(
        document.file().caption(0).unwrap().caption,
        "视频中有一个人。这个人是穿红衣服的女人。\n\n穿红衣服的女人转身。"
    );
    document
        .apply(Command {
            record: 1,
            edit: Edit::AddPerson {
                person: Person::new("P1", ""),
                at: None,
            },
        })
        .unwrap();
    assert_eq!(
        document.file().caption(1).unwrap().caption,
        "视频中有一个人。这个人是。"
    );
}

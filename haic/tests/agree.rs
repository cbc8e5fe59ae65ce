//! Agreement between two annotators, on constructed pairs of files whose figures can be worked out
//! by hand.

use haic::{
    CaptionFile, FieldNames,
    agree::{AgreeOptions, agree, text_similarity},
};

fn file(name: &str, jsonl: &str) -> CaptionFile {
    let file = CaptionFile::from_bytes(name, jsonl.as_bytes().to_vec(), &FieldNames::default());
    assert!(file.problems().is_empty(), "{:?}", file.problems());
    file
}

/// One clip of 6 s: a man waves from 1 s to 3 s and a woman sits from 2 s to 5 s.
const TWO_PEOPLE: &str = r#"{"video":"clip1.mp4","duration":6.0,"caption":"There are two people. The man in a red hat waves. The woman in a blue coat sits down.","people":[{"id":"P1","attributes":"the man in a red hat"},{"id":"P2","attributes":"the woman in a blue coat"}],"events":[{"who":["P1"],"action":"waves","start":1.0,"end":3.0},{"who":["P2"],"action":"sits down","start":2.0,"end":5.0}]}
{"video":"clip2.mp4","duration":4.0,"caption":"There is one person. The child in green jumps.","people":[{"id":"P1","attributes":"the child in green"}],"events":[{"who":["P1"],"action":"jumps","start":0.5,"end":1.5}]}
"#;

#[test]
fn identical_files_agree_perfectly() {
    let a = file("a.jsonl", TWO_PEOPLE);
    let b = file("b.jsonl", TWO_PEOPLE);
    let result = agree(&a, &b, &AgreeOptions::default());
    assert_eq!(result.records_matched, 2);
    assert_eq!(result.people_matched, 3);
    assert_eq!(result.people_unmatched, 0);
    assert_eq!(result.matched.len(), 3);
    assert!(result.unmatched_a.is_empty() && result.unmatched_b.is_empty());
    assert_eq!(result.mean_iou, Some(1.0));
    assert_eq!(result.kappa, Some(1.0));
    assert_eq!(result.mean_action_similarity, Some(1.0));
    assert_eq!(result.unmatched_share(), Some(0.0));
    // 6 s / 0.5 s = 12 bins for each of two people, 4 s = 8 bins for one.
    assert_eq!(result.bins, 12 * 2 + 8);
}

#[test]
fn a_shifted_event_gives_the_iou_worked_out_by_hand() {
    let a = file("a.jsonl", TWO_PEOPLE);
    // The wave starts and ends one second later: [2, 4] against [1, 3] overlaps 1 s of 3 s.
    let shifted = TWO_PEOPLE.replacen(r#""start":1.0,"end":3.0"#, r#""start":2.0,"end":4.0"#, 1);
    let b = file("b.jsonl", &shifted);
    let result = agree(&a, &b, &AgreeOptions::default());
    let wave = result
        .matched
        .iter()
        .find(|pair| pair.a.action == "waves")
        .expect("the wave is matched");
    assert!((wave.iou.unwrap() - 1.0 / 3.0).abs() < 1e-12, "{wave:?}");
    assert!((result.mean_iou.unwrap() - (1.0 / 3.0 + 1.0 + 1.0) / 3.0).abs() < 1e-12);
    // Bins of the man in clip 1 (centres 0.25 .. 5.75): A has 1.25 .. 2.75 (4 bins), B has
    // 2.25 .. 3.75 (4 bins); they share 2.25 and 2.75. The woman has 6 bins in both, the child 2.
    // 32 bins in all: both 2+6+2 = 10, only A 2, only B 2, neither 18.
    let total = 32.0;
    let observed = 28.0 / total;
    let (yes_a, yes_b) = (12.0 / total, 12.0 / total);
    let expected = yes_a * yes_b + (1.0 - yes_a) * (1.0 - yes_b);
    let kappa = (observed - expected) / (1.0 - expected);
    assert!(
        (result.kappa.unwrap() - kappa).abs() < 1e-12,
        "{:?} vs {kappa}",
        result.kappa
    );
}

#[test]
fn a_missing_event_is_reported_as_unmatched() {
    let a = file("a.jsonl", TWO_PEOPLE);
    let without_sitting = TWO_PEOPLE.replacen(
        r#",{"who":["P2"],"action":"sits down","start":2.0,"end":5.0}"#,
        "",
        1,
    );
    let b = file("b.jsonl", &without_sitting);
    let result = agree(&a, &b, &AgreeOptions::default());
    assert_eq!(result.matched.len(), 2);
    assert!(result.unmatched_b.is_empty());
    assert_eq!(result.unmatched_a.len(), 1);
    let missing = &result.unmatched_a[0];
    assert_eq!(
        (missing.video.as_str(), missing.record, missing.event),
        ("clip1.mp4", 0, 1)
    );
    assert_eq!(missing.action, "sits down");
    assert_eq!(result.unmatched_share(), Some(1.0 / 5.0));
    assert!(result.kappa.unwrap() < 1.0);
}

#[test]
fn people_are_matched_by_what_they_look_like_not_by_id() {
    let a = file("a.jsonl", TWO_PEOPLE);
    // B numbers the people the other way round and words them differently.
    let swapped = r#"{"video":"clip1.mp4","duration":6.0,"caption":"x","people":[{"id":"P1","attributes":"a woman wearing a blue coat"},{"id":"P2","attributes":"a man with a red hat"}],"events":[{"who":["P2"],"action":"waves his hand","start":1.0,"end":3.0},{"who":["P1"],"action":"sits down","start":2.0,"end":5.0}]}
"#;
    let b = file("b.jsonl", swapped);
    let result = agree(&a, &b, &AgreeOptions::default());
    assert_eq!(result.videos_only_a, vec!["clip2.mp4".to_string()]);
    assert_eq!(result.people_matched, 2);
    assert_eq!(result.matched.len(), 2);
    for pair in &result.matched {
        assert_eq!(pair.iou, Some(1.0), "{pair:?}");
    }
    let wave = result
        .matched
        .iter()
        .find(|pair| pair.a.action == "waves")
        .unwrap();
    assert_eq!(wave.b.action, "waves his hand");
    // "waves" against "waves hand" ("his" is a function word): 2*1/3.
    assert!((wave.action_similarity - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(result.kappa, Some(1.0));
}

#[test]
fn untimed_events_pair_by_action_text() {
    let a = file(
        "a.jsonl",
        r#"{"video":"v.mp4","caption":"x","people":[{"id":"P1","attributes":"the man"}],"events":[{"who":["P1"],"action":"opens the door"},{"who":["P1"],"action":"walks out"}]}
"#,
    );
    let b = file(
        "b.jsonl",
        r#"{"video":"v.mp4","caption":"x","people":[{"id":"P1","attributes":"the man"}],"events":[{"who":["P1"],"action":"walks out slowly"},{"who":["P1"],"action":"picks up a cup"}]}
"#,
    );
    let result = agree(&a, &b, &AgreeOptions::default());
    assert_eq!(result.matched.len(), 1);
    assert_eq!(result.matched[0].a.action, "walks out");
    assert_eq!(result.matched[0].iou, None);
    assert_eq!(result.mean_iou, None);
    assert_eq!(result.kappa, None, "no timed events, no bins");
    assert_eq!(result.unmatched_a.len(), 1);
    assert_eq!(result.unmatched_b.len(), 1);
}

#[test]
fn chinese_text_is_compared_character_by_character() {
    assert!((text_similarity("挥手", "挥了挥手") - 2.0 * 2.0 / 5.0).abs() < 1e-12);
    assert_eq!(text_similarity("the man waves", "The man waves."), 1.0);
    assert_eq!(text_similarity("jumps", "sits"), 0.0);
}

//! `eval haicbench` on the demo world: the generator's four-option questions, the shipped demo
//! model in the standard setting, its ground-truth captions in the caption setting with the demo
//! model and the shipped judge, a degraded caption, bad QA records, and resuming a run.
//!
//! Greedy decoding makes the figures deterministic; they are pinned as measured, less (or give
//! or take) a stated margin for float differences between machines.

use std::{
    path::Path,
    process::Command,
    sync::{Arc, atomic::AtomicBool},
};

mod serve_support;

use keye_studio::{
    demo::dataset::write_dataset,
    haicbench::{Answerer, CaptionSource, Evaluation, Outcome, Setting, read_qa},
    inference::{LoadedModel, Placement},
};

/// Videos of the test set; a seed neither the trainer nor `eval demo` uses by default.
const SEED: u64 = 2025;
const VIDEOS: usize = 6;
/// Questions the generator writes for those videos (pins the question set).
const QUESTIONS: usize = 35;
/// Measured with `eval haicbench --qa qa.jsonl --videos . --model assets/models/keye-demo
/// --setting standard` on `demo-data --seed 2025 --count 6`: 16 of 35.
const STANDARD_CORRECT: usize = 16;
/// The same questions in the caption setting with the ground-truth captions and the demo model
/// as judge: 6 of 35. The demo model was trained on video questions only and does not read a
/// caption given as text (its replies are about the video it does not have): see README.
const DEMO_JUDGE_CORRECT: usize = 6;
/// The shipped judge (`assets/judges/keye-demo-judge`, `train-judge` from the demo model) on the
/// ground-truth captions, and on each video given the caption of the next one (a wrong caption
/// in the right format): measured with `eval haicbench --setting caption --captions FILE
/// --judge-model assets/judges/keye-demo-judge`.
const JUDGE_TRUTH_CORRECT: usize = 14;
const JUDGE_WRONG_CAPTION_CORRECT: usize = 8;
/// Answers that may flip where two logits are close.
const MARGIN: usize = 2;

fn demo_model() -> Answerer {
    load("assets/models/keye-demo")
}

fn judge() -> Answerer {
    load("assets/judges/keye-demo-judge")
}

fn load(folder: &str) -> Answerer {
    Answerer::Local(load_model(folder))
}

fn load_model(folder: &str) -> Arc<LoadedModel> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    let model = LoadedModel::load(&dir, Placement::default(), None, None)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    Arc::new(model)
}

fn world() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_dataset(SEED, VIDEOS, dir.path(), &mut |_, _| {}).unwrap();
    dir
}

fn captions_of(dir: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(dir.join("captions.jsonl"))
        .unwrap()
        .lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                record["video"].as_str().unwrap().to_string(),
                record["caption"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn run(
    dir: &Path,
    setting: Setting,
    model: Option<Answerer>,
    judge: Option<Answerer>,
    captions: CaptionSource,
) -> Vec<Outcome> {
    let set = read_qa(&dir.join("qa.jsonl")).unwrap();
    assert!(set.problems.is_empty(), "{:?}", set.problems);
    assert_eq!(
        set.items.len(),
        QUESTIONS,
        "the generator's question set changed"
    );
    let evaluation = Evaluation {
        setting,
        model,
        judge,
        captions,
        videos: dir.to_path_buf(),
        qa: dir.join("qa.jsonl"),
        log: None,
    };
    evaluation
        .run(&set.items, &mut |_, _| {}, &AtomicBool::new(false))
        .unwrap()
}

fn correct(outcomes: &[Outcome]) -> usize {
    outcomes.iter().filter(|o| o.correct).count()
}

#[test]
fn generated_qa_is_deterministic_and_drawn_from_the_ground_truth() {
    let (a, b) = (world(), world());
    let qa = std::fs::read_to_string(a.path().join("qa.jsonl")).unwrap();
    assert_eq!(
        qa,
        std::fs::read_to_string(b.path().join("qa.jsonl")).unwrap()
    );
    let set = read_qa(&a.path().join("qa.jsonl")).unwrap();
    let categories: std::collections::BTreeSet<_> = set.items.iter().map(|q| q.category).collect();
    assert_eq!(categories.len(), 5, "every category occurs: {categories:?}");
    let questions = std::fs::read_to_string(a.path().join("questions.jsonl")).unwrap();
    for item in &set.items {
        // The right option is the short answer the ground truth gives to the same question.
        let truth = questions
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|q| q["video"] == item.video.as_str() && q["question"] == item.question.as_str())
            .unwrap_or_else(|| panic!("{}: no ground truth", item.id));
        assert_eq!(
            truth["answer"],
            item.options[item.answer].as_str(),
            "{}",
            item.id
        );
    }
}

#[test]
fn standard_setting_demo_model_answers_as_measured() {
    let dir = world();
    let outcomes = run(
        dir.path(),
        Setting::Standard,
        Some(demo_model()),
        None,
        CaptionSource::Model,
    );
    let right = correct(&outcomes);
    assert!(
        right + MARGIN >= STANDARD_CORRECT,
        "{right} of {QUESTIONS}, measured {STANDARD_CORRECT}"
    );
    for o in &outcomes {
        assert!(o.error.is_none(), "{}: {:?}", o.id, o.error);
        assert!(
            o.prompt.contains("\nA. ") && o.prompt.contains("\nD. "),
            "{}",
            o.prompt
        );
        assert_eq!(o.correct, o.choice == Some(o.answer), "{o:?}");
    }
}

fn caption_setting(dir: &Path, judge: Answerer, captions: Vec<(String, String)>) -> Vec<Outcome> {
    run(
        dir,
        Setting::Caption,
        None,
        Some(judge),
        CaptionSource::Given {
            file: dir.join("captions.jsonl"),
            captions,
        },
    )
}

#[test]
fn caption_setting_judges_the_caption_text_alone() {
    let dir = world();
    let captions = captions_of(dir.path());
    let outcomes = caption_setting(dir.path(), demo_model(), captions.clone());
    for o in &outcomes {
        let (_, caption) = captions.iter().find(|(v, _)| *v == o.video).unwrap();
        assert!(
            o.prompt.contains(caption.as_str()),
            "{}: {}",
            o.id,
            o.prompt
        );
        assert!(o.prompt.contains(&o.question));
    }
    // The demo model does not read captions: pinned so that a change shows.
    let right = correct(&outcomes);
    assert!(
        right.abs_diff(DEMO_JUDGE_CORRECT) <= MARGIN,
        "{right} of {QUESTIONS}, measured {DEMO_JUDGE_CORRECT}"
    );
}

#[test]
fn a_degraded_caption_scores_lower_than_the_ground_truth() {
    let dir = world();
    let truth = captions_of(dir.path());
    // Each video gets the next video's caption: the right format, the wrong clip.
    let wrong: Vec<(String, String)> = truth
        .iter()
        .enumerate()
        .map(|(i, (video, _))| (video.clone(), truth[(i + 1) % truth.len()].1.clone()))
        .collect();
    let judge = judge();
    let truth = correct(&caption_setting(dir.path(), judge.clone(), truth));
    let wrong = correct(&caption_setting(dir.path(), judge, wrong));
    assert!(
        truth + MARGIN >= JUDGE_TRUTH_CORRECT,
        "ground truth {truth} of {QUESTIONS}, measured {JUDGE_TRUTH_CORRECT}"
    );
    assert!(
        wrong.abs_diff(JUDGE_WRONG_CAPTION_CORRECT) <= MARGIN,
        "wrong captions {wrong} of {QUESTIONS}, measured {JUDGE_WRONG_CAPTION_CORRECT}"
    );
    assert!(
        wrong < truth,
        "wrong captions {wrong}, ground truth {truth}"
    );
}

#[test]
fn a_judge_behind_a_server_answers_as_the_local_one() {
    let dir = world();
    let captions = captions_of(dir.path());
    let model = load_model("assets/judges/keye-demo-judge");
    let server = serve_support::start(Arc::clone(&model), |_| {});
    let url = format!("http://{}", server.local_addr());
    let remote = Answerer::Remote {
        server: keye_studio::remote::RemoteServer::new(&url, None).unwrap(),
        model: serve_support::SERVED.into(),
        url,
    };
    let local = caption_setting(dir.path(), Answerer::Local(model), captions.clone());
    let served = caption_setting(dir.path(), remote, captions);
    let raw = |outcomes: &[Outcome]| outcomes.iter().map(|o| o.raw.clone()).collect::<Vec<_>>();
    assert_eq!(raw(&served), raw(&local));
}

fn cli(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_keye-studio"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_records_are_named_the_rest_evaluated_and_a_rerun_resumes() {
    let dir = world();
    let qa = dir.path().join("qa.jsonl");
    let mut lines: Vec<String> = std::fs::read_to_string(&qa)
        .unwrap()
        .lines()
        .take(3)
        .map(String::from)
        .collect();
    let good: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    let bad = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut record = good.clone();
        edit(&mut record);
        record.to_string()
    };
    lines.push(bad(&|r| r["id"] = "no-category".into()));
    let last = lines.len() - 1;
    lines[last] = bad(&|r| {
        r["id"] = "mood".into();
        r["category"] = "Mood".into();
    });
    lines.push(bad(&|r| {
        r["id"] = "no-options".into();
        r.as_object_mut().unwrap().remove("options");
    }));
    lines.push(bad(&|r| r["answer"] = "E".into()));
    lines.push(lines[1].clone());
    let mine = dir.path().join("mine.jsonl");
    std::fs::write(&mine, lines.join("\n")).unwrap();
    let out = dir.path().join("report.json");
    let args = [
        "eval",
        "haicbench",
        "--qa",
        mine.to_str().unwrap(),
        "--videos",
        dir.path().to_str().unwrap(),
        "--model",
        concat!(env!("CARGO_MANIFEST_DIR"), "/assets/models/keye-demo"),
        "--setting",
        "standard",
        "--out",
        out.to_str().unwrap(),
    ];
    let (ok, stdout, stderr) = cli(&args);
    assert!(ok, "{stderr}");
    let name = mine.display();
    for expected in [
        format!("{name}:4: record \"mood\": unknown category \"Mood\""),
        format!("{name}:5: record \"no-options\": missing field \"options\""),
        format!("{name}:6: record \"0000-0\": answer \"E\" is not among the options"),
        format!("{name}:7: record \"0000-1\": duplicate id"),
    ] {
        assert!(stderr.contains(&expected), "{expected}\n{stderr}");
    }
    assert!(stdout.contains("all "), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(report["questions"], 3);
    assert_eq!(report["skipped_records"].as_array().unwrap().len(), 4);
    let first = &report["outcomes"][0];
    assert!(first["prompt"].as_str().unwrap().contains("\nA. "));
    assert!(first["raw"].is_string());

    // The log holds a header and one line per answer; a rerun asks nothing it holds (an answer
    // changed in the log shows in the new report) and asks again what is missing.
    let partial = dir.path().join("report.json.partial.jsonl");
    let log = std::fs::read_to_string(&partial).unwrap();
    let mut log: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(log.len(), 4);
    log[1]["raw"] = "B".into();
    log[1]["choice"] = "B".into();
    log[1]["correct"] = (log[1]["answer"] == "B").into();
    let asked_again = log.pop().unwrap();
    let text: String = log.iter().map(|v| format!("{v}\n")).collect();
    std::fs::write(&partial, text + "{\"kind\":\"answer\",\"id\"").unwrap();
    let (ok, _, stderr) = cli(&args);
    assert!(ok, "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(report["outcomes"][0]["raw"], "B");
    assert_eq!(report["outcomes"][2]["raw"], asked_again["raw"]);
    assert_eq!(
        std::fs::read_to_string(&partial).unwrap().lines().count(),
        4
    );

    // A log of another run is not mixed in.
    let (ok, _, stderr) = cli(&[
        &args[..8],
        &["--setting", "caption", "--out", out.to_str().unwrap()],
    ]
    .concat());
    assert!(!ok);
    assert!(stderr.contains("belongs to another run"), "{stderr}");
}

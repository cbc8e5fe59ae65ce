//! What can be asked about a scene, with answers and the evidence they rest on: short questions
//! of seven kinds, the HAIC caption of the scene, HAICBench-style four-option questions, and the
//! short reasoning trace ("At 1.5 s the red square is at the left. ...") that refers to the
//! moments the model was shown.

use serde::Serialize;

use super::world::{Action, Actor, Colour, Direction, Scene, Shape};

/// The question kinds; evaluation reports accuracy per kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Colour,
    Shape,
    Count,
    Direction,
    /// Order of events and what follows what ("order/when").
    Order,
    Interaction,
    Describe,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Colour,
        Kind::Shape,
        Kind::Count,
        Kind::Direction,
        Kind::Order,
        Kind::Interaction,
        Kind::Describe,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Colour => "colour",
            Kind::Shape => "shape",
            Kind::Count => "count",
            Kind::Direction => "direction",
            Kind::Order => "order",
            Kind::Interaction => "interaction",
            Kind::Describe => "describe",
        }
    }

    /// The HAICBench category of the four-option version (`None` for describe).
    pub fn haic_category(self) -> Option<&'static str> {
        match self {
            Kind::Colour | Kind::Shape => Some("Attribute"),
            Kind::Count => Some("Count"),
            Kind::Direction => Some("Action Details"),
            Kind::Order => Some("Action Sequence"),
            Kind::Interaction => Some("Interaction"),
            Kind::Describe => None,
        }
    }

    /// Whether the answer depends on when things happen: auto-think reasons first for these.
    pub fn needs_moments(self) -> bool {
        matches!(self, Kind::Direction | Kind::Order | Kind::Interaction)
    }
}

/// One statement a reasoning trace can make, tied to a moment of the scene.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Evidence {
    /// "the red square is at the left", at the shown frame nearest `time` where it is visible.
    Place { actor: usize, time: f64 },
    /// A fixed statement ("the red square enters") at the shown frame nearest `time`.
    Event { time: f64, text: String },
    /// "the square is red": at a shown frame near `time` where the actor is visible.
    Looks {
        actor: usize,
        time: f64,
        text: String,
    },
}

/// A question with its canonical answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Question {
    pub kind: Kind,
    pub question: String,
    pub answer: String,
    /// Actors the answer names (by index): whose boxes the heatmap should cover.
    pub named: Vec<usize>,
    /// Other answers of the same family, for four-option questions.
    #[serde(skip)]
    pub distractors: Vec<String>,
    #[serde(skip)]
    pub evidence: Vec<Evidence>,
}

/// Every question the scene supports, in a fixed order (kind, then actor).
pub fn all_questions(scene: &Scene) -> Vec<Question> {
    let mut out = Vec::new();
    let actors = &scene.actors;
    let colours = |except: &[Colour]| -> Vec<String> {
        Colour::ALL
            .into_iter()
            .filter(|c| !except.contains(c))
            .map(|c| c.name().to_string())
            .collect()
    };
    let mid = |actor: &Actor| visible_time(scene, actor, scene.duration() / 2.0);
    for (i, actor) in actors.iter().enumerate() {
        let look = actor.look;
        match actor.find(|a| matches!(a, Action::Turn { .. })) {
            Some(turn) => {
                let Action::Turn { colour } = turn.action else {
                    continue;
                };
                out.push(Question {
                    kind: Kind::Colour,
                    question: format!("What colour does the {} turn?", look.shape.name()),
                    answer: colour.name().into(),
                    named: vec![i],
                    distractors: colours(&[colour, look.colour]),
                    evidence: vec![
                        Evidence::Looks {
                            actor: i,
                            time: turn.start - 0.3,
                            text: format!("the {} is {}", look.shape.name(), look.colour.name()),
                        },
                        Evidence::Looks {
                            actor: i,
                            time: turn.start + 0.3,
                            text: format!("the {} is {}", look.shape.name(), colour.name()),
                        },
                    ],
                });
            }
            None => {
                out.push(Question {
                    kind: Kind::Colour,
                    question: format!("What colour is the {}?", look.shape.name()),
                    answer: look.colour.name().into(),
                    named: vec![i],
                    distractors: colours(&[look.colour]),
                    evidence: vec![Evidence::Looks {
                        actor: i,
                        time: mid(actor),
                        text: format!("the {} is {}", look.shape.name(), look.colour.name()),
                    }],
                });
                out.push(Question {
                    kind: Kind::Shape,
                    question: format!("What shape is the {} one?", look.colour.name()),
                    answer: look.shape.name().into(),
                    named: vec![i],
                    distractors: Shape::ALL
                        .into_iter()
                        .filter(|&s| s != look.shape)
                        .map(|s| s.name().to_string())
                        .collect(),
                    evidence: vec![Evidence::Looks {
                        actor: i,
                        time: mid(actor),
                        text: format!("the {} one is a {}", look.colour.name(), look.shape.name()),
                    }],
                });
            }
        }
    }
    let n = actors.len();
    out.push(Question {
        kind: Kind::Count,
        question: "How many shapes are there?".into(),
        answer: number_word(n).into(),
        named: (0..n).collect(),
        distractors: (1..=4)
            .filter(|&k| k != n)
            .map(|k| number_word(k).to_string())
            .collect(),
        evidence: actors
            .iter()
            .enumerate()
            .map(|(i, a)| Evidence::Looks {
                actor: i,
                time: first_visible(scene, a).unwrap_or(0.0),
                text: format!("there is {}", indefinite(&a.look.short())),
            })
            .collect(),
    });
    for (i, actor) in actors.iter().enumerate() {
        let Some((direction, start, end)) = actor.single_motion() else {
            continue;
        };
        let short = actor.look.short();
        let motion = actor
            .find(|a| a.is_motion())
            .map(|a| a.action)
            .unwrap_or(Action::StayStill);
        let (question, answer, words): (String, String, Vec<&str>) = match motion {
            Action::Enter { from } => (
                format!("Which side does {short} enter from?"),
                from.side_name().into(),
                vec!["left", "right", "top", "bottom"],
            ),
            Action::Leave { to } => (
                format!("Which side does {short} leave to?"),
                to.side_name().into(),
                vec!["left", "right", "top", "bottom"],
            ),
            _ => (
                format!("Which way does {short} move?"),
                direction.name().into(),
                Direction::ALL.iter().map(|d| d.name()).collect(),
            ),
        };
        out.push(Question {
            kind: Kind::Direction,
            distractors: words
                .into_iter()
                .filter(|w| *w != answer)
                .map(str::to_string)
                .collect(),
            question,
            answer,
            named: vec![i],
            evidence: vec![
                Evidence::Place {
                    actor: i,
                    time: start,
                },
                Evidence::Place {
                    actor: i,
                    time: end,
                },
            ],
        });
    }
    order_questions(scene, &mut out);
    for (i, actor) in actors.iter().enumerate() {
        let Some(touch) = actor.find(|a| matches!(a, Action::Touch { .. })) else {
            continue;
        };
        let Action::Touch { other } = touch.action else {
            continue;
        };
        let (a, b) = (actor.look.short(), actors[other].look.short());
        let sentence = format!("{a} touches {b}");
        let phrases = other_phrases(scene);
        out.push(Question {
            kind: Kind::Interaction,
            question: format!("Which shape touches {b}?"),
            answer: a.clone(),
            named: vec![i],
            distractors: phrases
                .iter()
                .filter(|p| **p != a && **p != b)
                .cloned()
                .collect(),
            evidence: vec![Evidence::Event {
                time: touch.start,
                text: sentence.clone(),
            }],
        });
        out.push(Question {
            kind: Kind::Interaction,
            question: format!("What does {a} touch?"),
            answer: b.clone(),
            named: vec![other],
            distractors: phrases
                .iter()
                .filter(|p| **p != a && **p != b)
                .cloned()
                .collect(),
            evidence: vec![Evidence::Event {
                time: touch.start,
                text: sentence,
            }],
        });
    }
    out.push(Question {
        kind: Kind::Describe,
        question: "Describe the video.".into(),
        answer: haic::text::render(&structure(scene)),
        named: (0..n).collect(),
        distractors: Vec::new(),
        evidence: Vec::new(),
    });
    out
}

/// "Which enters first", "what does X do after it ...", "what does X do first".
fn order_questions(scene: &Scene, out: &mut Vec<Question>) {
    let actors = &scene.actors;
    let entering: Vec<(usize, f64)> = actors
        .iter()
        .enumerate()
        .filter_map(|(i, a)| {
            a.find(|x| matches!(x, Action::Enter { .. }))
                .map(|e| (i, e.start))
        })
        .collect();
    for (k, &(i, ti)) in entering.iter().enumerate() {
        for &(j, tj) in &entering[k + 1..] {
            if (ti - tj).abs() < 0.5 {
                continue;
            }
            let (first, second) = if ti < tj { (i, j) } else { (j, i) };
            let (a, b) = (actors[i].look.short(), actors[j].look.short());
            let answer = actors[first].look.short();
            let evidence = [first, second]
                .into_iter()
                .map(|x| {
                    let enter = actors[x]
                        .find(|a| matches!(a, Action::Enter { .. }))
                        .map_or(0.0, |e| e.start);
                    Evidence::Event {
                        time: enter + 0.3,
                        text: format!("{} enters", actors[x].look.short()),
                    }
                })
                .collect();
            out.push(Question {
                kind: Kind::Order,
                question: format!("Which enters first, {a} or {b}?"),
                answer,
                named: vec![first],
                distractors: other_phrases(scene)
                    .into_iter()
                    .filter(|p| *p != a && *p != b)
                    .chain([actors[second].look.short()])
                    .collect(),
                evidence,
            });
        }
    }
    for (i, actor) in actors.iter().enumerate() {
        let steps: Vec<_> = actor
            .actions
            .iter()
            .filter(|a| a.action != Action::StayStill)
            .collect();
        if steps.len() < 2 {
            continue;
        }
        let short = actor.look.short();
        let phrase = |action: &Action| action_phrase(scene, action);
        let all_phrases: Vec<String> = order_answer_pool(scene, actor);
        let first = phrase(&steps[0].action);
        out.push(Question {
            kind: Kind::Order,
            question: format!("What does {short} do first?"),
            answer: first.clone(),
            named: vec![i],
            distractors: all_phrases
                .iter()
                .filter(|p| **p != first)
                .cloned()
                .collect(),
            evidence: steps
                .iter()
                .take(2)
                .map(|s| Evidence::Event {
                    time: (s.start + s.end) / 2.0,
                    text: format!("{short} {}", phrase(&s.action)),
                })
                .collect(),
        });
        for pair in steps.windows(2) {
            let (before, after) = (pair[0], pair[1]);
            let next = phrase(&after.action);
            out.push(Question {
                kind: Kind::Order,
                question: format!("What does {short} do after it {}?", phrase(&before.action)),
                answer: next.clone(),
                named: vec![i],
                distractors: all_phrases
                    .iter()
                    .filter(|p| **p != next)
                    .cloned()
                    .collect(),
                evidence: [before, after]
                    .into_iter()
                    .map(|s| Evidence::Event {
                        time: (s.start + s.end) / 2.0,
                        text: format!("{short} {}", phrase(&s.action)),
                    })
                    .collect(),
            });
        }
    }
}

/// Verb phrases an order answer can be, for distractors: the actor's own plus common ones.
fn order_answer_pool(scene: &Scene, actor: &Actor) -> Vec<String> {
    let mut pool: Vec<String> = actor
        .actions
        .iter()
        .filter(|a| a.action != Action::StayStill)
        .map(|a| action_phrase(scene, &a.action))
        .collect();
    for extra in [
        "jumps",
        "spins",
        "stops",
        "moves left",
        "moves right",
        "leaves to the top",
    ] {
        if !pool.iter().any(|p| p == extra) {
            pool.push(extra.to_string());
        }
    }
    pool
}

/// The verb phrase of an action with its target: "touches the blue circle".
pub fn action_phrase(scene: &Scene, action: &Action) -> String {
    match action {
        Action::Touch { other } => format!(
            "touches {}",
            scene
                .actors
                .get(*other)
                .map_or(String::new(), |a| a.look.short())
        ),
        other => other.verb_phrase(),
    }
}

/// Short phrases of looks that are not in the scene, then of those that are: distractors for
/// answers that name an actor.
fn other_phrases(scene: &Scene) -> Vec<String> {
    let mut phrases = Vec::new();
    for (k, colour) in Colour::ALL.into_iter().enumerate() {
        let shape = Shape::ALL[(k + scene.actors.len()) % Shape::ALL.len()];
        let phrase = format!("the {} {}", colour.name(), shape.name());
        if !scene.actors.iter().any(|a| a.look.short() == phrase) {
            phrases.push(phrase);
        }
    }
    phrases.extend(scene.actors.iter().map(|a| a.look.short()));
    phrases
}

fn number_word(n: usize) -> &'static str {
    ["zero", "one", "two", "three", "four", "five"]
        .get(n)
        .copied()
        .unwrap_or("many")
}

fn indefinite(short: &str) -> String {
    short.strip_prefix("the ").map_or_else(
        || short.to_string(),
        |rest| {
            let article = if rest.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            format!("{article} {rest}")
        },
    )
}

fn first_visible(scene: &Scene, actor: &Actor) -> Option<f64> {
    scene
        .frame_times()
        .into_iter()
        .find(|&t| actor.visible(t, scene.width, scene.height))
}

/// `time` if the actor is visible then, else the visible frame time nearest to it.
fn visible_time(scene: &Scene, actor: &Actor, time: f64) -> f64 {
    scene
        .frame_times()
        .into_iter()
        .filter(|&t| actor.visible(t, scene.width, scene.height))
        .min_by(|a, b| (a - time).abs().total_cmp(&(b - time).abs()))
        .unwrap_or(time)
}

/// The HAIC structure of a scene: actors as people by their attribute phrases, every action as a
/// timed event in time order (touches name their target).
pub fn structure(scene: &Scene) -> haic::model::Structure {
    let people = scene
        .actors
        .iter()
        .map(|a| haic::model::Person::new(a.id.clone(), a.look.phrase()))
        .collect();
    let mut events: Vec<(f64, usize, haic::model::Event)> = Vec::new();
    for (i, actor) in scene.actors.iter().enumerate() {
        for timed in &actor.actions {
            let mut event =
                haic::model::Event::new(&[actor.id.as_str()], timed.action.verb_phrase())
                    .timed(timed.start, timed.end);
            if let Action::Touch { other } = timed.action {
                event = event.with(&[scene.actors[other].id.as_str()]);
            }
            events.push((timed.start, i, event));
        }
    }
    // Stable by start time, then actor: the order HAIC text tells them in.
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    haic::model::Structure {
        people,
        events: events.into_iter().map(|(_, _, e)| e).collect(),
    }
}

/// The reasoning trace for `question`, citing only the `shown` times (the timestamps the model
/// saw, as the prompt prints them) and statements true at those frames.
pub fn trace(scene: &Scene, question: &Question, shown: &[f64]) -> String {
    let mut sentences = Vec::new();
    let visible_near = |actor: usize, time: f64| -> Option<f64> {
        let a = &scene.actors[actor];
        shown
            .iter()
            .copied()
            .filter(|&t| a.visible(t, scene.width, scene.height))
            .min_by(|x, y| (x - time).abs().total_cmp(&(y - time).abs()))
    };
    let nearest = |time: f64| -> Option<f64> {
        shown
            .iter()
            .copied()
            .min_by(|x, y| (x - time).abs().total_cmp(&(y - time).abs()))
    };
    for evidence in &question.evidence {
        match evidence {
            Evidence::Place { actor, time } => {
                if let Some(t) = visible_near(*actor, *time) {
                    let a = &scene.actors[*actor];
                    let pose = a.pose(t);
                    let place = scene.place_words(pose.x, pose.y);
                    sentences.push(format!("At {t:.1} s {} is at the {place}.", a.look.short()));
                }
            }
            Evidence::Event { time, text } => {
                if let Some(t) = nearest(*time) {
                    sentences.push(format!("At {t:.1} s {text}."));
                }
            }
            Evidence::Looks { actor, time, text } => {
                if let Some(t) = visible_near(*actor, *time) {
                    sentences.push(format!("At {t:.1} s {text}."));
                }
            }
        }
    }
    sentences.dedup();
    sentences.join(" ")
}

/// A HAICBench-style four-option version of `question`: options in a seeded order, the answer
/// as a letter. `None` for describe or when there are too few distractors.
pub fn four_options(
    question: &Question,
    rng: &mut fastrand::Rng,
) -> Option<(Vec<String>, char, &'static str)> {
    let category = question.kind.haic_category()?;
    let mut distractors: Vec<String> = Vec::new();
    for d in &question.distractors {
        if *d != question.answer && !distractors.contains(d) {
            distractors.push(d.clone());
        }
    }
    if distractors.len() < 3 {
        return None;
    }
    rng.shuffle(&mut distractors);
    let mut options: Vec<String> = distractors.into_iter().take(3).collect();
    let at = rng.usize(..4);
    options.insert(at, question.answer.clone());
    Some((options, (b'A' + at as u8) as char, category))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::world::WorldSpec;

    #[test]
    fn every_kind_occurs_and_captions_validate() {
        let mut kinds = std::collections::HashSet::new();
        for seed in 0..100 {
            let scene = Scene::generate(seed, &WorldSpec::full());
            for q in all_questions(&scene) {
                kinds.insert(q.kind);
                assert!(!q.answer.is_empty());
                assert!(!q.named.is_empty(), "{q:?}");
            }
            let structure = structure(&scene);
            let findings = haic::validate::validate_structure(&structure, Some(scene.duration()));
            assert!(findings.is_empty(), "seed {seed}: {findings:?}");
            let text = haic::text::render(&structure);
            let parsed = haic::text::parse(&text).expect("canonical text parses");
            assert_eq!(parsed.people.len(), scene.actors.len());
        }
        assert_eq!(kinds.len(), Kind::ALL.len(), "{kinds:?}");
    }

    #[test]
    fn traces_cite_only_shown_times() {
        let scene = Scene::generate(7, &WorldSpec::full());
        let shown = [0.0, 0.5, 1.0, 1.5];
        for q in all_questions(&scene) {
            let trace = trace(&scene, &q, &shown);
            for word in trace.split_whitespace() {
                if let Ok(t) = word.parse::<f64>() {
                    assert!(shown.contains(&t), "{trace}");
                }
            }
        }
    }
}

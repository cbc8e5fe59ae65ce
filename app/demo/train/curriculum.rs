//! The curriculum: still single frames with one or two actors first (what colour, what shape,
//! how many), then motion over a few frames (which way, what comes first), then everything the
//! world has with reasoning traces and auto-think. Later stages replay a share of earlier ones.

use super::example::{Contrast, Recipe};
use crate::demo::{questions::Kind, world::WorldSpec};

/// The stage a share `progress` (0..1) of the run is in, and its recipe; never before
/// `first_stage` (a fine-tune of a trained checkpoint starts where its training had got to).
pub fn stage(progress: f64, first_stage: usize) -> (usize, Recipe) {
    let by_progress = if progress < 0.15 {
        0
    } else if progress < 0.4 {
        1
    } else {
        2
    };
    let index = by_progress.max(first_stage).min(2);
    (index, stage_recipe(index))
}

/// The recipe of example `index` of a step at `progress`: a fifth of the examples of later
/// stages come from the stage before, so early skills are kept, and in the last stage another
/// fifth are still frames again (what shape and how big an actor is, which the last stage's
/// moving, spinning, crowded scenes make hard to learn). With `contrast`, in every stage a fifth
/// are contrast conversations of the stage's world.
pub fn recipe(progress: f64, first_stage: usize, index: usize, contrast: bool) -> Recipe {
    let (stage_index, current) = stage(progress, first_stage);
    match index % 5 {
        4 if stage_index > 0 => stage_recipe(stage_index - 1),
        3 if stage_index == 2 => stage_recipe(0),
        2 if contrast => with_contrast(current),
        _ => current,
    }
}

/// `stage` with two or three actors, asking the same kind of question of each in turn, so the
/// binding the drill teaches is practised on the stage's world too.
fn with_contrast(stage: Recipe) -> Recipe {
    Recipe {
        world: WorldSpec {
            min_actors: 2,
            max_actors: stage.world.max_actors.max(3),
            ..stage.world
        },
        kinds: stage
            .kinds
            .into_iter()
            .filter(|&kind| crate::demo::teach::grounded(kind))
            .collect(),
        contrast: Contrast::SameKind,
        probe_share: 0.5,
        ..stage
    }
}

/// The binding drill (`train-demo --binding-drill`): every example a still frame of two or three
/// actors, asked the colour or shape of the other actors first and then of one more. A model that
/// answers about whichever actor stands out is right by chance on each; fine-tuning `keye-demo`
/// on this alone took its colour and shape answers on crowded videos from that chance to nearly
/// all right after a plateau of about 500 steps.
pub fn binding_drill() -> Recipe {
    Recipe {
        world: WorldSpec {
            min_actors: 2,
            max_actors: 3,
            duration: (0.5, 1.5),
            motion: false,
            events: false,
        },
        kinds: vec![Kind::Colour, Kind::Shape],
        history: 4,
        probe_share: 0.5,
        think_share: 0.0,
        auto_share: 0.0,
        contrast: Contrast::AnyKind,
    }
}

fn stage_recipe(index: usize) -> Recipe {
    match index {
        0 => still(),
        1 => motion(),
        _ => everything(),
    }
}

fn still() -> Recipe {
    Recipe {
        world: WorldSpec {
            min_actors: 1,
            max_actors: 2,
            duration: (0.5, 1.5),
            motion: false,
            events: false,
        },
        kinds: vec![Kind::Colour, Kind::Shape, Kind::Count, Kind::Describe],
        history: 2,
        probe_share: 0.6,
        think_share: 0.1,
        auto_share: 0.1,
        contrast: Contrast::Off,
    }
}

fn motion() -> Recipe {
    Recipe {
        world: WorldSpec {
            min_actors: 1,
            max_actors: 3,
            duration: (1.0, 2.5),
            motion: true,
            events: false,
        },
        kinds: vec![
            Kind::Colour,
            Kind::Shape,
            Kind::Count,
            Kind::Direction,
            Kind::Order,
            Kind::Describe,
        ],
        history: 5,
        probe_share: 0.5,
        think_share: 0.2,
        auto_share: 0.2,
        contrast: Contrast::Off,
    }
}

fn everything() -> Recipe {
    Recipe {
        world: WorldSpec::full(),
        kinds: Kind::ALL.to_vec(),
        history: 5,
        probe_share: 0.4,
        think_share: 0.25,
        auto_share: 0.25,
        contrast: Contrast::Off,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which stage's world each of a step's first ten examples comes from, as "c" plus the stage
    /// for a contrast conversation.
    fn worlds(progress: f64, first_stage: usize, contrast: bool) -> Vec<String> {
        (0..10)
            .map(|index| {
                let recipe = recipe(progress, first_stage, index, contrast);
                let world = &recipe.world;
                let contrast = recipe.contrast != Contrast::Off;
                let stage = (0..3)
                    .find(|&s| {
                        let own = stage_recipe(s).world;
                        own.motion == world.motion
                            && own.events == world.events
                            && (contrast || own.max_actors == world.max_actors)
                    })
                    .unwrap();
                if contrast {
                    format!("c{stage}")
                } else {
                    stage.to_string()
                }
            })
            .collect()
    }

    fn expect(stages: &str) -> Vec<String> {
        stages.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn the_last_stage_replays_motion_and_still_frames() {
        assert_eq!(
            worlds(0.0, 0, false),
            expect("0 0 0 0 0 0 0 0 0 0"),
            "the first stage has nothing to replay"
        );
        assert_eq!(worlds(0.2, 0, false), expect("1 1 1 1 0 1 1 1 1 0"));
        assert_eq!(worlds(0.9, 0, false), expect("2 2 2 0 1 2 2 2 0 1"));
        assert_eq!(
            worlds(0.0, 2, false),
            worlds(0.9, 0, false),
            "a fine-tune starts at the last stage"
        );
        assert_eq!(worlds(0.0, 0, true), expect("0 0 c0 0 0 0 0 c0 0 0"));
        assert_eq!(worlds(0.2, 0, true), expect("1 1 c1 1 0 1 1 c1 1 0"));
        assert_eq!(worlds(0.9, 0, true), expect("2 2 c2 0 1 2 2 c2 0 1"));
    }

    #[test]
    fn contrast_conversations_have_two_actors_or_more_and_grounded_kinds() {
        for progress in [0.0, 0.2, 0.9] {
            let recipe = recipe(progress, 0, 2, true);
            assert_eq!(recipe.contrast, Contrast::SameKind);
            assert!(recipe.world.min_actors >= 2, "at {progress}");
            assert!(!recipe.kinds.is_empty());
            assert!(
                recipe
                    .kinds
                    .iter()
                    .all(|&k| crate::demo::teach::grounded(k)),
                "at {progress}: {:?}",
                recipe.kinds
            );
        }
    }
}

//! The curriculum: still single frames with one or two actors first (what colour, what shape,
//! how many), then motion over a few frames (which way, what comes first), then everything the
//! world has with reasoning traces and auto-think. Later stages replay a share of earlier ones.

use super::example::Recipe;
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
/// moving, spinning, crowded scenes make hard to learn).
pub fn recipe(progress: f64, first_stage: usize, index: usize) -> Recipe {
    let (stage_index, current) = stage(progress, first_stage);
    match index % 5 {
        4 if stage_index > 0 => stage_recipe(stage_index - 1),
        3 if stage_index == 2 => stage_recipe(0),
        _ => current,
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which stage's world each of a step's first ten examples comes from.
    fn worlds(progress: f64, first_stage: usize) -> Vec<usize> {
        (0..10)
            .map(|index| {
                let world = recipe(progress, first_stage, index).world;
                (0..3)
                    .find(|&s| {
                        stage_recipe(s).world.max_actors == world.max_actors
                            && stage_recipe(s).world.motion == world.motion
                            && stage_recipe(s).world.events == world.events
                    })
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn the_last_stage_replays_motion_and_still_frames() {
        assert_eq!(
            worlds(0.0, 0),
            vec![0; 10],
            "the first stage has nothing to replay"
        );
        assert_eq!(worlds(0.2, 0), vec![1, 1, 1, 1, 0, 1, 1, 1, 1, 0]);
        assert_eq!(worlds(0.9, 0), vec![2, 2, 2, 0, 1, 2, 2, 2, 0, 1]);
        assert_eq!(
            worlds(0.0, 2),
            worlds(0.9, 0),
            "a fine-tune starts at the last stage"
        );
    }
}

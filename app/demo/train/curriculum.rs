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
/// stages come from the stage before, so early skills are kept.
pub fn recipe(progress: f64, first_stage: usize, index: usize) -> Recipe {
    let (stage_index, current) = stage(progress, first_stage);
    if stage_index > 0 && index % 5 == 4 {
        return stage_recipe(stage_index - 1);
    }
    current
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

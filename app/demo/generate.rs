//! Scene generation: a random plan per actor (still, acting in place, moving, entering,
//! leaving, or a pair where one touches the other), kept apart from the others in every frame,
//! all from one seed; and the hand-written scene of the bundled demo video.

use super::world::{
    Action, Actor, Background, CANVAS_SIZES, Colour, Direction, FRAME_RATES, Look, Scene, Shape,
    Size, TimedAction, WorldSpec,
};

/// Picks one item of a non-empty slice.
fn choose<T: Copy>(rng: &mut fastrand::Rng, items: &[T]) -> T {
    items[rng.usize(..items.len())]
}

fn uniform(rng: &mut fastrand::Rng, low: f64, high: f64) -> f64 {
    low + (high - low) * rng.f64()
}

/// Round to a tenth of a second: event times read well in captions and traces.
fn tenth(t: f64) -> f64 {
    (t * 10.0).round() / 10.0
}

impl Scene {
    /// A scene from `seed` (the same seed always gives the same scene).
    pub fn generate(seed: u64, spec: &WorldSpec) -> Scene {
        let mut rng = fastrand::Rng::with_seed(seed);
        let (width, height) = choose(&mut rng, &CANVAS_SIZES);
        let fps = choose(&mut rng, &FRAME_RATES);
        let duration = uniform(&mut rng, spec.duration.0, spec.duration.1);
        let frames = ((duration * f64::from(fps)).round() as usize).max(1);
        let duration = frames as f64 / f64::from(fps);
        let bases: [[u8; 3]; 5] = [
            [38, 42, 50],
            [70, 74, 80],
            [112, 112, 108],
            [150, 150, 146],
            [196, 196, 190],
        ];
        let background = Background {
            base: choose(&mut rng, &bases),
            gradient: if rng.bool() {
                uniform(&mut rng, 4.0, 16.0)
            } else {
                0.0
            },
            grain: if rng.bool() {
                uniform(&mut rng, 2.0, 6.0)
            } else {
                0.0
            },
            grain_seed: rng.u64(..),
        };
        let count = rng.usize(spec.min_actors.max(1)..=spec.max_actors.max(1));
        let mut colours = Colour::ALL.to_vec();
        rng.shuffle(&mut colours);
        let mut shapes = Shape::ALL.to_vec();
        rng.shuffle(&mut shapes);
        let looks: Vec<Look> = (0..count.min(shapes.len()))
            .map(|i| Look {
                colour: colours[i],
                shape: shapes[i],
                size: if rng.bool() { Size::Big } else { Size::Small },
                striped: rng.u8(..) < 64,
            })
            .collect();
        let canvas = Canvas {
            width: f64::from(width),
            height: f64::from(height),
            duration,
            frame_times: (0..frames).map(|i| i as f64 / f64::from(fps)).collect(),
        };
        let short = width.min(height);
        let mut actors: Vec<Actor> = Vec::new();
        let mut remaining: Vec<Look> = looks.clone();
        if remaining.len() >= 2 && spec.events && spec.motion && rng.f64() < 0.35 {
            let (a, b) = (remaining[0], remaining[1]);
            if let Some(pair) = touch_pair(&mut rng, &canvas, a, b, short) {
                actors.extend(pair);
                remaining.drain(..2);
            }
        }
        for look in remaining {
            let side = look.size.side(short);
            let placed = (0..40).find_map(|_| {
                let actor = plan_actor(&mut rng, &canvas, look, side, spec);
                (!actors.iter().any(|other| canvas.collide(&actor, other))).then_some(actor)
            });
            let actor = placed.or_else(|| {
                (0..40).find_map(|_| {
                    let actor = still_actor(&mut rng, &canvas, look, side);
                    (!actors.iter().any(|other| canvas.collide(&actor, other))).then_some(actor)
                })
            });
            if let Some(actor) = actor {
                actors.push(actor);
            }
        }
        for (i, actor) in actors.iter_mut().enumerate() {
            actor.id = format!("P{}", i + 1);
        }
        Scene {
            seed,
            width,
            height,
            fps,
            frames,
            background,
            actors,
        }
    }
}

impl Scene {
    /// The bundled demo video's scene (`assets/demo.mp4`): the big red square moves right and
    /// touches the small blue circle, which then jumps; the small green triangle with a stripe
    /// enters from the top and spins.
    pub fn showcase() -> Scene {
        let (width, height, fps) = (224, 168, 10);
        let short = width.min(height);
        let look = |colour, shape, size, striped| Look {
            colour,
            shape,
            size,
            striped,
        };
        let square = look(Colour::Red, Shape::Square, Size::Big, false);
        let circle = look(Colour::Blue, Shape::Circle, Size::Small, false);
        let triangle = look(Colour::Green, Shape::Triangle, Size::Small, true);
        let (side_a, side_b) = (square.size.side(short), circle.size.side(short));
        let contact = (side_a + side_b) / 2.0;
        let timed = |action, start, end| TimedAction { action, start, end };
        let first = Actor {
            id: "P1".into(),
            look: square,
            actions: vec![
                timed(
                    Action::Move {
                        direction: Direction::Right,
                    },
                    0.5,
                    2.0,
                ),
                timed(Action::Touch { other: 1 }, 2.0, 2.0),
            ],
            path: vec![(0.5, 40.0, 112.0), (2.0, 170.0 - contact, 112.0)],
            side: side_a,
        };
        let second = Actor {
            id: "P2".into(),
            look: circle,
            actions: vec![timed(Action::Jump, 1.7, 2.8)],
            path: vec![(0.0, 170.0, 112.0)],
            side: side_b,
        };
        let third = Actor {
            id: "P3".into(),
            look: triangle,
            actions: vec![
                timed(
                    Action::Enter {
                        from: Direction::Up,
                    },
                    0.3,
                    1.3,
                ),
                timed(Action::Stop, 1.3, 1.3),
                timed(Action::Spin, 1.8, 3.0),
            ],
            path: vec![(0.3, 56.0, -20.0), (1.3, 56.0, 40.0)],
            side: Size::Small.side(short),
        };
        Scene {
            seed: 0,
            width,
            height,
            fps,
            frames: 30,
            background: Background {
                base: [70, 74, 80],
                gradient: 10.0,
                grain: 3.0,
                grain_seed: 14,
            },
            actors: vec![first, second, third],
        }
    }
}

/// What actor planning needs to know about the video.
struct Canvas {
    width: f64,
    height: f64,
    duration: f64,
    frame_times: Vec<f64>,
}

impl Canvas {
    /// Whether two actors' boxes come closer than 3 px in any frame (touching pairs are planned
    /// together and never checked against each other).
    fn collide(&self, a: &Actor, b: &Actor) -> bool {
        let (w, h) = (self.width as u32, self.height as u32);
        self.frame_times.iter().any(
            |&t| match (a.bounding_box(t, w, h), b.bounding_box(t, w, h)) {
                (Some(p), Some(q)) => {
                    let gap = 3;
                    p[0] < q[2] + gap && q[0] < p[2] + gap && p[1] < q[3] + gap && q[1] < p[3] + gap
                }
                _ => false,
            },
        )
    }

    /// A random centre that keeps the whole shape inside.
    fn inside(&self, rng: &mut fastrand::Rng, side: f64) -> (f64, f64) {
        let m = side / 2.0 + 2.0;
        (
            uniform(rng, m, self.width - m),
            uniform(rng, m, self.height - m),
        )
    }

    fn extent(&self, direction: Direction) -> f64 {
        match direction {
            Direction::Left | Direction::Right => self.width,
            Direction::Up | Direction::Down => self.height,
        }
    }
}

fn new_actor(look: Look, side: f64, start: (f64, f64)) -> Actor {
    Actor {
        id: String::new(),
        look,
        actions: Vec::new(),
        path: vec![(0.0, start.0, start.1)],
        side,
    }
}

fn still_actor(rng: &mut fastrand::Rng, canvas: &Canvas, look: Look, side: f64) -> Actor {
    let mut actor = new_actor(look, side, canvas.inside(rng, side));
    actor.actions.push(TimedAction {
        action: Action::StayStill,
        start: 0.0,
        end: tenth(canvas.duration).min(canvas.duration),
    });
    actor
}

/// Appends in-place actions (jump, spin, turn) from `from` seconds while time allows.
fn in_place_actions(
    rng: &mut fastrand::Rng,
    canvas: &Canvas,
    actor: &mut Actor,
    mut from: f64,
    most: usize,
) {
    let mut used_turn = actor
        .actions
        .iter()
        .any(|a| matches!(a.action, Action::Turn { .. }));
    for _ in 0..most {
        let start = tenth(from + uniform(rng, 0.1, 0.5));
        let mut options = vec![Action::Jump];
        if actor.look.shape != Shape::Circle {
            options.push(Action::Spin);
        }
        if !used_turn {
            let mut colours: Vec<Colour> = Colour::ALL
                .into_iter()
                .filter(|&c| c != actor.look.colour)
                .collect();
            rng.shuffle(&mut colours);
            options.push(Action::Turn { colour: colours[0] });
        }
        let action = choose(rng, &options);
        let length = match action {
            Action::Jump => uniform(rng, 1.0, 1.3),
            Action::Spin => uniform(rng, 1.0, 1.5),
            _ => 0.0,
        };
        let end = tenth(start + length);
        if end > canvas.duration - 0.3 {
            break;
        }
        used_turn |= matches!(action, Action::Turn { .. });
        actor.actions.push(TimedAction { action, start, end });
        from = end + if length == 0.0 { 0.5 } else { 0.0 };
    }
}

/// One actor's plan: still, acting in place, moving, entering or leaving, with in-place actions
/// before or after where time allows.
fn plan_actor(
    rng: &mut fastrand::Rng,
    canvas: &Canvas,
    look: Look,
    side: f64,
    spec: &WorldSpec,
) -> Actor {
    let d = canvas.duration;
    let mut plans = vec![0];
    if spec.events {
        plans.extend([1, 1]);
    }
    if spec.motion {
        plans.extend([2, 2, 3, 4]);
    }
    match choose(rng, &plans) {
        1 => {
            let mut actor = new_actor(look, side, canvas.inside(rng, side));
            in_place_actions(rng, canvas, &mut actor, 0.0, 2);
            if actor.actions.is_empty() {
                return still_actor(rng, canvas, look, side);
            }
            actor
        }
        2 => {
            // Moves one way across a good part of the frame, then stops.
            let direction = choose(rng, &Direction::ALL);
            let extent = canvas.extent(direction);
            let length = extent * uniform(rng, 0.35, 0.55);
            let (mut x, mut y) = canvas.inside(rng, side);
            let m = side / 2.0 + 2.0;
            let (dx, dy) = direction.vector();
            // Start far enough from the side it moves to.
            let along = if dx != 0.0 { &mut x } else { &mut y };
            let sign = dx + dy;
            let low = if sign > 0.0 { m } else { m + length };
            let high = if sign > 0.0 {
                extent - m - length
            } else {
                extent - m
            };
            if high <= low {
                return still_actor(rng, canvas, look, side);
            }
            *along = uniform(rng, low, high);
            let start = tenth(uniform(rng, 0.0, (d * 0.3).min(0.8)));
            let end = tenth(start + uniform(rng, 1.0, 1.8)).min(tenth(d - 0.1));
            if end - start < 0.8 {
                return still_actor(rng, canvas, look, side);
            }
            let mut actor = new_actor(look, side, (x, y));
            actor.path = vec![(start, x, y), (end, x + dx * length, y + dy * length)];
            actor.actions.push(TimedAction {
                action: Action::Move { direction },
                start,
                end,
            });
            if end < d - 0.5 {
                actor.actions.push(TimedAction {
                    action: Action::Stop,
                    start: end,
                    end,
                });
                if spec.events && rng.bool() {
                    in_place_actions(rng, canvas, &mut actor, end, 1);
                }
            }
            actor
        }
        3 => {
            // Enters from a side to a place inside, then perhaps stops and acts.
            let from = choose(rng, &Direction::ALL);
            let (tx, ty) = canvas.inside(rng, side);
            let (dx, dy) = from.vector();
            let off = side / 2.0 + 1.0;
            let (sx, sy) = match from {
                Direction::Left => (-off, ty),
                Direction::Right => (canvas.width + off, ty),
                Direction::Up => (tx, -off),
                Direction::Down => (tx, canvas.height + off),
            };
            let _ = (dx, dy);
            let start = tenth(uniform(rng, 0.0, (d * 0.35).min(1.0)));
            let end = tenth(start + uniform(rng, 0.8, 1.4)).min(tenth(d - 0.1));
            if end - start < 0.6 {
                return still_actor(rng, canvas, look, side);
            }
            let mut actor = new_actor(look, side, (sx, sy));
            actor.path = vec![(start, sx, sy), (end, tx, ty)];
            actor.actions.push(TimedAction {
                action: Action::Enter { from },
                start,
                end,
            });
            if end < d - 0.5 {
                actor.actions.push(TimedAction {
                    action: Action::Stop,
                    start: end,
                    end,
                });
                if spec.events && rng.bool() {
                    in_place_actions(rng, canvas, &mut actor, end, 1);
                }
            }
            actor
        }
        4 => {
            // Perhaps acts in place, then leaves the frame.
            let (x, y) = canvas.inside(rng, side);
            let mut actor = new_actor(look, side, (x, y));
            if spec.events && rng.bool() {
                in_place_actions(rng, canvas, &mut actor, 0.0, 1);
            }
            let after = actor.actions.last().map_or(0.0, |a| a.end);
            let to = choose(rng, &Direction::ALL);
            let off = side / 2.0 + 1.0;
            let (ex, ey) = match to {
                Direction::Left => (-off, y),
                Direction::Right => (canvas.width + off, y),
                Direction::Up => (x, -off),
                Direction::Down => (x, canvas.height + off),
            };
            let start = tenth(after + uniform(rng, 0.2, 0.6));
            let end = tenth(start + uniform(rng, 0.8, 1.4));
            if end > d - 0.2 {
                return still_actor(rng, canvas, look, side);
            }
            actor.path = vec![(start, x, y), (end, ex, ey)];
            actor.actions.push(TimedAction {
                action: Action::Leave { to },
                start,
                end,
            });
            actor
        }
        _ => still_actor(rng, canvas, look, side),
    }
}

/// Two actors on one line: the first moves toward the second and touches it; the second may
/// jump afterwards.
fn touch_pair(
    rng: &mut fastrand::Rng,
    canvas: &Canvas,
    mover: Look,
    target: Look,
    short: u32,
) -> Option<Vec<Actor>> {
    let d = canvas.duration;
    let (side_a, side_b) = (mover.size.side(short), target.size.side(short));
    let direction = choose(rng, &Direction::ALL);
    let (dx, dy) = direction.vector();
    let horizontal = dx != 0.0;
    let extent = canvas.extent(direction);
    let contact = (side_a + side_b) / 2.0;
    let gap = extent * uniform(rng, 0.25, 0.4);
    let span = contact + gap;
    let (ma, mb) = (side_a / 2.0 + 2.0, side_b / 2.0 + 2.0);
    // Along the axis: the mover starts at `a`, the target sits at `a + sign * span`.
    let sign = dx + dy;
    let (low, high) = if sign > 0.0 {
        (ma, extent - mb - span)
    } else {
        (ma + span, extent - ma)
    };
    if high <= low {
        return None;
    }
    let a = uniform(rng, low, high);
    let b = a + sign * span;
    let cross_extent = if horizontal {
        canvas.height
    } else {
        canvas.width
    };
    let m = ma.max(mb);
    let across = uniform(rng, m, cross_extent - m);
    let point = |along: f64| {
        if horizontal {
            (along, across)
        } else {
            (across, along)
        }
    };
    let start = tenth(uniform(rng, 0.0, (d * 0.25).min(0.6)));
    let touch = tenth(start + uniform(rng, 1.0, 1.6));
    if touch > d - 0.6 {
        return None;
    }
    let (sx, sy) = point(a);
    let (ex, ey) = point(b - sign * contact);
    let mut first = new_actor(mover, side_a, (sx, sy));
    first.path = vec![(start, sx, sy), (touch, ex, ey)];
    first.actions.push(TimedAction {
        action: Action::Move { direction },
        start,
        end: touch,
    });
    first.actions.push(TimedAction {
        action: Action::Touch { other: 1 },
        start: touch,
        end: touch,
    });
    let mut second = new_actor(target, side_b, point(b));
    let jump_start = tenth(touch + 0.2);
    let jump_end = tenth(jump_start + uniform(rng, 1.0, 1.2));
    if jump_end < d - 0.2 && rng.bool() {
        second.actions.push(TimedAction {
            action: Action::Jump,
            start: jump_start,
            end: jump_end,
        });
    } else {
        second.actions.push(TimedAction {
            action: Action::StayStill,
            start: 0.0,
            end: tenth(d).min(d),
        });
    }
    Some(vec![first, second])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenes_are_deterministic_and_actors_unique() {
        for seed in 0..200 {
            let a = Scene::generate(seed, &WorldSpec::full());
            assert_eq!(a, Scene::generate(seed, &WorldSpec::full()));
            assert!(!a.actors.is_empty(), "seed {seed}");
            let colours: std::collections::HashSet<_> =
                a.actors.iter().map(|x| x.look.colour).collect();
            let shapes: std::collections::HashSet<_> =
                a.actors.iter().map(|x| x.look.shape).collect();
            assert_eq!(colours.len(), a.actors.len());
            assert_eq!(shapes.len(), a.actors.len());
            for actor in &a.actors {
                assert!(!actor.actions.is_empty());
                for pair in actor.actions.windows(2) {
                    assert!(pair[0].start <= pair[1].start, "seed {seed}: {actor:?}");
                }
                for action in &actor.actions {
                    assert!(action.end <= a.duration() + 1e-9, "seed {seed}: {action:?}");
                }
            }
        }
    }

    #[test]
    fn a_move_goes_the_way_it_says() {
        let mut checked = 0;
        for seed in 0..300 {
            let scene = Scene::generate(seed, &WorldSpec::full());
            for actor in &scene.actors {
                if let Some((direction, start, end)) = actor.single_motion() {
                    let a = actor.pose(start);
                    let b = actor.pose(end);
                    let (dx, dy) = direction.vector();
                    assert!((b.x - a.x) * dx + (b.y - a.y) * dy > 10.0, "seed {seed}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 50);
    }
}

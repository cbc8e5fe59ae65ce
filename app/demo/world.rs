//! The demo world: short scenes of coloured shapes ("actors") on a plain background, each doing
//! a few things at known times (entering, leaving, moving, stopping, jumping, spinning, turning
//! another colour, touching another actor). A scene is plain data generated from a seed; every
//! question, caption and box is derived from it, and [`super::render`] draws any moment of it.

use serde::Serialize;

/// Canvas sizes (width, height): several aspect ratios, all small enough that the Keye-VL-1.5
/// sampler gives every frame its minimum token budget (about 48 merged tokens).
pub const CANVAS_SIZES: [(u32, u32); 9] = [
    (112, 112),
    (128, 96),
    (96, 128),
    (160, 96),
    (144, 112),
    (160, 120),
    (192, 144),
    (224, 168),
    (256, 192),
];

/// Frame rates of the generated videos.
pub const FRAME_RATES: [u32; 4] = [8, 10, 12, 15];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Colour {
    Red,
    Green,
    Blue,
    Yellow,
    Purple,
    Orange,
}

impl Colour {
    pub const ALL: [Colour; 6] = [
        Colour::Red,
        Colour::Green,
        Colour::Blue,
        Colour::Yellow,
        Colour::Purple,
        Colour::Orange,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Colour::Red => "red",
            Colour::Green => "green",
            Colour::Blue => "blue",
            Colour::Yellow => "yellow",
            Colour::Purple => "purple",
            Colour::Orange => "orange",
        }
    }

    /// sRGB fill; far apart in hue so that H.264's chroma subsampling keeps them apart.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            Colour::Red => [222, 46, 46],
            Colour::Green => [46, 178, 72],
            Colour::Blue => [42, 92, 226],
            Colour::Yellow => [238, 206, 36],
            Colour::Purple => [156, 64, 196],
            Colour::Orange => [246, 132, 28],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    Square,
    Circle,
    Triangle,
    /// A plus sign; unlike a diamond it does not look like a turned square while spinning.
    Cross,
}

impl Shape {
    pub const ALL: [Shape; 4] = [Shape::Square, Shape::Circle, Shape::Triangle, Shape::Cross];

    pub fn name(self) -> &'static str {
        match self {
            Shape::Square => "square",
            Shape::Circle => "circle",
            Shape::Triangle => "triangle",
            Shape::Cross => "cross",
        }
    }

    /// Whether `(u, v)` (actor-local, y down, in units of the half side) is inside.
    pub fn contains(self, u: f64, v: f64) -> bool {
        match self {
            Shape::Square => u.abs() <= 1.0 && v.abs() <= 1.0,
            Shape::Circle => u * u + v * v <= 1.0,
            // Apex at the top, base at the bottom.
            Shape::Triangle => (-1.0..=1.0).contains(&v) && u.abs() <= (v + 1.0) / 2.0,
            Shape::Cross => {
                let arm = 0.36;
                (u.abs() <= 1.0 && v.abs() <= arm) || (v.abs() <= 1.0 && u.abs() <= arm)
            }
        }
    }

    /// Corners of the outline (unit half side), for bounding boxes of turned shapes.
    fn corners(self) -> &'static [(f64, f64)] {
        match self {
            Shape::Square | Shape::Cross => &[(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)],
            Shape::Triangle => &[(0.0, -1.0), (1.0, 1.0), (-1.0, 1.0)],
            Shape::Circle => &[],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Size {
    Small,
    Big,
}

impl Size {
    pub fn name(self) -> &'static str {
        match self {
            Size::Small => "small",
            Size::Big => "big",
        }
    }

    /// Side in pixels on a canvas whose short side is `short`.
    pub fn side(self, short: u32) -> f64 {
        let share = match self {
            Size::Small => 0.22,
            Size::Big => 0.32,
        };
        (f64::from(short) * share).round()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Left,
    Right,
    Up,
    Down,
}

impl Direction {
    pub const ALL: [Direction; 4] = [
        Direction::Left,
        Direction::Right,
        Direction::Up,
        Direction::Down,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Direction::Left => "left",
            Direction::Right => "right",
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }

    /// Unit step in image coordinates (y down).
    pub fn vector(self) -> (f64, f64) {
        match self {
            Direction::Left => (-1.0, 0.0),
            Direction::Right => (1.0, 0.0),
            Direction::Up => (0.0, -1.0),
            Direction::Down => (0.0, 1.0),
        }
    }

    pub fn opposite(self) -> Direction {
        match self {
            Direction::Left => Direction::Right,
            Direction::Right => Direction::Left,
            Direction::Up => Direction::Down,
            Direction::Down => Direction::Up,
        }
    }

    /// The side of the frame an actor moving this way goes out at ("left", "top", ...).
    pub fn side_name(self) -> &'static str {
        match self {
            Direction::Left => "left",
            Direction::Right => "right",
            Direction::Up => "top",
            Direction::Down => "bottom",
        }
    }
}

/// What an actor looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Look {
    pub colour: Colour,
    pub shape: Shape,
    pub size: Size,
    /// A white band across the middle.
    pub striped: bool,
}

impl Look {
    /// The HAIC attribute phrase: "the small red square with a stripe".
    pub fn phrase(&self) -> String {
        let stripe = if self.striped { " with a stripe" } else { "" };
        format!(
            "the {} {} {}{stripe}",
            self.size.name(),
            self.colour.name(),
            self.shape.name()
        )
    }

    /// The short reference questions use: "the red square" (colours and shapes are unique in a
    /// scene, so either alone already names one actor).
    pub fn short(&self) -> String {
        format!("the {} {}", self.colour.name(), self.shape.name())
    }
}

/// One thing an actor does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Comes in from outside the frame, moving the opposite way of `from`'s side.
    Enter {
        from: Direction,
    },
    /// Goes out of the frame on the `to` side.
    Leave {
        to: Direction,
    },
    Move {
        direction: Direction,
    },
    Stop,
    Jump,
    Spin,
    /// Turns to another colour (instantly).
    Turn {
        colour: Colour,
    },
    /// Reaches another actor (by index) and touches it.
    Touch {
        other: usize,
    },
    /// Does nothing the whole time.
    StayStill,
}

impl Action {
    /// The HAIC verb phrase, without interaction targets ("moves left", "touches").
    pub fn verb_phrase(&self) -> String {
        match self {
            Action::Enter { from } => format!("enters from the {}", from.side_name()),
            Action::Leave { to } => format!("leaves to the {}", to.side_name()),
            Action::Move { direction } => format!("moves {}", direction.name()),
            Action::Stop => "stops".into(),
            Action::Jump => "jumps".into(),
            Action::Spin => "spins".into(),
            Action::Turn { colour } => format!("turns {}", colour.name()),
            Action::Touch { .. } => "touches".into(),
            Action::StayStill => "stays still".into(),
        }
    }

    /// Whether the actor's position changes during this action.
    pub fn is_motion(&self) -> bool {
        matches!(
            self,
            Action::Enter { .. } | Action::Leave { .. } | Action::Move { .. }
        )
    }
}

/// An action with its time span in seconds (instant actions have `start == end`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TimedAction {
    pub action: Action,
    pub start: f64,
    pub end: f64,
}

/// One actor: its look, what it does, and where its centre is (piecewise linear in time).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Actor {
    /// `P1`, `P2`, ...: the HAIC person id.
    pub id: String,
    pub look: Look,
    pub actions: Vec<TimedAction>,
    /// (time, x, y) of the centre; held constant before the first and after the last.
    pub path: Vec<(f64, f64, f64)>,
    /// Side in pixels.
    pub side: f64,
}

/// Where and how an actor is drawn at one moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ActorPose {
    pub x: f64,
    pub y: f64,
    /// Radians, clockwise.
    pub angle: f64,
    pub colour: Colour,
    pub half: f64,
}

impl Actor {
    /// The pose at `t` seconds.
    pub fn pose(&self, t: f64) -> ActorPose {
        let (x, mut y) = interpolate(&self.path, t);
        let mut angle = 0.0;
        let mut colour = self.look.colour;
        for timed in &self.actions {
            let span = (timed.end - timed.start).max(1e-9);
            let u = ((t - timed.start) / span).clamp(0.0, 1.0);
            let inside = t >= timed.start && t <= timed.end;
            match timed.action {
                Action::Jump if inside => y -= self.side * 1.1 * 4.0 * u * (1.0 - u),
                Action::Spin if inside => angle = std::f64::consts::TAU * u,
                Action::Turn { colour: to } if t >= timed.start => colour = to,
                _ => {}
            }
        }
        ActorPose {
            x,
            y,
            angle,
            colour,
            half: self.side / 2.0,
        }
    }

    /// The axis-aligned box `[x0, y0, x1, y1]` (pixels, exclusive end) of the drawn shape at `t`,
    /// clipped to the canvas; `None` when no part of it is on the canvas.
    pub fn bounding_box(&self, t: f64, width: u32, height: u32) -> Option<[u32; 4]> {
        let pose = self.pose(t);
        let (dx, dy) = match self.look.shape.corners() {
            [] => (pose.half, pose.half),
            corners => {
                let (sin, cos) = pose.angle.sin_cos();
                corners.iter().fold((0.0f64, 0.0f64), |(mx, my), &(u, v)| {
                    let x = (u * cos - v * sin) * pose.half;
                    let y = (u * sin + v * cos) * pose.half;
                    (mx.max(x.abs()), my.max(y.abs()))
                })
            }
        };
        let x0 = (pose.x - dx).floor().max(0.0);
        let y0 = (pose.y - dy).floor().max(0.0);
        let x1 = (pose.x + dx).ceil().min(f64::from(width));
        let y1 = (pose.y + dy).ceil().min(f64::from(height));
        (x1 > x0 && y1 > y0).then_some([x0 as u32, y0 as u32, x1 as u32, y1 as u32])
    }

    /// Whether any part of the actor is on the canvas at `t`.
    pub fn visible(&self, t: f64, width: u32, height: u32) -> bool {
        self.bounding_box(t, width, height).is_some()
    }

    /// The time span during which the actor's centre moves, if it moves in exactly one
    /// direction (one motion action, or a move ending in a touch).
    pub fn single_motion(&self) -> Option<(Direction, f64, f64)> {
        let mut motions = self.actions.iter().filter(|a| a.action.is_motion());
        let first = motions.next()?;
        if motions.next().is_some() {
            return None;
        }
        let direction = match first.action {
            Action::Move { direction } => direction,
            Action::Enter { from } => from.opposite(),
            Action::Leave { to } => to,
            _ => return None,
        };
        Some((direction, first.start, first.end))
    }

    /// The first action of a kind, by a predicate.
    pub fn find(&self, wanted: impl Fn(&Action) -> bool) -> Option<&TimedAction> {
        self.actions.iter().find(|a| wanted(&a.action))
    }
}

fn interpolate(path: &[(f64, f64, f64)], t: f64) -> (f64, f64) {
    let Some(&(t0, x0, y0)) = path.first() else {
        return (0.0, 0.0);
    };
    if t <= t0 {
        return (x0, y0);
    }
    for pair in path.windows(2) {
        let (ta, xa, ya) = pair[0];
        let (tb, xb, yb) = pair[1];
        if t <= tb {
            let u = if tb > ta { (t - ta) / (tb - ta) } else { 1.0 };
            return (xa + (xb - xa) * u, ya + (yb - ya) * u);
        }
    }
    let &(_, x, y) = path.last().unwrap_or(&(t0, x0, y0));
    (x, y)
}

/// The plain background: a base grey, a vertical gradient and a fixed fine grain.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Background {
    pub base: [u8; 3],
    /// Added at the bottom, subtracted at the top.
    pub gradient: f64,
    /// Amplitude of the grain.
    pub grain: f64,
    pub grain_seed: u64,
}

impl Background {
    /// The colour of pixel (x, y) of a `height`-row canvas.
    pub fn rgb(&self, x: u32, y: u32, height: u32) -> [f64; 3] {
        let ramp = (f64::from(y) / f64::from(height.max(1)) - 0.5) * 2.0 * self.gradient;
        let grain = if self.grain > 0.0 {
            let h = hash3(u64::from(x), u64::from(y), self.grain_seed);
            ((h >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 2.0 * self.grain
        } else {
            0.0
        };
        self.base.map(|c| f64::from(c) + ramp + grain)
    }
}

fn hash3(a: u64, b: u64, c: u64) -> u64 {
    let mut h = a
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F))
        .wrapping_add(c.wrapping_mul(0x1656_67B1_9E37_79F9));
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h
}

/// A generated scene.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scene {
    pub seed: u64,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub frames: usize,
    pub background: Background,
    pub actors: Vec<Actor>,
}

impl Scene {
    /// Seconds the video lasts (its frame count over its rate).
    pub fn duration(&self) -> f64 {
        self.frames as f64 / f64::from(self.fps)
    }

    /// Presentation time of frame `index`.
    pub fn frame_time(&self, index: usize) -> f64 {
        index as f64 / f64::from(self.fps)
    }

    /// Every frame's presentation time.
    pub fn frame_times(&self) -> Vec<f64> {
        (0..self.frames).map(|i| self.frame_time(i)).collect()
    }

    pub fn actor(&self, id: &str) -> Option<&Actor> {
        self.actors.iter().find(|a| a.id == id)
    }

    /// Box of actor `index` at frame `frame`.
    pub fn box_at_frame(&self, index: usize, frame: usize) -> Option<[u32; 4]> {
        self.actors[index].bounding_box(self.frame_time(frame), self.width, self.height)
    }

    /// Where on the canvas a point is, in words ("left", "centre", "top right"...).
    pub fn place_words(&self, x: f64, y: f64) -> &'static str {
        let column = third(x, f64::from(self.width));
        let row = third(y, f64::from(self.height));
        match (row, column) {
            (0, 0) => "top left",
            (0, 1) => "top",
            (0, _) => "top right",
            (1, 0) => "left",
            (1, 1) => "centre",
            (1, _) => "right",
            (_, 0) => "bottom left",
            (_, 1) => "bottom",
            _ => "bottom right",
        }
    }
}

fn third(value: f64, extent: f64) -> usize {
    ((value / extent * 3.0).floor().max(0.0) as usize).min(2)
}

/// How hard generated scenes are: the curriculum moves these knobs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorldSpec {
    pub min_actors: usize,
    pub max_actors: usize,
    /// Range of video lengths in seconds.
    pub duration: (f64, f64),
    /// Entering, leaving and moving.
    pub motion: bool,
    /// Jumping, spinning, turning, touching.
    pub events: bool,
}

impl WorldSpec {
    /// Everything the world has: what `demo-data`, evaluation and the last training stage use.
    pub fn full() -> Self {
        Self {
            min_actors: 1,
            max_actors: 3,
            duration: (1.5, 3.0),
            motion: true,
            events: true,
        }
    }
}

/// Picks one item of a non-empty slice.
pub fn choose<T: Copy>(rng: &mut fastrand::Rng, items: &[T]) -> T {
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

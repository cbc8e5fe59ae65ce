//! The demo world: short scenes of coloured shapes ("actors") on a plain background, each doing
//! a few things at known times (entering, leaving, moving, stopping, jumping, spinning, turning
//! another colour, touching another actor). A scene is plain data generated from a seed; every
//! question, caption and box is derived from it, and the `render` module draws any moment of it.

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

/// The region (pixels, fractional) of cell (row, col) of a `rows` x `cols` grid over a frame.
pub fn cell_region(row: usize, col: usize, rows: usize, cols: usize, w: u32, h: u32) -> [f64; 4] {
    let (cw, ch) = (f64::from(w) / cols as f64, f64::from(h) / rows as f64);
    [
        col as f64 * cw,
        row as f64 * ch,
        (col + 1) as f64 * cw,
        (row + 1) as f64 * ch,
    ]
}

/// Whether a cell region overlaps a box `[x0, y0, x1, y1)`.
pub fn overlaps(region: [f64; 4], b: [u32; 4]) -> bool {
    region[0] < f64::from(b[2])
        && f64::from(b[0]) < region[2]
        && region[1] < f64::from(b[3])
        && f64::from(b[1]) < region[3]
}

//! The training-only heads (`aux.*`, never shipped): linear classifiers of the dense targets on
//! the ViT patches, on the video rows entering the decoder and on the decoder's last hidden
//! state at the vision tokens, so the vision side learns colour, shape, size and motion from
//! the generator's ground truth within minutes, and the decoder has them to read.

use candle_core::{D, Tensor};
use candle_nn::{Linear, VarBuilder, linear};

use super::example::{COLOUR_CLASSES, CellLabels, MOTION_CLASSES, SHAPE_CLASSES, SIZE_CLASSES};

/// Logit columns of the token heads, in this order: colour, shape, motion, size.
const GROUPS: [usize; 4] = [COLOUR_CLASSES, SHAPE_CLASSES, MOTION_CLASSES, SIZE_CLASSES];

/// Weights of the groups' losses. A patch shows its colour by itself, but an actor's shape and
/// size only from its neighbours; with equal weights the tower learned colour (98 % of actor
/// cells) and stayed at chance on shape (0.29 of 4) and size (0.57 of 2) after 14k examples.
const GROUP_WEIGHTS: [f64; 4] = [1.0, 4.0, 1.0, 2.0];

pub struct Heads {
    /// On ViT patches (Keye's own tower only): colour and shape.
    pub patch: Linear,
    /// On the video rows the decoder receives (projector or Mavors output).
    pub rows: Linear,
    /// On the decoder's final hidden state at the vision positions.
    pub hidden: Linear,
}

impl Heads {
    pub fn new(
        vision_hidden: usize,
        text_hidden: usize,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let all: usize = GROUPS.iter().sum();
        Ok(Self {
            patch: linear(
                vision_hidden,
                COLOUR_CLASSES + SHAPE_CLASSES,
                vb.pp("patch"),
            )?,
            rows: linear(text_hidden, all, vb.pp("rows"))?,
            hidden: linear(text_hidden, all, vb.pp("hidden"))?,
        })
    }
}

/// Mean cross-entropy of `logits` (N, C) against `labels` (-1 ignored); zero without labels.
fn masked_ce(logits: &Tensor, labels: &[i64]) -> candle_core::Result<Tensor> {
    let device = logits.device();
    let n = labels.iter().filter(|&&l| l >= 0).count();
    if n == 0 {
        return Tensor::zeros((), logits.dtype(), device);
    }
    let log_probs = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let index: Vec<u32> = labels.iter().map(|&l| l.max(0) as u32).collect();
    let mask: Vec<f32> = labels
        .iter()
        .map(|&l| if l >= 0 { 1.0 } else { 0.0 })
        .collect();
    let picked = log_probs
        .gather(&Tensor::new(index, device)?.unsqueeze(1)?, 1)?
        .squeeze(1)?;
    let mask = Tensor::new(mask, device)?;
    (picked * mask)?.sum_all()?.neg()? / n as f64
}

/// The weighted group losses of a head's `logits` (N, classes) against `labels` of N cells;
/// `groups` says how many of colour, shape, motion, size the head predicts.
pub fn dense_loss(
    logits: &Tensor,
    labels: &CellLabels,
    groups: usize,
) -> candle_core::Result<Tensor> {
    let columns = [&labels.colour, &labels.shape, &labels.motion, &labels.size];
    let mut start = 0;
    let mut total = Tensor::zeros((), logits.dtype(), logits.device())?;
    for ((&width, labels), weight) in GROUPS.iter().zip(columns).zip(GROUP_WEIGHTS).take(groups) {
        total = (total + (masked_ce(&logits.narrow(1, start, width)?, labels)? * weight)?)?;
        start += width;
    }
    Ok(total)
}

/// How often a head names the right colour, shape, motion and size on the cells an actor covers
/// (background cells left out: most cells are background, and the actor is what answers name).
/// Summed over a step's examples; the trainer's log shows it, so a tower blind to shape shows up
/// as "shape 0.29" (chance is 0.25) long before the answers reveal it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CellTally {
    pub right: [usize; 4],
    pub cells: [usize; 4],
}

impl CellTally {
    /// Adds the guesses of a head's `logits` (N, classes) against `labels` of N cells.
    pub fn add(&mut self, logits: &Tensor, labels: &CellLabels) -> candle_core::Result<()> {
        let columns = [&labels.colour, &labels.shape, &labels.motion, &labels.size];
        let mut start = 0;
        for (group, (&width, labels)) in GROUPS.iter().zip(columns).enumerate() {
            if start + width > logits.dim(1)? {
                break;
            }
            let guesses: Vec<u32> = logits.narrow(1, start, width)?.argmax(1)?.to_vec1()?;
            let on_actor = columns[0].iter().map(|&colour| colour > 0);
            for ((&guess, &label), on_actor) in guesses.iter().zip(labels).zip(on_actor) {
                if label >= 0 && on_actor {
                    self.cells[group] += 1;
                    self.right[group] += usize::from(i64::from(guess) == label);
                }
            }
            start += width;
        }
        Ok(())
    }

    pub fn merge(&mut self, other: &CellTally) {
        for g in 0..4 {
            self.right[g] += other.right[g];
            self.cells[g] += other.cells[g];
        }
    }

    /// Share right per group (colour, shape, motion, size); `None` where no cell had a label.
    pub fn accuracy(&self) -> [Option<f64>; 4] {
        std::array::from_fn(|g| {
            (self.cells[g] > 0).then(|| self.right[g] as f64 / self.cells[g] as f64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Logits that guess `classes` (one per group, in column order).
    fn guessing(classes: [usize; 4]) -> Vec<f32> {
        let mut row = vec![0f32; GROUPS.iter().sum()];
        let mut start = 0;
        for (width, class) in GROUPS.iter().zip(classes) {
            row[start + class] = 1.0;
            start += width;
        }
        row
    }

    #[test]
    fn the_tally_counts_actor_cells_per_group() {
        let device = Device::Cpu;
        let all: usize = GROUPS.iter().sum();
        // A background cell guessed wrong, and an actor cell with its shape guessed wrong and
        // no motion label (the first frame).
        let rows = [guessing([3, 1, 0, 1]), guessing([2, 4, 3, 1])].concat();
        let logits = Tensor::from_vec(rows, (2, all), &device).unwrap();
        let labels = CellLabels {
            colour: vec![0, 2],
            shape: vec![0, 1],
            motion: vec![0, -1],
            size: vec![0, 1],
        };
        let mut tally = CellTally::default();
        tally.add(&logits, &labels).unwrap();
        tally.merge(&tally.clone());
        assert_eq!(tally.cells, [2, 2, 0, 2]);
        assert_eq!(tally.accuracy(), [Some(1.0), Some(0.0), None, Some(1.0)]);
    }
}

//! The trained weights: a `VarMap` under the real tensor names (plus `aux.*` heads used only in
//! training), a deterministic initialisation from the seed, AdamW with decoupled weight decay,
//! and the training state on disk (weights and optimizer moments) so a run can resume.

use std::{collections::HashMap, path::Path};

use anyhow::Context;
use candle_core::{DType, Device, Tensor, Var, backprop::GradStore};
use candle_nn::VarMap;

/// Prefix of the training-only heads; never shipped.
pub const AUX_PREFIX: &str = "aux.";

/// Every variable by name, sorted (a stable order for init, updates and saving).
pub fn sorted_vars(varmap: &VarMap) -> Vec<(String, Var)> {
    let data = varmap
        .data()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut vars: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

fn name_seed(name: &str, seed: u64) -> u64 {
    name.bytes().fold(seed ^ 0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

/// Standard normal samples from a seeded generator (Box-Muller).
fn normal(rng: &mut fastrand::Rng, n: usize, std: f64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let u1 = rng.f64().max(1e-12);
            let u2 = rng.f64();
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos() * std) as f32
        })
        .collect()
}

/// Sets every variable from `seed` alone: norms to one, biases to zero, other weights normal
/// with std 0.02 (output projections scaled down by the depth, as GPT-2 does), except in the
/// vision encoders, whose weights get std 1/sqrt(fan-in).
///
/// Why the exception: the decoder normalises its queries and keys (Qwen3's q/k norms), so small
/// weights still give it sharp attention, but a SigLIP-style tower has no such norm. At width 64
/// and std 0.02 its attention logits start near 0.1, every patch attends to its whole frame
/// alike, and the tower stayed a bag of patches: after 14k examples it told colour (98 % of
/// actor cells) but not shape (0.29 of 4) or size (0.57 of 2).
pub fn initialise(varmap: &VarMap, seed: u64, depth: usize) -> anyhow::Result<()> {
    for (name, var) in sorted_vars(varmap) {
        let shape = var.shape().clone();
        let n = shape.elem_count();
        let values = if name.contains("norm") && name.ends_with(".weight") {
            vec![1f32; n]
        } else if name.ends_with(".bias") {
            vec![0f32; n]
        } else {
            let residual = ["o_proj", "down_proj", "out_proj", "fc2"]
                .iter()
                .any(|p| name.contains(p));
            let fan_in: usize = shape.dims().iter().skip(1).product();
            let vision_layer = ["vision_model.encoder.", "mavors.ifa.", "patch_embedding"]
                .iter()
                .any(|p| name.contains(p));
            let base = if vision_layer {
                1.0 / (fan_in.max(1) as f64).sqrt()
            } else {
                0.02
            };
            let std = if residual {
                base / (2.0 * depth.max(1) as f64).sqrt()
            } else {
                base
            };
            normal(
                &mut fastrand::Rng::with_seed(name_seed(&name, seed)),
                n,
                std,
            )
        };
        var.set(&Tensor::from_vec(values, shape, var.device())?)?;
    }
    Ok(())
}

/// AdamW with decoupled weight decay (none on norms, biases and embeddings).
pub struct AdamW {
    vars: Vec<(String, Var)>,
    first: Vec<Tensor>,
    second: Vec<Tensor>,
    pub steps: usize,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl AdamW {
    pub fn new(varmap: &VarMap) -> anyhow::Result<Self> {
        let vars = sorted_vars(varmap);
        let zeros = |v: &Var| Tensor::zeros(v.shape(), DType::F32, v.device());
        Ok(Self {
            first: vars
                .iter()
                .map(|(_, v)| zeros(v))
                .collect::<Result<_, _>>()?,
            second: vars
                .iter()
                .map(|(_, v)| zeros(v))
                .collect::<Result<_, _>>()?,
            vars,
            steps: 0,
            beta1: 0.9,
            beta2: 0.98,
            eps: 1e-8,
            weight_decay: 0.01,
        })
    }

    pub fn vars(&self) -> &[(String, Var)] {
        &self.vars
    }

    /// One update with the summed gradients `grads` (name -> gradient), scaled by `scale`
    /// (1 / examples, times the clipping factor).
    pub fn step(
        &mut self,
        grads: &HashMap<String, Tensor>,
        scale: f64,
        lr: f64,
    ) -> anyhow::Result<()> {
        self.steps += 1;
        let t = self.steps as i32;
        let (c1, c2) = (1.0 - self.beta1.powi(t), 1.0 - self.beta2.powi(t));
        for (i, (name, var)) in self.vars.iter().enumerate() {
            let Some(grad) = grads.get(name) else {
                continue;
            };
            let g = (grad * scale)?;
            self.first[i] = ((&self.first[i] * self.beta1)? + (&g * (1.0 - self.beta1))?)?;
            self.second[i] = ((&self.second[i] * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?;
            let m = (&self.first[i] / c1)?;
            let v = (&self.second[i] / c2)?;
            let mut update = (m / (v.sqrt()? + self.eps)?)?;
            let decays =
                !(name.contains("norm") || name.ends_with(".bias") || name.contains("embed"));
            if decays {
                update = (update + (var.as_tensor() * self.weight_decay)?)?;
            }
            var.set(&(var.as_tensor() - (update * lr)?)?)?;
        }
        Ok(())
    }
}

/// Adds this example's gradients into `sum` (by variable name).
pub fn accumulate(
    sum: &mut HashMap<String, Tensor>,
    vars: &[(String, Var)],
    grads: &GradStore,
) -> anyhow::Result<()> {
    for (name, var) in vars {
        if let Some(g) = grads.get(var.as_tensor()) {
            let g = g.detach();
            match sum.get_mut(name) {
                Some(total) => *total = (&*total + &g)?,
                None => {
                    sum.insert(name.clone(), g);
                }
            }
        }
    }
    Ok(())
}

/// Runs `work(worker)` for workers `0..workers` on scoped threads (each builds its own graph) and
/// returns their results in worker order, so that summing them gives the same run for a given
/// worker count.
pub fn on_workers<T: Send>(
    workers: usize,
    work: impl Fn(usize) -> anyhow::Result<T> + Sync,
) -> anyhow::Result<Vec<T>> {
    std::thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = (0..workers)
            .map(|worker| scope.spawn(move || work(worker)))
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .map_err(|_| anyhow::anyhow!("a training worker panicked"))?
            })
            .collect()
    })
}

/// Adds one worker's gradient sums into `sum` (by variable name).
pub fn merge_gradients(
    sum: &mut HashMap<String, Tensor>,
    grads: HashMap<String, Tensor>,
) -> anyhow::Result<()> {
    for (name, grad) in grads {
        match sum.get_mut(&name) {
            Some(total) => *total = (&*total + &grad)?,
            None => {
                sum.insert(name, grad);
            }
        }
    }
    Ok(())
}

/// One optimizer step on the gradients summed over `batch` examples, with the global norm of
/// their mean clipped to 1.
pub fn clipped_step(
    optimizer: &mut AdamW,
    sums: &HashMap<String, Tensor>,
    batch: f64,
    learning_rate: f64,
) -> anyhow::Result<()> {
    let norm = grad_norm(sums)? / batch;
    let clip = if norm > 1.0 { 1.0 / norm } else { 1.0 };
    optimizer.step(sums, clip / batch, learning_rate)
}

/// The global L2 norm of the summed gradients.
pub fn grad_norm(grads: &HashMap<String, Tensor>) -> anyhow::Result<f64> {
    // In name order: a HashMap's own order changes from run to run, and so would the rounding.
    let mut names: Vec<&String> = grads.keys().collect();
    names.sort();
    let mut total = 0.0f64;
    for g in names.into_iter().map(|name| &grads[name]) {
        total += f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?);
    }
    Ok(total.sqrt())
}

/// Writes the weights and the optimizer moments to `path` (safetensors).
pub fn save_state(optimizer: &AdamW, path: &Path) -> anyhow::Result<()> {
    let mut tensors = HashMap::new();
    for (i, (name, var)) in optimizer.vars.iter().enumerate() {
        tensors.insert(format!("param.{name}"), var.as_tensor().detach());
        tensors.insert(format!("adam1.{name}"), optimizer.first[i].clone());
        tensors.insert(format!("adam2.{name}"), optimizer.second[i].clone());
    }
    let tmp = path.with_extension("tmp");
    candle_core::safetensors::save(&tensors, &tmp)
        .with_context(|| format!("{}: cannot save the training state", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("{}: cannot move into place", path.display()))
}

/// Reads what [`save_state`] wrote back into the variables and moments.
pub fn load_state(optimizer: &mut AdamW, path: &Path, device: &Device) -> anyhow::Result<()> {
    let tensors = candle_core::safetensors::load(path, device)
        .with_context(|| format!("{}: cannot read the training state", path.display()))?;
    for (i, (name, var)) in optimizer.vars.iter().enumerate() {
        let get = |key: String| {
            tensors
                .get(&key)
                .cloned()
                .with_context(|| format!("{}: no {key}", path.display()))
        };
        var.set(&get(format!("param.{name}"))?)?;
        optimizer.first[i] = get(format!("adam1.{name}"))?;
        optimizer.second[i] = get(format!("adam2.{name}"))?;
    }
    Ok(())
}

/// The shipped weights: every variable but the training heads.
pub fn save_model(varmap: &VarMap, path: &Path) -> anyhow::Result<()> {
    let tensors: HashMap<String, Tensor> = sorted_vars(varmap)
        .into_iter()
        .filter(|(name, _)| !name.starts_with(AUX_PREFIX))
        .map(|(name, var)| (name, var.as_tensor().detach()))
        .collect();
    candle_core::safetensors::save(&tensors, path)
        .with_context(|| format!("{}: cannot save the model", path.display()))
}

//! Mavors as a whole: IVE per chunk, IFA across chunks, projector into the LLM; its weights under
//! `mavors.*` (initialised from a Keye-VL checkpoint, saved and loaded as safetensors).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{VarBuilder, VarMap};

use super::config::MavorsConfig;
use super::error::{MavorsError, Result};
use super::fold::fold_keye_projector;
use super::ifa::{InterChunkAggregator, Projector};
use super::ive::{IntraChunkEncoder, IveOutput, Recorded, Recorder, inflate_patch_kernel};
use crate::config::VisionConfig;
use crate::keye::vision::VisionModel;
use crate::layers::Weights;

/// Prefix of every Mavors tensor in a checkpoint.
pub const WEIGHT_PREFIX: &str = "mavors";
/// Keye-VL's vision tower prefix, the source of the IVE at initialisation.
const KEYE_TOWER_PREFIX: &str = "visual";
/// The 2-D patch kernel inside the tower, inflated to 3-D for the IVE.
const PATCH_KERNEL: &str = "vision_model.embeddings.patch_embedding.weight";
/// A tensor whose presence marks a checkpoint that already carries a trained IFA and projector.
const IFA_MARKER: &str = "mavors.ifa.layers.0.layer_norm1.weight";

/// The Mavors video encoder (`mavors.ive.*`, `mavors.ifa.layers.{i}.*`, `mavors.projector.*`).
#[derive(Debug, Clone)]
pub struct Mavors {
    ive: IntraChunkEncoder,
    ifa: InterChunkAggregator,
    projector: Projector,
    config: MavorsConfig,
}

/// Everything one video pass computes, for inspection (the LLM only needs `tokens`).
#[derive(Debug, Clone)]
pub struct MavorsOutput {
    pub ive: IveOutput,
    /// IFA output at the ViT width, `(chunks, tokens_per_chunk, hidden)`.
    pub aggregated: Tensor,
    /// Projected into the LLM width, `(chunks x tokens_per_chunk, llm_hidden)`, chunk after chunk.
    pub tokens: Tensor,
}

impl Mavors {
    /// Builds Mavors from a VarBuilder at the checkpoint root holding `mavors.*` tensors.
    pub fn new(
        config: &MavorsConfig,
        vision: &VisionConfig,
        llm_hidden: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        config.validate()?;
        let vb = vb.pp(WEIGHT_PREFIX);
        Ok(Self {
            ive: IntraChunkEncoder::new(vision, config.chunk_frames, vb.pp("ive"))?,
            ifa: InterChunkAggregator::new(
                vision,
                config.ifa_layers,
                config.rope_theta,
                vb.pp("ifa"),
            )?,
            projector: Projector::new(
                vision.hidden_size,
                projector_hidden(config, vision),
                llm_hidden,
                vb.pp("projector"),
            )?,
            config: config.clone(),
        })
    }

    pub fn config(&self) -> &MavorsConfig {
        &self.config
    }

    /// Encodes `chunks` chunks of a video. `patches`: `(chunks x F x grid_h x grid_w, channels, p, p)`
    /// in Keye-VL's raster patch layout, padding frames included; `positions`: the plan's C-RoPE
    /// position of each chunk.
    pub fn encode_video(
        &self,
        patches: &Tensor,
        positions: &[u32],
        grid_h: usize,
        grid_w: usize,
    ) -> Result<MavorsOutput> {
        let ive = self.ive.forward(patches, positions.len(), grid_h, grid_w)?;
        let aggregated = self.ifa.forward(&ive.pooled, positions)?;
        let tokens = self.projector.forward(&aggregated.flatten_to(1)?)?;
        Ok(MavorsOutput {
            ive,
            aggregated,
            tokens,
        })
    }

    /// Encodes still-image inputs (thumbnail and sub-images), each `(grid_h x grid_w, channels, p, p)`
    /// raster patches of one resized image with its patch grid. Each is repeated across one chunk and
    /// aggregated on its own; returns one `(tokens, llm_hidden)` tensor per input.
    pub fn encode_images(&self, images: &[(Tensor, usize, usize)]) -> Result<Vec<Tensor>> {
        let f = self.config.chunk_frames;
        images
            .iter()
            .map(|(patches, grid_h, grid_w)| {
                let (n, c, ph, pw) = patches.dims4()?;
                let chunk = patches
                    .unsqueeze(0)?
                    .broadcast_as((f, n, c, ph, pw))?
                    .flatten_to(1)?;
                Ok(self.encode_video(&chunk, &[0], *grid_h, *grid_w)?.tokens)
            })
            .collect()
    }
}

fn projector_hidden(config: &MavorsConfig, vision: &VisionConfig) -> usize {
    config
        .projector_hidden_size
        .unwrap_or(4 * vision.hidden_size)
}

/// Mavors weights by full name (`mavors.*`), ready to save or to build [`Mavors`] from.
#[derive(Debug, Clone)]
pub struct MavorsWeights {
    tensors: HashMap<String, Tensor>,
}

impl MavorsWeights {
    /// The paper's initialisation from a Keye-VL checkpoint (`keye` at its root): the IVE copies the
    /// Keye tower with the 2-D patch kernel repeated F times and divided by F; the IFA and projector
    /// come from the checkpoint's own `mavors.*` tensors when it has them. Otherwise the IFA starts
    /// fresh and the projector is Keye's `mlp_AR` folded over the pooled token (fresh too when the
    /// widths do not allow it).
    pub fn from_keye(
        keye: &VarBuilder,
        config: &MavorsConfig,
        vision: &VisionConfig,
        llm_hidden: usize,
    ) -> Result<Self> {
        config.validate()?;
        let (dtype, device) = (keye.dtype(), keye.device().clone());
        let mut tensors = HashMap::new();

        let (recording, seen) = Recorder::wrap(keye.pp(KEYE_TOWER_PREFIX));
        VisionModel::new(vision, Weights::dense(recording))?;
        for (name, tensor) in take(&seen)? {
            let tensor = if name == PATCH_KERNEL {
                inflate_patch_kernel(&tensor, config.chunk_frames)?
            } else {
                tensor
            };
            // Plain values, not variables: an initialisation for inference, which must not carry
            // a gradient graph (that would switch the forward to its training form).
            tensors.insert(format!("{WEIGHT_PREFIX}.ive.{name}"), tensor.detach());
        }

        let fresh = VarMap::new();
        let head_vb = if keye.contains_tensor(IFA_MARKER) {
            keye.pp(WEIGHT_PREFIX)
        } else {
            VarBuilder::from_varmap(&fresh, dtype, &device).pp(WEIGHT_PREFIX)
        };
        let (recording, seen) = Recorder::wrap(head_vb);
        InterChunkAggregator::new(
            vision,
            config.ifa_layers,
            config.rope_theta,
            recording.pp("ifa"),
        )?;
        Projector::new(
            vision.hidden_size,
            projector_hidden(config, vision),
            llm_hidden,
            recording.pp("projector"),
        )?;
        for (name, tensor) in take(&seen)? {
            tensors.insert(format!("{WEIGHT_PREFIX}.{name}"), tensor.detach());
        }
        // A fresh projector would hand the LLM rows it has never seen; Keye's own, folded over the
        // pooled token, hands it the rows it was trained on.
        if !keye.contains_tensor(IFA_MARKER)
            && let Some(folded) =
                fold_keye_projector(keye, vision, projector_hidden(config, vision), llm_hidden)?
        {
            for (name, tensor) in folded {
                tensors.insert(format!("{WEIGHT_PREFIX}.{name}"), tensor.detach());
            }
        }
        Ok(Self { tensors })
    }

    /// Reads every `mavors.*` tensor of a safetensors file.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let all =
            candle_core::safetensors::load(path, device).map_err(|e| MavorsError::Checkpoint {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        let prefix = format!("{WEIGHT_PREFIX}.");
        let tensors: HashMap<_, _> = all
            .into_iter()
            .filter(|(name, _)| name.starts_with(&prefix))
            .collect();
        if tensors.is_empty() {
            return Err(MavorsError::Checkpoint {
                path: path.to_path_buf(),
                message: format!("no {prefix}* tensors in this file"),
            });
        }
        Ok(Self { tensors })
    }

    /// Writes the weights as one safetensors file.
    pub fn save(&self, path: &Path) -> Result<()> {
        candle_core::safetensors::save(&self.tensors, path).map_err(|e| MavorsError::Checkpoint {
            path: path.to_path_buf(),
            message: format!("cannot save Mavors weights: {e}"),
        })
    }

    pub fn tensors(&self) -> &HashMap<String, Tensor> {
        &self.tensors
    }

    /// A VarBuilder over these weights, for [`Mavors::new`].
    pub fn var_builder(&self, dtype: DType, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_tensors(self.tensors.clone(), dtype, device)
    }
}

fn take(seen: &Recorded) -> Result<Vec<(String, Tensor)>> {
    let mut seen = seen
        .lock()
        .map_err(|_| MavorsError::BadInput("weight recorder poisoned".into()))?;
    Ok(std::mem::take(&mut *seen))
}

//! Attention capture: for the decoder layers a caller selects, each generated token's attention
//! to every vision token (head mean, optionally per head), with per-frame totals, mapped back to
//! (media, frame, row, col) through the prompt's [`VisionTokenMap`]. The decoder hands over the
//! probabilities it already computes for the new row; capture only gathers the vision columns.

use std::{collections::HashMap, path::Path};

use candle_core::{Device, Tensor};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::media::{MediaGrid, VisionTokenMap};

/// Which layers to capture and whether to keep each head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaptureSpec {
    pub layers: Vec<usize>,
    pub per_head: bool,
}

/// One selected layer's attention of one generated token.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerAttention {
    pub layer: usize,
    /// Mean over heads of the softmax weight on each vision token (map order).
    pub mean: Vec<f32>,
    /// (heads, vision tokens) when per-head capture is on.
    pub per_head: Option<Vec<Vec<f32>>>,
    /// `frame_totals[media][frame]`: the summed mean weight on that frame's tokens.
    pub frame_totals: Vec<Vec<f32>>,
}

/// The attention of the position that produced generated token `step`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenAttention {
    pub step: usize,
    pub token: u32,
    pub layers: Vec<LayerAttention>,
}

/// Everything captured in one generation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttentionCapture {
    pub spec: CaptureSpec,
    pub vision: VisionTokenMap,
    pub tokens: Vec<TokenAttention>,
}

/// Gathers vision columns from recorded probabilities.
#[derive(Debug)]
pub(crate) struct Capturer {
    columns: Tensor,
    pub(crate) capture: AttentionCapture,
}

impl Capturer {
    pub(crate) fn new(
        spec: CaptureSpec,
        vision: &VisionTokenMap,
        num_layers: usize,
        device: &Device,
    ) -> Result<Self> {
        if let Some(bad) = spec.layers.iter().find(|&&l| l >= num_layers) {
            return Err(Error::Input(format!(
                "attention capture layer {bad} does not exist (the decoder has {num_layers})"
            )));
        }
        if vision.is_empty() {
            return Err(Error::Input(
                "attention capture needs a prompt with images or videos".into(),
            ));
        }
        let columns: Vec<u32> = vision.positions.iter().map(|&p| p as u32).collect();
        Ok(Self {
            columns: Tensor::new(columns, device)?,
            capture: AttentionCapture {
                spec,
                vision: vision.clone(),
                tokens: Vec::new(),
            },
        })
    }

    /// Records token `step` from (layer, probabilities (heads, keys)) pairs, copying out only the
    /// vision columns (head mean, and each head when asked).
    pub(crate) fn record(
        &mut self,
        step: usize,
        token: u32,
        recorded: &[(usize, Tensor)],
    ) -> Result<&TokenAttention> {
        let mut layers = Vec::with_capacity(recorded.len());
        for (layer, probs) in recorded {
            let vision = probs.index_select(&self.columns, 1)?;
            let mean = vision.mean(0)?.to_vec1::<f32>()?;
            let per_head = self
                .capture
                .spec
                .per_head
                .then(|| vision.to_vec2::<f32>())
                .transpose()?;
            let frame_totals = frame_totals(&self.capture.vision, &mean);
            layers.push(LayerAttention {
                layer: *layer,
                mean,
                per_head,
                frame_totals,
            });
        }
        self.capture.tokens.push(TokenAttention {
            step,
            token,
            layers,
        });
        Ok(&self.capture.tokens[self.capture.tokens.len() - 1])
    }
}

/// Sums `weights` (map order) per media and frame.
pub fn frame_totals(vision: &VisionTokenMap, weights: &[f32]) -> Vec<Vec<f32>> {
    let mut totals: Vec<Vec<f32>> = vision
        .media
        .iter()
        .map(|m| vec![0.0; m.frames.len()])
        .collect();
    for (r, w) in vision.refs.iter().zip(weights) {
        totals[r.media][r.frame] += w;
    }
    totals
}

/// The JSON index written beside the safetensors file.
#[derive(Debug, Serialize)]
struct CaptureIndex<'a> {
    tensors: &'a str,
    layers: &'a [usize],
    per_head: bool,
    generated_ids: Vec<u32>,
    /// Vision tokens in column order, and for each its prompt position and grid place.
    vision_tokens: usize,
    media: Vec<MediaIndex<'a>>,
    tensor_names: Vec<String>,
}

#[derive(Debug, Serialize)]
struct MediaIndex<'a> {
    #[serde(flatten)]
    grid: &'a MediaGrid,
    /// First column of each frame in the (…, vision tokens) tensors (a frame's tokens are
    /// consecutive, row-major).
    frame_offsets: Vec<usize>,
}

impl AttentionCapture {
    /// Writes `path` (safetensors: per layer `layer{L}.mean` (steps, V), `layer{L}.frame_totals`
    /// (steps, frames of all media), `layer{L}.per_head` (steps, heads, V) when kept; plus
    /// `vision_positions` and `generated_ids`) and `path` with `.json` (the index of media,
    /// frames and grids).
    pub fn save(&self, path: &Path) -> Result<std::path::PathBuf> {
        let steps = self.tokens.len();
        let v = self.vision.len();
        let cpu = Device::Cpu;
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        for (i, &layer) in self.spec.layers.iter().enumerate() {
            let mean: Vec<f32> = self
                .tokens
                .iter()
                .flat_map(|t| t.layers[i].mean.iter().copied())
                .collect();
            tensors.insert(
                format!("layer{layer}.mean"),
                Tensor::from_vec(mean, (steps, v), &cpu)?,
            );
            let totals: Vec<f32> = self
                .tokens
                .iter()
                .flat_map(|t| t.layers[i].frame_totals.iter().flatten().copied())
                .collect();
            let frames = totals.len().checked_div(steps).unwrap_or(0);
            tensors.insert(
                format!("layer{layer}.frame_totals"),
                Tensor::from_vec(totals, (steps, frames), &cpu)?,
            );
            if self.spec.per_head {
                let heads: Vec<f32> = self
                    .tokens
                    .iter()
                    .flat_map(|t| t.layers[i].per_head.iter().flatten().flatten().copied())
                    .collect();
                let h = heads.len().checked_div(steps * v).unwrap_or(0);
                tensors.insert(
                    format!("layer{layer}.per_head"),
                    Tensor::from_vec(heads, (steps, h, v), &cpu)?,
                );
            }
        }
        let positions: Vec<u32> = self.vision.positions.iter().map(|&p| p as u32).collect();
        tensors.insert("vision_positions".into(), Tensor::new(positions, &cpu)?);
        let ids: Vec<u32> = self.tokens.iter().map(|t| t.token).collect();
        tensors.insert("generated_ids".into(), Tensor::new(ids.clone(), &cpu)?);
        candle_core::safetensors::save(&tensors, path)?;

        let mut names: Vec<String> = tensors.into_keys().collect();
        names.sort();
        let mut offsets: Vec<Vec<usize>> = self
            .vision
            .media
            .iter()
            .map(|m| vec![0; m.frames.len()])
            .collect();
        for (column, r) in self.vision.refs.iter().enumerate().rev() {
            offsets[r.media][r.frame] = column;
        }
        let media = self
            .vision
            .media
            .iter()
            .zip(offsets)
            .map(|(grid, frame_offsets)| MediaIndex {
                grid,
                frame_offsets,
            })
            .collect();
        let index = CaptureIndex {
            tensors: path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default(),
            layers: &self.spec.layers,
            per_head: self.spec.per_head,
            generated_ids: ids,
            vision_tokens: v,
            media,
            tensor_names: names,
        };
        let index_path = path.with_extension("json");
        let json = serde_json::to_string_pretty(&index).map_err(|cause| Error::Json {
            path: index_path.clone(),
            cause,
        })?;
        std::fs::write(&index_path, json).map_err(|e| Error::io(&index_path, e))?;
        Ok(index_path)
    }
}

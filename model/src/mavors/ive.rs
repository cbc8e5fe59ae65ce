//! Intra-chunk vision encoder (IVE): the Keye-VL vision tower run once per chunk, with its patch embedding
//! widened in time to a 3-D kernel (F x patch x patch, stride equal to the kernel), then 2x2 average
//! pooling. A 3-D convolution whose kernel equals its stride is a linear map over each F x patch x patch
//! volume, which is exactly the tower's 2-D patch embedding with F x channels input channels; so the
//! tower is reused unchanged, configured with `channels x F` channels and fed one volume per patch.

use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::VarBuilder;
use candle_nn::var_builder::SimpleBackend;

use super::error::{MavorsError, Result};
use crate::config::VisionConfig;
use crate::keye::vision::{Grid, VisionModel};
use crate::layers::Weights;

/// Name of the patch kernel below the IVE prefix (as the tower asks for it).
const KERNEL_NAME: &str = "vision_model.embeddings.patch_embedding.weight";

/// The IVE's outputs for a batch of chunks.
#[derive(Debug, Clone)]
pub struct IveOutput {
    /// 3-D patch embedding plus interpolated position embedding, `(chunks, grid_h x grid_w, hidden)`.
    pub embeddings: Tensor,
    /// After the ViT layers and post-LayerNorm, `(chunks, grid_h x grid_w, hidden)`.
    pub hidden: Tensor,
    /// After 2x2 average pooling, `(chunks, ceil(grid_h/2) x ceil(grid_w/2), hidden)`.
    pub pooled: Tensor,
}

/// `mavors.ive.*`: the chunk tower (`vision_model.*` names as in Keye-VL's `visual.*`).
#[derive(Debug, Clone)]
pub struct IntraChunkEncoder {
    tower: VisionModel,
    chunk_frames: usize,
    channels: usize,
    patch_size: usize,
}

impl IntraChunkEncoder {
    /// `vb` holds the tower below `vision_model.*`, its patch kernel in Conv3d layout
    /// `(hidden, channels, F, patch, patch)`.
    pub fn new(vision: &VisionConfig, chunk_frames: usize, vb: VarBuilder) -> Result<Self> {
        let tower_config = tower_config(vision, chunk_frames);
        let view = Conv3dKernelView {
            inner: vb.clone(),
            kernel_shape: conv3d_kernel_shape(vision, chunk_frames),
        };
        let tower_vb = VarBuilder::from_backend(Box::new(view), vb.dtype(), vb.device().clone());
        Ok(Self {
            tower: VisionModel::new(&tower_config, Weights::dense(tower_vb))?,
            chunk_frames,
            channels: vision.num_channels,
            patch_size: vision.patch_size,
        })
    }

    /// `patches`: `(chunks x F x grid_h x grid_w, channels, patch, patch)`, frame after frame and each
    /// frame in raster order (Keye-VL's `pixel_values` layout). Each chunk is one attention block.
    pub fn forward(
        &self,
        patches: &Tensor,
        chunks: usize,
        grid_h: usize,
        grid_w: usize,
    ) -> Result<IveOutput> {
        let (f, c, p) = (self.chunk_frames, self.channels, self.patch_size);
        let cells = grid_h * grid_w;
        let expected = [chunks * f * cells, c, p, p];
        if chunks == 0 || cells == 0 || patches.dims() != expected {
            return Err(MavorsError::BadInput(format!(
                "chunk patches have shape {:?}, expected {expected:?} ({chunks} chunks of {f} frames \
                 of {grid_h}x{grid_w} patches)",
                patches.dims()
            )));
        }
        // One (channels x F, patch, patch) volume per spatial patch of each chunk, in the kernel's
        // (channel, frame, y, x) order.
        let volumes = patches
            .reshape((chunks, f, cells, c, p * p))?
            .permute((0, 2, 3, 1, 4))?
            .reshape((chunks * cells, c * f, p, p))?;
        let grids: Vec<Grid> = vec![[1, grid_h, grid_w]; chunks];
        let out = self.tower.forward(&volumes, &grids)?;
        let hidden = out.last_hidden.reshape((chunks, cells, ()))?;
        Ok(IveOutput {
            embeddings: out.embeddings.reshape((chunks, cells, ()))?,
            pooled: pool_2x2(&hidden, grid_h, grid_w)?,
            hidden,
        })
    }
}

/// The tower's config for chunk volumes: the patch embedding sees `channels x F` input channels.
fn tower_config(vision: &VisionConfig, chunk_frames: usize) -> VisionConfig {
    let mut config = vision.clone();
    config.num_channels = vision.num_channels * chunk_frames;
    config
}

fn conv3d_kernel_shape(vision: &VisionConfig, chunk_frames: usize) -> Shape {
    Shape::from((
        vision.hidden_size,
        vision.num_channels,
        chunk_frames,
        vision.patch_size,
        vision.patch_size,
    ))
}

/// The paper's initialisation of the 3-D kernel from a 2-D patch kernel `(hidden, channels, p, p)`: copied
/// `chunk_frames` times along time and divided by `chunk_frames`, so a chunk of identical frames embeds
/// exactly like one frame.
pub fn inflate_patch_kernel(kernel_2d: &Tensor, chunk_frames: usize) -> Result<Tensor> {
    let (hidden, channels, ph, pw) = kernel_2d.dims4()?;
    Ok((kernel_2d
        .unsqueeze(2)?
        .broadcast_as((hidden, channels, chunk_frames, ph, pw))?
        .contiguous()?
        / chunk_frames as f64)?)
}

/// 2x2 average pooling of `(chunks, grid_h x grid_w, hidden)` features; an odd side is padded by
/// repeating its last row or column. Returns `(chunks, ceil(grid_h/2) x ceil(grid_w/2), hidden)`.
pub fn pool_2x2(features: &Tensor, grid_h: usize, grid_w: usize) -> Result<Tensor> {
    let (chunks, _, hidden) = features.dims3()?;
    let grid = features
        .reshape((chunks, grid_h, grid_w, hidden))?
        .permute((0, 3, 1, 2))?
        .pad_with_same(2, 0, grid_h % 2)?
        .pad_with_same(3, 0, grid_w % 2)?;
    Ok(grid
        .avg_pool2d(2)?
        .flatten_from(2)?
        .transpose(1, 2)?
        .contiguous()?)
}

/// Serves the Conv3d-layout kernel to the tower in the 2-D layout it asks for (`channels x F` input
/// channels, the same memory order); every other tensor passes through unchanged.
struct Conv3dKernelView<'a> {
    inner: VarBuilder<'a>,
    kernel_shape: Shape,
}

impl SimpleBackend for Conv3dKernelView<'_> {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        hints: candle_nn::Init,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let tensor = if name == KERNEL_NAME {
            self.inner
                .get_with_hints_dtype(self.kernel_shape.clone(), name, hints, dtype)?
                .reshape(shape)?
        } else {
            self.inner.get_with_hints_dtype(shape, name, hints, dtype)?
        };
        tensor.to_device(device)
    }

    fn get_unchecked(
        &self,
        name: &str,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        self.inner
            .get_unchecked_dtype(name, dtype)?
            .to_device(device)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.inner.contains_tensor(name)
    }
}

/// Name and tensor of every weight a [`Recorder`] served, in the order asked for.
pub(crate) type Recorded = Arc<Mutex<Vec<(String, Tensor)>>>;

/// Records every tensor a module takes from a [`VarBuilder`], under its full name, so the weights a
/// module really uses can be copied or saved without a second list of names.
pub(crate) struct Recorder<'a> {
    inner: VarBuilder<'a>,
    seen: Recorded,
}

impl<'a> Recorder<'a> {
    /// A VarBuilder over `inner` plus the shared list it records into.
    pub(crate) fn wrap(inner: VarBuilder<'a>) -> (VarBuilder<'a>, Recorded) {
        let seen = Arc::default();
        let (dtype, device) = (inner.dtype(), inner.device().clone());
        let recorder = Recorder {
            inner,
            seen: Arc::clone(&seen),
        };
        (
            VarBuilder::from_backend(Box::new(recorder), dtype, device),
            seen,
        )
    }
}

impl SimpleBackend for Recorder<'_> {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        hints: candle_nn::Init,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let tensor = self
            .inner
            .get_with_hints_dtype(shape, name, hints, dtype)?
            .to_device(device)?;
        self.seen
            .lock()
            .map_err(|_| candle_core::Error::Msg("weight recorder poisoned".into()))?
            .push((name.to_string(), tensor.clone()));
        Ok(tensor)
    }

    fn get_unchecked(
        &self,
        name: &str,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        self.inner
            .get_unchecked_dtype(name, dtype)?
            .to_device(device)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.inner.contains_tensor(name)
    }
}

//! `vision-attention`: the vision tower's own attention inside one frame, for researchers: where
//! each patch looks, per layer and head, saved as safetensors with a JSON index beside it.

use std::{io::IsTerminal, path::PathBuf, process::ExitCode};

use anyhow::{Context, bail};
use keye_studio::video::{FrameSpec, Video};

#[derive(clap::Args)]
pub struct VisionAttentionArgs {
    /// A video or an image.
    pub media: PathBuf,
    /// Checkpoint folder.
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub placement: super::PlacementArgs,
    /// Seconds from the video's first frame (the frame shown at that time); 0 for an image.
    #[arg(long, default_value_t = 0.0)]
    pub time: f64,
    /// Vision tower layers to keep (default: the last).
    #[arg(long, value_delimiter = ',')]
    pub layers: Vec<usize>,
    /// Output safetensors file (`layer.L`: heads x patches x patches); the index goes beside it
    /// with a .json extension.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn vision_attention(args: VisionAttentionArgs) -> anyhow::Result<ExitCode> {
    let loaded = super::ask::load(&args.model, args.placement, std::io::stderr().is_terminal())?;
    let runtime = &loaded.runtime;
    let vision = &runtime.model.config().vision;
    let layers = if args.layers.is_empty() {
        vec![vision.num_hidden_layers.saturating_sub(1)]
    } else {
        args.layers.clone()
    };
    if let Some(bad) = layers.iter().find(|&&l| l >= vision.num_hidden_layers) {
        bail!(
            "--layers {bad}: the vision tower has layers 0..{}",
            vision.num_hidden_layers
        );
    }
    let mut video = Video::open(&args.media)?;
    let frame = video.frame_at(args.time, FrameSpec::native_rgb())?;
    let image = image::RgbImage::from_raw(frame.width, frame.height, frame.pixels.to_vec())
        .with_context(|| format!("{}: decoded frame has the wrong size", args.media.display()))?;
    let maps = runtime
        .model
        .image_vision_attention(&image, &runtime.processor, &layers)
        .with_context(|| format!("{}: frame at {:.3}s", args.media.display(), frame.time))?;
    maps.save(&args.out)
        .with_context(|| format!("{}: cannot write the maps", args.out.display()))?;
    let (rows, cols) = maps.grid;
    let p = vision.patch_size;
    let index_path = args.out.with_extension("json");
    let index = serde_json::json!({
        "media": args.media,
        "frame_index": frame.index,
        "time": frame.time,
        "patch_size": p,
        "grid": [rows, cols],
        "resized": [cols * p, rows * p],
        "heads": vision.num_attention_heads,
        "layers": layers,
        "layout": "layer.L is (heads, rows*cols, rows*cols): row = query patch, column = key patch, raster order",
    });
    std::fs::write(&index_path, serde_json::to_string_pretty(&index)?)
        .with_context(|| format!("{}: cannot write the index", index_path.display()))?;
    eprintln!(
        "frame {} at {:.3}s: {}x{} patches, layers {layers:?}, {} heads -> {} (index {})",
        frame.index,
        frame.time,
        rows,
        cols,
        vision.num_attention_heads,
        args.out.display(),
        index_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

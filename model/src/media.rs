//! Where vision tokens come from: each image or video as the decoder sees it (frames of merged
//! tokens), and for every vision token of a prompt its position and its place on its media's grid.
//! Plain types shared by prompt building, video planning and attention capture (kept here, below
//! all of them, so none of those modules import each other in a loop).

use serde::Serialize;

use crate::error::{Error, Result};

/// Image or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Video,
}

/// One image or video as the decoder sees it: frames of merged tokens.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MediaGrid {
    pub kind: MediaKind,
    /// (rows, cols) of merged tokens of each frame (temporal step), in time order.
    pub frames: Vec<(usize, usize)>,
}

impl MediaGrid {
    pub fn tokens(&self) -> usize {
        self.frames.iter().map(|(r, c)| r * c).sum()
    }
}

/// Where one vision token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VisionTokenRef {
    pub media: usize,
    pub frame: usize,
    pub row: usize,
    pub col: usize,
}

/// Every vision token of a prompt: its position in the prompt and its place on its grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VisionTokenMap {
    pub media: Vec<MediaGrid>,
    /// Prompt positions of the vision tokens, in prompt order.
    pub positions: Vec<usize>,
    /// `refs[i]` is where `positions[i]` came from.
    pub refs: Vec<VisionTokenRef>,
}

impl VisionTokenMap {
    /// Maps the placeholder tokens of `input_ids` (images first met first, as the processor
    /// fills them) onto `images` and `videos` in order. Images and videos may interleave in the
    /// prompt; each kind is consumed in its own order, as the model's scatter does.
    pub fn new(
        input_ids: &[u32],
        image_token: u32,
        video_token: u32,
        images: Vec<MediaGrid>,
        videos: Vec<MediaGrid>,
    ) -> Result<Self> {
        let grid_refs = |grids: &[MediaGrid], first_media: usize| -> Vec<VisionTokenRef> {
            let mut refs = Vec::new();
            for (m, grid) in grids.iter().enumerate() {
                for (f, &(rows, cols)) in grid.frames.iter().enumerate() {
                    for row in 0..rows {
                        for col in 0..cols {
                            refs.push(VisionTokenRef {
                                media: first_media + m,
                                frame: f,
                                row,
                                col,
                            });
                        }
                    }
                }
            }
            refs
        };
        let image_refs = grid_refs(&images, 0);
        let video_refs = grid_refs(&videos, images.len());
        let (mut next_image, mut next_video) = (0, 0);
        let mut positions = Vec::new();
        let mut refs = Vec::new();
        for (i, &id) in input_ids.iter().enumerate() {
            let r = if id == image_token {
                next_image += 1;
                image_refs.get(next_image - 1)
            } else if id == video_token {
                next_video += 1;
                video_refs.get(next_video - 1)
            } else {
                continue;
            };
            let r = r.ok_or_else(|| {
                Error::Prompt(format!(
                    "the prompt has more vision placeholders than the media have tokens \
                     ({} image, {} video)",
                    image_refs.len(),
                    video_refs.len()
                ))
            })?;
            positions.push(i);
            refs.push(*r);
        }
        if next_image != image_refs.len() || next_video != video_refs.len() {
            return Err(Error::Prompt(format!(
                "the prompt has {next_image} image and {next_video} video placeholder tokens, \
                 the media have {} and {}",
                image_refs.len(),
                video_refs.len()
            )));
        }
        let mut media = images;
        media.extend(videos);
        Ok(Self {
            media,
            positions,
            refs,
        })
    }

    pub fn len(&self) -> usize {
        self.positions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }
}

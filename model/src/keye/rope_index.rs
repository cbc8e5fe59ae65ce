//! `get_rope_index`: the 3-D (t, h, w) M-RoPE position of every prompt token. Text advances all
//! three axes by one; a vision block of merged grid (t, h', w') gets (t index, row, column) offset
//! by the position after the preceding text; text after it resumes at max + 1.

use crate::error::{Error, Result};

use super::vision::Grid;

/// One vision block of the prompt as the rope index sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RopeBlock {
    /// (t, h, w) in patches, before the spatial merge.
    pub grid: Grid,
    /// Seconds per temporal grid step; the t index is `(frame * this * tokens_per_second) as i64`.
    /// Images use 0 (every t = 0); 1.5 video frames are blocks of t = 1, so the value is moot.
    pub second_per_grid_t: f32,
}

/// What the rope index needs besides the token ids.
#[derive(Debug, Clone)]
pub struct RopeIndexSpec<'a> {
    pub image_token_id: u32,
    pub video_token_id: u32,
    pub spatial_merge_size: usize,
    pub tokens_per_second: f32,
    /// One per image, in prompt order.
    pub images: &'a [RopeBlock],
    /// One per Preview video, or one per 1.5 frame (grid t = 1), in prompt order.
    pub videos: &'a [RopeBlock],
}

/// Positions per token for each axis (t, h, w), and `rope_delta` = max position + 1 - length,
/// which decoding adds to the cache position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RopeIndex {
    pub positions: [Vec<i64>; 3],
    pub rope_delta: i64,
}

/// Walks the prompt: at each next image or video placeholder run, consumes the next grid of that
/// kind. Fails when the placeholder runs and the grids do not match.
pub fn get_rope_index(input_ids: &[u32], spec: &RopeIndexSpec) -> Result<RopeIndex> {
    let m = spec.spatial_merge_size;
    let mut positions: [Vec<i64>; 3] = Default::default();
    let (mut next_image, mut next_video) = (0, 0);
    let mut cursor = 0;
    // Position the next text token gets: previous max + 1.
    let mut start: i64 = 0;
    let push_text = |positions: &mut [Vec<i64>; 3], start: i64, len: usize| {
        for axis in positions.iter_mut() {
            axis.extend((0..len as i64).map(|i| start + i));
        }
    };
    while let Some(offset) = input_ids[cursor..]
        .iter()
        .position(|&id| id == spec.image_token_id || id == spec.video_token_id)
    {
        let at = cursor + offset;
        let is_image = input_ids[at] == spec.image_token_id;
        let (block, kind) = if is_image {
            next_image += 1;
            (spec.images.get(next_image - 1), "image")
        } else {
            next_video += 1;
            (spec.videos.get(next_video - 1), "video")
        };
        let block = block.ok_or_else(|| {
            Error::Input(format!(
                "the prompt has more {kind} placeholder blocks than {kind} grids were given"
            ))
        })?;
        let [t, h, w] = block.grid;
        let (h, w) = (h / m, w / m);
        let tokens = t * h * w;
        let token = input_ids[at];
        if at + tokens > input_ids.len() || input_ids[at..at + tokens].iter().any(|&id| id != token)
        {
            return Err(Error::Input(format!(
                "{kind} grid {:?} needs {tokens} consecutive placeholder tokens at position {at}",
                block.grid
            )));
        }
        push_text(&mut positions, start, at - cursor);
        let base = start + (at - cursor) as i64;
        let mut block_max = base;
        for frame in 0..t {
            let t_index = (frame as f32 * block.second_per_grid_t * spec.tokens_per_second) as i64;
            for row in 0..h {
                for col in 0..w {
                    let p = [base + t_index, base + row as i64, base + col as i64];
                    for (axis, value) in positions.iter_mut().zip(p) {
                        axis.push(value);
                        block_max = block_max.max(value);
                    }
                }
            }
        }
        start = block_max + 1;
        cursor = at + tokens;
    }
    if next_image != spec.images.len() || next_video != spec.videos.len() {
        return Err(Error::Input(format!(
            "the prompt has {next_image} image and {next_video} video placeholder blocks, but \
             {} image and {} video grids were given",
            spec.images.len(),
            spec.videos.len()
        )));
    }
    push_text(&mut positions, start, input_ids.len() - cursor);
    let max = positions
        .iter()
        .flat_map(|a| a.iter().copied())
        .max()
        .unwrap_or(-1);
    Ok(RopeIndex {
        rope_delta: max + 1 - input_ids.len() as i64,
        positions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMG: u32 = 6;
    const VID: u32 = 7;

    fn spec<'a>(images: &'a [RopeBlock], videos: &'a [RopeBlock]) -> RopeIndexSpec<'a> {
        RopeIndexSpec {
            image_token_id: IMG,
            video_token_id: VID,
            spatial_merge_size: 2,
            tokens_per_second: 2.0,
            images,
            videos,
        }
    }

    #[test]
    fn text_only_is_plain_positions_on_every_axis() {
        let index = get_rope_index(&[1, 2, 3, 4], &spec(&[], &[])).unwrap();
        for axis in &index.positions {
            assert_eq!(axis, &[0, 1, 2, 3]);
        }
        assert_eq!(index.rope_delta, 0);
    }

    #[test]
    fn image_block_gets_rows_and_columns_and_text_resumes_after_max() {
        // text(2) + image grid 1x4x6 -> 2x3 merged = 6 tokens + text(2)
        let ids = [1, 2, IMG, IMG, IMG, IMG, IMG, IMG, 3, 4];
        let image = RopeBlock {
            grid: [1, 4, 6],
            second_per_grid_t: 0.0,
        };
        let index = get_rope_index(&ids, &spec(&[image], &[])).unwrap();
        assert_eq!(index.positions[0], [0, 1, 2, 2, 2, 2, 2, 2, 5, 6]);
        assert_eq!(index.positions[1], [0, 1, 2, 2, 2, 3, 3, 3, 5, 6]);
        assert_eq!(index.positions[2], [0, 1, 2, 3, 4, 2, 3, 4, 5, 6]);
        assert_eq!(index.rope_delta, 7 - 10);
    }

    #[test]
    fn preview_video_t_index_follows_seconds_per_grid() {
        // 3 frames of 2x2 -> 1 merged token per frame; 0.5 s per frame at 2 tokens/s -> t = 0, 1, 2.
        let ids = [1, VID, VID, VID, 2];
        let video = RopeBlock {
            grid: [3, 2, 2],
            second_per_grid_t: 0.5,
        };
        let index = get_rope_index(&ids, &spec(&[], &[video])).unwrap();
        assert_eq!(index.positions[0], [0, 1, 2, 3, 4]);
        // Text resumes after the largest position of the block (t = 3), on every axis.
        assert_eq!(index.positions[1], [0, 1, 1, 1, 4]);
        // Default 1 s per grid: stride 2 on t.
        let video = RopeBlock {
            grid: [3, 2, 2],
            second_per_grid_t: 1.0,
        };
        let index = get_rope_index(&ids, &spec(&[], &[video])).unwrap();
        assert_eq!(index.positions[0], [0, 1, 3, 5, 6]);
        assert_eq!(index.rope_delta, 7 - 5);
    }

    #[test]
    fn slowfast_frames_are_separate_blocks_with_t_zero_and_text_between() {
        // <frame> ts  slow 1x2x4 (2 tokens)  <frame> ts <fast_start> fast 1x2x2 (1 token) <fast_end>
        let ids = [10, 20, VID, VID, 10, 20, 11, VID, 12];
        let frames = [
            RopeBlock {
                grid: [1, 2, 4],
                second_per_grid_t: 0.0,
            },
            RopeBlock {
                grid: [1, 2, 2],
                second_per_grid_t: 0.0,
            },
        ];
        let index = get_rope_index(&ids, &spec(&[], &frames)).unwrap();
        // Frame 0: t stays at its start (2) while w runs 2..3; the text after it starts at 4.
        assert_eq!(index.positions[0], [0, 1, 2, 2, 4, 5, 6, 7, 8]);
        assert_eq!(index.positions[2], [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn mismatched_placeholders_are_an_error() {
        let image = RopeBlock {
            grid: [1, 4, 4],
            second_per_grid_t: 0.0,
        };
        // 4 tokens needed, only 3 present.
        assert!(get_rope_index(&[IMG, IMG, IMG, 1], &spec(&[image], &[])).is_err());
        // A grid that no placeholder uses.
        assert!(get_rope_index(&[1, 2], &spec(&[image], &[])).is_err());
    }
}

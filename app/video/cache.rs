//! A least-recently-used cache of decoded pictures bounded in bytes, so stepping backwards through a
//! GOP reuses what the forward decode produced instead of decoding the GOP again for every step.

use ffmpeg_next as ffmpeg;
use lru::LruCache;

/// Decoded pictures keyed by presentation index, evicted least-recently-used first once their total
/// size passes the byte budget.
pub(crate) struct FrameCache {
    frames: LruCache<usize, ffmpeg::frame::Video>,
    bytes: usize,
    budget_bytes: usize,
}

impl FrameCache {
    pub fn new(budget_bytes: usize) -> Self {
        Self {
            frames: LruCache::unbounded(),
            bytes: 0,
            budget_bytes,
        }
    }

    /// The picture for `index`, marking it most recently used.
    pub fn get(&mut self, index: usize) -> Option<&ffmpeg::frame::Video> {
        self.frames.get(&index)
    }

    pub fn contains(&self, index: usize) -> bool {
        self.frames.contains(&index)
    }

    /// Stores a picture, evicting older ones past the budget. The newest picture always stays, even
    /// when it alone exceeds the budget, because the caller is about to convert it.
    pub fn insert(&mut self, index: usize, frame: ffmpeg::frame::Video) {
        let size = picture_bytes(&frame);
        if let Some(old) = self.frames.put(index, frame) {
            self.bytes -= picture_bytes(&old);
        }
        self.bytes += size;
        while self.bytes > self.budget_bytes && self.frames.len() > 1 {
            match self.frames.pop_lru() {
                Some((_, evicted)) => self.bytes -= picture_bytes(&evicted),
                None => break,
            }
        }
    }

    /// Removes and returns the picture for `index`.
    pub fn take(&mut self, index: usize) -> Option<ffmpeg::frame::Video> {
        let frame = self.frames.pop(&index)?;
        self.bytes -= picture_bytes(&frame);
        Some(frame)
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }
}

/// Memory held by a decoded picture: every plane's stride times its height.
fn picture_bytes(frame: &ffmpeg::frame::Video) -> usize {
    (0..frame.planes())
        .map(|plane| frame.stride(plane) * frame.plane_height(plane) as usize)
        .sum()
}

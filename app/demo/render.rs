//! Drawing a scene at any moment: anti-aliased shapes over the background, and which actor owns
//! each pixel (for the dense training targets and the heatmap checks). Frames for training go
//! through the same Y'CbCr 4:2:0 round trip as a video file (swscale, BT.601 limited range), so
//! the model sees in memory what it sees after `demo-data` encodes and the app decodes.

use image::RgbImage;

use super::world::Scene;

/// 2x2 samples per pixel for the colour; the owner map uses the pixel centre.
const SUPERSAMPLE: u32 = 2;

/// Colour of the band across striped actors.
const STRIPE: [f64; 3] = [240.0, 240.0, 236.0];

/// One rendered moment.
#[derive(Clone, Debug)]
pub struct RenderedFrame {
    pub image: RgbImage,
    /// Per pixel, row-major: 0 for the background, `i + 1` for actor `i` (the top-most one).
    pub owner: Vec<u8>,
}

impl RenderedFrame {
    /// The share of the rectangle `[x0, x1) x [y0, y1)` (pixels, may be fractional) that each
    /// owner covers: index 0 is the background, `i + 1` actor `i`.
    pub fn coverage(&self, x0: f64, y0: f64, x1: f64, y1: f64, owners: usize) -> Vec<f32> {
        let (w, h) = self.image.dimensions();
        let mut counts = vec![0u32; owners + 1];
        let (px0, py0) = (x0.floor().max(0.0) as u32, y0.floor().max(0.0) as u32);
        let (px1, py1) = (
            (x1.ceil() as u32).min(w).max(px0 + 1),
            (y1.ceil() as u32).min(h).max(py0 + 1),
        );
        let mut total = 0u32;
        for y in py0..py1.min(h) {
            for x in px0..px1.min(w) {
                let o = self.owner[(y * w + x) as usize] as usize;
                if o <= owners {
                    counts[o] += 1;
                }
                total += 1;
            }
        }
        counts
            .into_iter()
            .map(|c| c as f32 / total.max(1) as f32)
            .collect()
    }
}

/// Draws `scene` at `t` seconds.
pub fn render(scene: &Scene, t: f64) -> RenderedFrame {
    let (w, h) = (scene.width, scene.height);
    let poses: Vec<_> = scene.actors.iter().map(|a| a.pose(t)).collect();
    let mut image = RgbImage::new(w, h);
    let mut owner = vec![0u8; (w * h) as usize];
    let step = 1.0 / f64::from(SUPERSAMPLE);
    // Per actor: the pixel rectangle worth testing.
    let reach: Vec<(f64, f64, f64, f64)> = poses
        .iter()
        .map(|p| {
            let r = p.half * std::f64::consts::SQRT_2 + 1.0;
            (p.x - r, p.y - r, p.x + r, p.y + r)
        })
        .collect();
    for y in 0..h {
        for x in 0..w {
            let mut sum = [0.0f64; 3];
            let background = scene.background.rgb(x, y, h);
            for sy in 0..SUPERSAMPLE {
                for sx in 0..SUPERSAMPLE {
                    let px = f64::from(x) + (f64::from(sx) + 0.5) * step;
                    let py = f64::from(y) + (f64::from(sy) + 0.5) * step;
                    let colour = sample(scene, &poses, &reach, px, py).unwrap_or(background);
                    for c in 0..3 {
                        sum[c] += colour[c];
                    }
                }
            }
            let n = f64::from(SUPERSAMPLE * SUPERSAMPLE);
            let rgb = sum.map(|v| (v / n).round().clamp(0.0, 255.0) as u8);
            image.put_pixel(x, y, image::Rgb(rgb));
            let centre = (f64::from(x) + 0.5, f64::from(y) + 0.5);
            if let Some(top) = top_actor(scene, &poses, &reach, centre.0, centre.1) {
                owner[(y * w + x) as usize] = top as u8 + 1;
            }
        }
    }
    RenderedFrame { image, owner }
}

/// The colour of the top-most actor at (px, py), if any.
fn sample(
    scene: &Scene,
    poses: &[super::world::ActorPose],
    reach: &[(f64, f64, f64, f64)],
    px: f64,
    py: f64,
) -> Option<[f64; 3]> {
    let top = top_actor(scene, poses, reach, px, py)?;
    let pose = &poses[top];
    let actor = &scene.actors[top];
    let (u, v) = local(pose, px, py);
    if actor.look.striped && v.abs() <= 0.18 && actor.look.shape.contains(u, v) {
        return Some(STRIPE);
    }
    Some(pose.colour.rgb().map(f64::from))
}

fn top_actor(
    scene: &Scene,
    poses: &[super::world::ActorPose],
    reach: &[(f64, f64, f64, f64)],
    px: f64,
    py: f64,
) -> Option<usize> {
    (0..poses.len()).rev().find(|&i| {
        let (x0, y0, x1, y1) = reach[i];
        if px < x0 || px > x1 || py < y0 || py > y1 {
            return false;
        }
        let (u, v) = local(&poses[i], px, py);
        scene.actors[i].look.shape.contains(u, v)
    })
}

/// Actor-local coordinates in units of the half side (rotation undone).
fn local(pose: &super::world::ActorPose, px: f64, py: f64) -> (f64, f64) {
    let (dx, dy) = (px - pose.x, py - pose.y);
    let (sin, cos) = pose.angle.sin_cos();
    let u = dx * cos + dy * sin;
    let v = -dx * sin + dy * cos;
    (u / pose.half, v / pose.half)
}

/// RGB to Y'CbCr 4:2:0 and back with swscale, as the encoder's input conversion and the app's
/// decoder output conversion do it. Contexts are kept per frame size.
pub struct YuvRoundTrip {
    contexts: Option<(u32, u32, Scaler, Scaler)>,
}

struct Scaler(ffmpeg_next::software::scaling::Context);

impl Default for YuvRoundTrip {
    fn default() -> Self {
        Self::new()
    }
}

impl YuvRoundTrip {
    pub fn new() -> Self {
        crate::video::init();
        Self { contexts: None }
    }

    /// `image` as it comes out of a 4:2:0 video (before the codec's own losses).
    pub fn apply(&mut self, image: &RgbImage) -> Result<RgbImage, ffmpeg_next::Error> {
        let (w, h) = image.dimensions();
        let yuv = self.to_yuv(image)?;
        let (_, back) = self.scalers(w, h)?;
        let mut rgb = ffmpeg_next::frame::Video::empty();
        back.0.run(&yuv, &mut rgb)?;
        let stride = rgb.stride(0);
        let data = rgb.data(0);
        let mut out = RgbImage::new(w, h);
        for y in 0..h as usize {
            let row = &data[y * stride..y * stride + w as usize * 3];
            out.as_mut()[y * w as usize * 3..(y + 1) * w as usize * 3].copy_from_slice(row);
        }
        Ok(out)
    }

    /// The RGB -> YUV 4:2:0 and back scalers for `w` x `h` frames, made when the size changes.
    fn scalers(
        &mut self,
        w: u32,
        h: u32,
    ) -> Result<(&mut Scaler, &mut Scaler), ffmpeg_next::Error> {
        use ffmpeg_next::{format::Pixel, software::scaling};
        let contexts = match self.contexts.take() {
            Some(contexts) if (contexts.0, contexts.1) == (w, h) => contexts,
            _ => {
                let flags = scaling::Flags::BICUBIC;
                let to = scaling::Context::get(Pixel::RGB24, w, h, Pixel::YUV420P, w, h, flags)?;
                let back = scaling::Context::get(Pixel::YUV420P, w, h, Pixel::RGB24, w, h, flags)?;
                (w, h, Scaler(to), Scaler(back))
            }
        };
        let (_, _, to, back) = self.contexts.insert(contexts);
        Ok((to, back))
    }

    /// The 4:2:0 frame the encoder gets for `image`.
    pub fn to_yuv(
        &mut self,
        image: &RgbImage,
    ) -> Result<ffmpeg_next::frame::Video, ffmpeg_next::Error> {
        use ffmpeg_next::format::Pixel;
        let (w, h) = image.dimensions();
        let (to, _) = self.scalers(w, h)?;
        let mut rgb = ffmpeg_next::frame::Video::new(Pixel::RGB24, w, h);
        let stride = rgb.stride(0);
        let src = image.as_raw();
        let data = rgb.data_mut(0);
        for y in 0..h as usize {
            data[y * stride..y * stride + w as usize * 3]
                .copy_from_slice(&src[y * w as usize * 3..(y + 1) * w as usize * 3]);
        }
        let mut yuv = ffmpeg_next::frame::Video::empty();
        to.0.run(&rgb, &mut yuv)?;
        Ok(yuv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::world::WorldSpec;

    #[test]
    fn owners_sit_inside_their_boxes_and_fill_them() {
        for seed in 0..20 {
            let scene = Scene::generate(seed, &WorldSpec::full());
            for frame in [0, scene.frames / 2, scene.frames - 1] {
                let t = scene.frame_time(frame);
                let rendered = render(&scene, t);
                for (i, _) in scene.actors.iter().enumerate() {
                    let pixels: Vec<(u32, u32)> = (0..scene.height)
                        .flat_map(|y| (0..scene.width).map(move |x| (x, y)))
                        .filter(|&(x, y)| {
                            rendered.owner[(y * scene.width + x) as usize] == i as u8 + 1
                        })
                        .collect();
                    match scene.box_at_frame(i, frame) {
                        Some([x0, y0, x1, y1]) => {
                            for &(x, y) in &pixels {
                                assert!(x >= x0 && x < x1 && y >= y0 && y < y1, "seed {seed}");
                            }
                        }
                        None => assert!(pixels.is_empty(), "seed {seed}"),
                    }
                }
            }
        }
    }

    #[test]
    fn the_yuv_round_trip_keeps_colours_close() {
        let scene = Scene::generate(3, &WorldSpec::full());
        let rendered = render(&scene, 0.0);
        let back = YuvRoundTrip::new().apply(&rendered.image).unwrap();
        let diff: f64 = rendered
            .image
            .as_raw()
            .iter()
            .zip(back.as_raw())
            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).abs())
            .sum::<f64>()
            / rendered.image.as_raw().len() as f64;
        assert!(diff < 6.0, "mean difference {diff}");
        assert_ne!(back, rendered.image, "chroma subsampling changes edges");
    }
}

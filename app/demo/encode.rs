//! Writing a scene as an MP4 file: H.264 (libx264 through ffmpeg-next), 4:2:0, BT.601 limited
//! range, no B-frames (frame timestamps start at 0 and step by one frame), one thread so the bytes
//! are the same on every run.

use std::path::Path;

use ffmpeg_next::{self as ffmpeg, Dictionary, Packet, Rational, codec, encoder, format};

use super::render::{YuvRoundTrip, render};
use super::world::Scene;

/// Constant rate factor: high quality, so colours and edges survive the codec.
const CRF: &str = "16";

/// Why writing a video failed.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("{path}: {what}: {source}")]
    Ffmpeg {
        path: String,
        what: &'static str,
        source: ffmpeg::Error,
    },
    #[error("{0}: no H.264 encoder in this FFmpeg build (libx264 is needed)")]
    NoEncoder(String),
}

/// Encodes every frame of `scene` to `path` (MP4 by extension).
pub fn write_video(scene: &Scene, path: &Path) -> Result<(), EncodeError> {
    crate::video::init();
    let name = path.display().to_string();
    let fail = |what: &'static str| {
        let name = name.clone();
        move |source| EncodeError::Ffmpeg {
            path: name.clone(),
            what,
            source,
        }
    };
    let codec = encoder::find_by_name("libx264")
        .or_else(|| encoder::find(codec::Id::H264))
        .ok_or_else(|| EncodeError::NoEncoder(name.clone()))?;
    let mut output = format::output(path).map_err(fail("cannot create the file"))?;
    let global_header = output
        .format()
        .flags()
        .contains(format::Flags::GLOBAL_HEADER);
    let mut stream = output
        .add_stream(codec)
        .map_err(fail("cannot add a video stream"))?;
    let stream_index = stream.index();
    let time_base = Rational(1, scene.fps as i32);
    let mut video = codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(fail("cannot make an encoder"))?;
    video.set_width(scene.width);
    video.set_height(scene.height);
    video.set_format(format::Pixel::YUV420P);
    video.set_time_base(time_base);
    video.set_frame_rate(Some(Rational(scene.fps as i32, 1)));
    video.set_max_b_frames(0);
    video.set_gop(scene.fps * 2);
    video.set_colorspace(ffmpeg::color::Space::SMPTE170M);
    video.set_color_range(ffmpeg::color::Range::MPEG);
    if global_header {
        video.set_flags(codec::Flags::GLOBAL_HEADER);
    }
    let mut options = Dictionary::new();
    options.set("preset", "medium");
    options.set("crf", CRF);
    options.set("threads", "1");
    let mut encoder = video
        .open_with(options)
        .map_err(fail("cannot open the H.264 encoder"))?;
    stream.set_parameters(&encoder);
    stream.set_time_base(time_base);
    output
        .write_header()
        .map_err(fail("cannot write the header"))?;
    let stream_time_base = output
        .stream(stream_index)
        .map_or(time_base, |s| s.time_base());
    let mut yuv = YuvRoundTrip::new();
    let drain = |encoder: &mut encoder::Video,
                 output: &mut format::context::Output|
     -> Result<(), EncodeError> {
        let mut packet = Packet::empty();
        while encoder.receive_packet(&mut packet).is_ok() {
            packet.set_stream(stream_index);
            // One frame each: without it the muxer leaves the last frame out of the stream
            // duration and the average frame rate comes out above the real one.
            packet.set_duration(1);
            packet.rescale_ts(time_base, stream_time_base);
            packet
                .write_interleaved(output)
                .map_err(fail("cannot write a packet"))?;
        }
        Ok(())
    };
    for index in 0..scene.frames {
        let frame = render(scene, scene.frame_time(index));
        let mut picture = yuv
            .to_yuv(&frame.image)
            .map_err(fail("cannot convert a frame to 4:2:0"))?;
        picture.set_pts(Some(index as i64));
        encoder
            .send_frame(&picture)
            .map_err(fail("cannot encode a frame"))?;
        drain(&mut encoder, &mut output)?;
    }
    encoder.send_eof().map_err(fail("cannot finish encoding"))?;
    drain(&mut encoder, &mut output)?;
    output
        .write_trailer()
        .map_err(fail("cannot write the trailer"))?;
    Ok(())
}

//! `shaders/frame.wgsl` on a real GPU device (lavapipe on CI): frames decoded as Y'CbCr planes,
//! uploaded and drawn by the app's frame pipeline into an offscreen texture, read back, and compared
//! with swscale's RGB conversion of the same frame, for BT.601, BT.709 and full-range video.

mod support;

use std::path::Path;

use eframe::wgpu;
use keye_studio::gui::frame_view::{FramePipeline, FramePixels};
use keye_studio::video::{FrameSpec, OutputSize, PixelLayout, Video, VideoFrame};
use support::Fixtures;

fn gpu() -> (wgpu::Device, wgpu::Queue) {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::LowPower,
        ..Default::default()
    }))
    .expect("a GPU adapter (install mesa-vulkan-drivers for lavapipe: ./scripts/install-deps)");
    pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default()))
        .expect("a device on the adapter")
}

/// Draws `frame` with the frame pipeline into a `width` x `height` RGBA texture and reads it back.
fn render(device: &wgpu::Device, queue: &wgpu::Queue, frame: &VideoFrame) -> Vec<u8> {
    let format = wgpu::TextureFormat::Rgba8Unorm;
    let (width, height) = (frame.width, frame.height);
    let pipeline = FramePipeline::new(device, format);
    let pixels = FramePixels::from_frame(frame, 1).expect("a yuv420p frame");
    let textures = pipeline
        .upload(device, queue, None, &pixels)
        .expect("planes of the announced sizes");
    let target = device.create_texture(&wgpu::TextureDescriptor {
        label: Some("offscreen"),
        size: wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
        view_formats: &[],
    });
    let view = target.create_view(&wgpu::TextureViewDescriptor::default());
    let row = (width * 4).div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT)
        * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
    let readback = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size: u64::from(row * height),
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
        mapped_at_creation: false,
    });
    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
    {
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("frame"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: &view,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: None,
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        pipeline.draw(&mut pass, &textures);
    }
    encoder.copy_texture_to_buffer(
        wgpu::TexelCopyTextureInfo {
            texture: &target,
            mip_level: 0,
            origin: wgpu::Origin3d::ZERO,
            aspect: wgpu::TextureAspect::All,
        },
        wgpu::TexelCopyBufferInfo {
            buffer: &readback,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(row),
                rows_per_image: Some(height),
            },
        },
        target.size(),
    );
    queue.submit([encoder.finish()]);
    let slice = readback.slice(..);
    slice.map_async(wgpu::MapMode::Read, |result| {
        result.expect("map the readback buffer")
    });
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .expect("the GPU finishes");
    let data = slice.get_mapped_range().expect("the mapped readback");
    let mut rgba = Vec::with_capacity((width * height * 4) as usize);
    for y in 0..height as usize {
        let start = y * row as usize;
        rgba.extend_from_slice(&data[start..start + width as usize * 4]);
    }
    rgba
}

fn decode(path: &Path, layout: PixelLayout) -> VideoFrame {
    let mut video = Video::open(path).unwrap();
    video
        .frame_index(
            0,
            FrameSpec {
                size: OutputSize::Native,
                layout,
            },
        )
        .unwrap()
}

#[test]
fn the_frame_shader_reproduces_swscale_rgb() {
    let (device, queue) = gpu();
    let fixtures = Fixtures::new();
    for (name, pix_fmt, space, range) in [
        ("bt601.mp4", "yuv420p", "smpte170m", "tv"),
        ("bt709.mp4", "yuv420p", "bt709", "tv"),
        ("full.mp4", "yuvj420p", "bt709", "pc"),
    ] {
        let path = fixtures.ffmpeg(
            name,
            &[
                "-f",
                "lavfi",
                "-i",
                "color=c=0x3366cc:s=64x48:d=0.2,format=rgb24",
                "-c:v",
                "libx264",
                "-pix_fmt",
                pix_fmt,
                "-colorspace",
                space,
                "-color_range",
                range,
            ],
        );
        let yuv = decode(&path, PixelLayout::Yuv420p);
        let rgb = decode(&path, PixelLayout::Rgb24);
        let drawn = render(&device, &queue, &yuv);
        let mut max = 0u8;
        for (i, expected) in rgb.pixels.chunks_exact(3).enumerate() {
            for k in 0..3 {
                max = max.max(drawn[i * 4 + k].abs_diff(expected[k]));
            }
            assert_eq!(drawn[i * 4 + 3], 255);
        }
        assert!(
            max <= 3,
            "{name}: the shader differs from swscale by {max} levels"
        );
    }
}

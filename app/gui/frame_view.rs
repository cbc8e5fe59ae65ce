//! Shows the current video frame through our own wgpu pipeline (`shaders/frame.wgsl`) inside an
//! egui paint callback. Frames arrive as Y'CbCr 4:2:0 planes and the shader converts them to RGB
//! with the video's matrix and range. The three plane textures are kept and overwritten in place
//! for each new frame; they are re-created only when the frame size changes.

use std::sync::Arc;

use eframe::egui;
use eframe::egui_wgpu::{self, CallbackResources, CallbackTrait, RenderState, ScreenDescriptor};
use eframe::wgpu;

use crate::video::{VideoFrame, YuvColor};

/// The planes of one frame with a number that changes whenever the picture does, so the upload
/// happens once per new frame, not once per repaint.
#[derive(Clone)]
pub struct FramePixels {
    pub generation: u64,
    pub width: u32,
    pub height: u32,
    pub color: YuvColor,
    /// Y (`width` x `height`), then Cb and Cr (`ceil(width/2)` x `ceil(height/2)` each).
    pub planes: Arc<[u8]>,
}

impl FramePixels {
    /// A decoded `Yuv420p` frame; `None` for frames in another layout.
    pub fn from_frame(frame: &VideoFrame, generation: u64) -> Option<Self> {
        frame.yuv_planes()?;
        Some(Self {
            generation,
            width: frame.width,
            height: frame.height,
            color: frame.yuv?,
            planes: frame.pixels.clone(),
        })
    }

    fn plane_sizes(&self) -> [(u32, u32); 3] {
        let chroma = (self.width.div_ceil(2), self.height.div_ceil(2));
        [(self.width, self.height), chroma, chroma]
    }
}

/// The conversion pipeline for one target format.
pub struct FramePipeline {
    pipeline: wgpu::RenderPipeline,
    bind_group_layout: wgpu::BindGroupLayout,
    sampler: wgpu::Sampler,
    /// The target stores linear values (an sRGB format), so the shader linearises its output.
    linear_target: bool,
}

/// One uploaded frame: its plane textures, conversion constants and bind group.
pub struct FrameTextures {
    generation: u64,
    size: (u32, u32),
    planes: [wgpu::Texture; 3],
    conversion: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
}

impl FramePipeline {
    pub fn new(device: &wgpu::Device, target_format: wgpu::TextureFormat) -> Self {
        let module = super::quad::shader_module(
            device,
            "keye frame shader",
            include_str!("../../shaders/frame.wgsl"),
        );
        let plane = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Texture {
                multisampled: false,
                sample_type: wgpu::TextureSampleType::Float { filterable: true },
                view_dimension: wgpu::TextureViewDimension::D2,
            },
            count: None,
        };
        let bind_group_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("keye frame bind group layout"),
            entries: &[
                plane(0),
                plane(1),
                plane(2),
                wgpu::BindGroupLayoutEntry {
                    binding: 3,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 4,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
            ],
        });
        let pipeline = super::quad::pipeline(
            device,
            "keye frame pipeline",
            &module,
            &bind_group_layout,
            target_format,
            None,
        );
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("keye frame sampler"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        Self {
            pipeline,
            bind_group_layout,
            sampler,
            linear_target: target_format.is_srgb(),
        }
    }

    /// Uploads `pixels`, reusing `previous`'s textures when the size is unchanged. `None` when the
    /// planes do not have the sizes the frame says.
    pub fn upload(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        previous: Option<FrameTextures>,
        pixels: &FramePixels,
    ) -> Option<FrameTextures> {
        let sizes = pixels.plane_sizes();
        let expected: usize = sizes.iter().map(|(w, h)| (w * h) as usize).sum();
        if pixels.planes.len() != expected {
            return None;
        }
        let size = (pixels.width, pixels.height);
        let mut frame = match previous.filter(|f| f.size == size) {
            Some(frame) => frame,
            None => self.create_textures(device, sizes, size),
        };
        let mut offset = 0;
        for (texture, (w, h)) in frame.planes.iter().zip(sizes) {
            let len = (w * h) as usize;
            queue.write_texture(
                wgpu::TexelCopyTextureInfo {
                    texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d::ZERO,
                    aspect: wgpu::TextureAspect::All,
                },
                &pixels.planes[offset..offset + len],
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(w),
                    rows_per_image: Some(h),
                },
                wgpu::Extent3d {
                    width: w,
                    height: h,
                    depth_or_array_layers: 1,
                },
            );
            offset += len;
        }
        let (kr, kb) = pixels.color.matrix.coefficients();
        let flag = |on: bool| if on { 1.0f32 } else { 0.0 };
        let constants = [
            kr,
            kb,
            flag(pixels.color.full_range),
            flag(self.linear_target),
        ];
        let bytes: Vec<u8> = constants.iter().flat_map(|v| v.to_le_bytes()).collect();
        queue.write_buffer(&frame.conversion, 0, &bytes);
        frame.generation = pixels.generation;
        Some(frame)
    }

    fn create_textures(
        &self,
        device: &wgpu::Device,
        sizes: [(u32, u32); 3],
        size: (u32, u32),
    ) -> FrameTextures {
        let planes = sizes.map(|(width, height)| {
            device.create_texture(&wgpu::TextureDescriptor {
                label: Some("keye frame plane"),
                size: wgpu::Extent3d {
                    width,
                    height,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::R8Unorm,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            })
        });
        let conversion = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("keye frame conversion"),
            size: 16,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let views = planes
            .each_ref()
            .map(|t| t.create_view(&wgpu::TextureViewDescriptor::default()));
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("keye frame bind group"),
            layout: &self.bind_group_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(&views[0]),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::TextureView(&views[1]),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::TextureView(&views[2]),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: wgpu::BindingResource::Sampler(&self.sampler),
                },
                wgpu::BindGroupEntry {
                    binding: 4,
                    resource: conversion.as_entire_binding(),
                },
            ],
        });
        FrameTextures {
            generation: 0,
            size,
            planes,
            conversion,
            bind_group,
        }
    }

    /// Draws `frame` over the whole viewport of `pass`.
    pub fn draw(&self, pass: &mut wgpu::RenderPass<'_>, frame: &FrameTextures) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &frame.bind_group, &[]);
        pass.draw(0..6, 0..1);
    }
}

/// The pipeline, created once when the app starts with the wgpu renderer.
pub fn install(render_state: &RenderState) {
    let pipeline = FramePipeline::new(&render_state.device, render_state.target_format);
    render_state
        .renderer
        .write()
        .callback_resources
        .insert(FrameResources {
            pipeline,
            frame: None,
            uploads: UploadStats::default(),
        });
}

struct FrameResources {
    pipeline: FramePipeline,
    frame: Option<FrameTextures>,
    uploads: UploadStats,
}

/// How long handing new frames to the GPU took (the `write_texture` calls of each new frame).
#[derive(Debug, Clone, Copy, Default)]
pub struct UploadStats {
    pub frames: usize,
    pub total: std::time::Duration,
    pub longest: std::time::Duration,
}

/// The upload figures so far (zero before [`install`]).
pub fn upload_stats(render_state: &RenderState) -> UploadStats {
    render_state
        .renderer
        .read()
        .callback_resources
        .get::<FrameResources>()
        .map(|resources| resources.uploads)
        .unwrap_or_default()
}

/// Paints `pixels` into `rect` (which the caller sizes to the frame's aspect).
pub fn paint(painter: &egui::Painter, rect: egui::Rect, pixels: FramePixels) {
    painter.add(egui_wgpu::Callback::new_paint_callback(
        rect,
        FrameCallback { pixels },
    ));
}

struct FrameCallback {
    pixels: FramePixels,
}

impl CallbackTrait for FrameCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen_descriptor: &ScreenDescriptor,
        _egui_encoder: &mut wgpu::CommandEncoder,
        resources: &mut CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        if let Some(resources) = resources.get_mut::<FrameResources>() {
            let current = resources.frame.as_ref().map(|f| f.generation);
            if current != Some(self.pixels.generation) {
                let previous = resources.frame.take();
                let started = std::time::Instant::now();
                resources.frame = resources
                    .pipeline
                    .upload(device, queue, previous, &self.pixels);
                let took = started.elapsed();
                let uploads = &mut resources.uploads;
                uploads.frames += 1;
                uploads.total += took;
                uploads.longest = uploads.longest.max(took);
            }
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        render_pass: &mut wgpu::RenderPass<'static>,
        resources: &CallbackResources,
    ) {
        let Some(resources) = resources.get::<FrameResources>() else {
            return;
        };
        if let Some(frame) = &resources.frame {
            resources.pipeline.draw(render_pass, frame);
        }
    }
}

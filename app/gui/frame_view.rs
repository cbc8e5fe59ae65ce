//! Shows the current video frame through our own wgpu pipeline (`shaders/frame.wgsl`) inside an
//! egui paint callback. One GPU texture is kept and overwritten in place for each new frame; it is
//! re-created only when the frame size changes.

use std::sync::Arc;

use eframe::egui;
use eframe::egui_wgpu::{self, CallbackResources, CallbackTrait, RenderState, ScreenDescriptor};
use eframe::wgpu;

/// RGBA pixels of one frame (rows tightly packed) with a number that changes whenever the
/// picture does, so the upload happens once per new frame, not once per repaint.
#[derive(Clone)]
pub struct FramePixels {
    pub generation: u64,
    pub width: u32,
    pub height: u32,
    pub rgba: Arc<[u8]>,
}

/// The pipeline, created once when the app starts with the wgpu renderer.
pub fn install(render_state: &RenderState) {
    let device = &render_state.device;
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("keye frame shader"),
        source: wgpu::ShaderSource::Wgsl(include_str!("../../shaders/frame.wgsl").into()),
    });
    let bind_group_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("keye frame bind group layout"),
        entries: &[
            wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Texture {
                    multisampled: false,
                    sample_type: wgpu::TextureSampleType::Float { filterable: true },
                    view_dimension: wgpu::TextureViewDimension::D2,
                },
                count: None,
            },
            wgpu::BindGroupLayoutEntry {
                binding: 1,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                count: None,
            },
        ],
    });
    let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("keye frame pipeline layout"),
        bind_group_layouts: &[Some(&bind_group_layout)],
        immediate_size: 0,
    });
    let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some("keye frame pipeline"),
        layout: Some(&layout),
        vertex: wgpu::VertexState {
            module: &module,
            entry_point: Some("vs_main"),
            buffers: &[],
            compilation_options: wgpu::PipelineCompilationOptions::default(),
        },
        primitive: wgpu::PrimitiveState::default(),
        depth_stencil: None,
        multisample: wgpu::MultisampleState::default(),
        fragment: Some(wgpu::FragmentState {
            module: &module,
            entry_point: Some("fs_main"),
            targets: &[Some(wgpu::ColorTargetState {
                format: render_state.target_format,
                blend: None,
                write_mask: wgpu::ColorWrites::ALL,
            })],
            compilation_options: wgpu::PipelineCompilationOptions::default(),
        }),
        multiview_mask: None,
        cache: None,
    });
    let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
        label: Some("keye frame sampler"),
        mag_filter: wgpu::FilterMode::Linear,
        min_filter: wgpu::FilterMode::Linear,
        ..Default::default()
    });
    // A linear framebuffer would convert our already-encoded sRGB bytes a second time; reading
    // them through an sRGB texture view cancels that out.
    let texture_format = if render_state.target_format.is_srgb() {
        wgpu::TextureFormat::Rgba8UnormSrgb
    } else {
        wgpu::TextureFormat::Rgba8Unorm
    };
    render_state
        .renderer
        .write()
        .callback_resources
        .insert(FrameResources {
            pipeline,
            bind_group_layout,
            sampler,
            texture_format,
            frame: None,
        });
}

struct FrameResources {
    pipeline: wgpu::RenderPipeline,
    bind_group_layout: wgpu::BindGroupLayout,
    sampler: wgpu::Sampler,
    texture_format: wgpu::TextureFormat,
    frame: Option<UploadedFrame>,
}

struct UploadedFrame {
    generation: u64,
    texture: wgpu::Texture,
    bind_group: wgpu::BindGroup,
}

impl FrameResources {
    fn upload(&mut self, device: &wgpu::Device, queue: &wgpu::Queue, pixels: &FramePixels) {
        let size = wgpu::Extent3d {
            width: pixels.width,
            height: pixels.height,
            depth_or_array_layers: 1,
        };
        if pixels.rgba.len() != (pixels.width as usize) * (pixels.height as usize) * 4 {
            return;
        }
        let reusable = self.frame.take().filter(|f| f.texture.size() == size);
        let (texture, bind_group) = match reusable {
            Some(frame) => (frame.texture, frame.bind_group),
            None => {
                let texture = device.create_texture(&wgpu::TextureDescriptor {
                    label: Some("keye frame texture"),
                    size,
                    mip_level_count: 1,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D2,
                    format: self.texture_format,
                    usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                    view_formats: &[],
                });
                let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
                let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("keye frame bind group"),
                    layout: &self.bind_group_layout,
                    entries: &[
                        wgpu::BindGroupEntry {
                            binding: 0,
                            resource: wgpu::BindingResource::TextureView(&view),
                        },
                        wgpu::BindGroupEntry {
                            binding: 1,
                            resource: wgpu::BindingResource::Sampler(&self.sampler),
                        },
                    ],
                });
                (texture, bind_group)
            }
        };
        queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture: &texture,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            &pixels.rgba,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(4 * pixels.width),
                rows_per_image: Some(pixels.height),
            },
            size,
        );
        self.frame = Some(UploadedFrame {
            generation: pixels.generation,
            texture,
            bind_group,
        });
    }
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
                resources.upload(device, queue, &self.pixels);
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
        let Some(frame) = &resources.frame else {
            return;
        };
        render_pass.set_pipeline(&resources.pipeline);
        render_pass.set_bind_group(0, &frame.bind_group, &[]);
        render_pass.draw(0..6, 0..1);
    }
}

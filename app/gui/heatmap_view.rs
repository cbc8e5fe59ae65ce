//! Draws the attention heatmap over the video frame through `shaders/heatmap.wgsl` in an egui
//! paint callback, like `frame_view`. One small texture holds the current frame's merged-token
//! grid as R8Unorm bytes (filterable, unlike R32Float), so the sampler upsamples it bilinearly;
//! it is re-uploaded only when the grid changes (its generation number), and re-created only when
//! the grid's size changes. The colours come from the heat colour table the timeline uses too,
//! uploaded once as a uniform.

use std::sync::Arc;

use eframe::egui;
use eframe::egui_wgpu::{self, CallbackResources, CallbackTrait, RenderState, ScreenDescriptor};
use eframe::wgpu::{self, util::DeviceExt as _};
use keye_ui::HeatGrid;
use keye_ui::heatmap::heat_table;

/// Rings the `cells` (row, col) of a `grid` (rows, cols) laid over `target`: the attention
/// sinks of the shown map, so the user sees which tokens were masked.
pub fn ring_cells(
    painter: &egui::Painter,
    target: egui::Rect,
    (rows, cols): (usize, usize),
    cells: &[(usize, usize)],
) {
    if rows == 0 || cols == 0 {
        return;
    }
    let cell = egui::vec2(target.width() / cols as f32, target.height() / rows as f32);
    for &(row, col) in cells {
        let center =
            target.min + egui::vec2((col as f32 + 0.5) * cell.x, (row as f32 + 0.5) * cell.y);
        let radius = 0.45 * cell.x.min(cell.y);
        painter.circle_stroke(
            center,
            radius,
            egui::Stroke::new(2.0, egui::Color32::from_rgb(80, 220, 255)),
        );
    }
}

/// A grid to show, numbered so that an unchanged grid is not uploaded again.
#[derive(Clone)]
pub struct HeatOverlay {
    pub generation: u64,
    pub grid: Arc<HeatGrid>,
    pub opacity: f32,
    /// (row, col) cells of the grid holding attention sinks, ringed over the frame.
    pub sinks: Arc<Vec<(usize, usize)>>,
}

/// The overlay pipeline for one target format: the shader, its sampler, the opacity uniform and
/// the heat colour table.
pub struct HeatmapPipeline {
    pipeline: wgpu::RenderPipeline,
    bind_group_layout: wgpu::BindGroupLayout,
    sampler: wgpu::Sampler,
    params: wgpu::Buffer,
    colors: wgpu::Buffer,
    /// The target stores linear values (an sRGB format), so the shader linearises its colours.
    linear_target: bool,
}

/// One uploaded grid: its texture and bind group.
pub struct HeatTexture {
    generation: u64,
    texture: wgpu::Texture,
    bind_group: wgpu::BindGroup,
}

/// `vec4<f32>`: opacity, sRGB target flag, padding.
const PARAMS_SIZE: u64 = 16;

impl HeatmapPipeline {
    pub fn new(device: &wgpu::Device, target_format: wgpu::TextureFormat) -> Self {
        let module = super::quad::shader_module(
            device,
            "keye heatmap shader",
            include_str!("../../shaders/heatmap.wgsl"),
        );
        let uniform = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let bind_group_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("keye heatmap bind group layout"),
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
                uniform(2),
                uniform(3),
            ],
        });
        let pipeline = super::quad::pipeline(
            device,
            "keye heatmap pipeline",
            &module,
            &bind_group_layout,
            target_format,
            // The shader returns premultiplied colour, as egui's own pipeline blends.
            Some(wgpu::BlendState::PREMULTIPLIED_ALPHA_BLENDING),
        );
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("keye heatmap sampler"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            address_mode_u: wgpu::AddressMode::ClampToEdge,
            address_mode_v: wgpu::AddressMode::ClampToEdge,
            ..Default::default()
        });
        let params = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("keye heatmap params"),
            size: PARAMS_SIZE,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let table: Vec<u8> = heat_table()
            .iter()
            .flat_map(|rgb| {
                let [r, g, b] = rgb.map(|c| f32::from(c) / 255.0);
                [r, g, b, 1.0]
            })
            .flat_map(f32::to_le_bytes)
            .collect();
        let colors = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("keye heat colours"),
            contents: &table,
            usage: wgpu::BufferUsages::UNIFORM,
        });
        Self {
            pipeline,
            bind_group_layout,
            sampler,
            params,
            colors,
            linear_target: target_format.is_srgb(),
        }
    }

    /// Uploads `overlay`'s grid, reusing `previous`'s texture when the size is unchanged, and
    /// sets its opacity. `None` for an empty grid or one whose values do not fill it.
    pub fn upload(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        previous: Option<HeatTexture>,
        overlay: &HeatOverlay,
    ) -> Option<HeatTexture> {
        let grid = &overlay.grid;
        let size = wgpu::Extent3d {
            width: grid.cols as u32,
            height: grid.rows as u32,
            depth_or_array_layers: 1,
        };
        let bytes = grid.to_bytes();
        if size.width == 0 || size.height == 0 || bytes.len() != grid.rows * grid.cols {
            return None;
        }
        let (texture, bind_group) = match previous.filter(|g| g.texture.size() == size) {
            Some(uploaded) => (uploaded.texture, uploaded.bind_group),
            None => self.create_texture(device, size),
        };
        // Rows of a texture copy need no padding for write_texture; one byte per texel.
        queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture: &texture,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            &bytes,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(size.width),
                rows_per_image: Some(size.height),
            },
            size,
        );
        self.set_opacity(queue, overlay.opacity);
        Some(HeatTexture {
            generation: overlay.generation,
            texture,
            bind_group,
        })
    }

    /// Sets the overlay's opacity (0..=1).
    pub fn set_opacity(&self, queue: &wgpu::Queue, opacity: f32) {
        let srgb = if self.linear_target { 1.0f32 } else { 0.0 };
        let params = [opacity.clamp(0.0, 1.0), srgb, 0.0, 0.0];
        let bytes: Vec<u8> = params.iter().flat_map(|v| v.to_le_bytes()).collect();
        queue.write_buffer(&self.params, 0, &bytes);
    }

    fn create_texture(
        &self,
        device: &wgpu::Device,
        size: wgpu::Extent3d,
    ) -> (wgpu::Texture, wgpu::BindGroup) {
        let texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("keye heatmap texture"),
            size,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::R8Unorm,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("keye heatmap bind group"),
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
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: self.params.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: self.colors.as_entire_binding(),
                },
            ],
        });
        (texture, bind_group)
    }

    /// Draws `grid` over the whole viewport of `pass`.
    pub fn draw(&self, pass: &mut wgpu::RenderPass<'_>, grid: &HeatTexture) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &grid.bind_group, &[]);
        pass.draw(0..6, 0..1);
    }
}

/// The pipeline, created once when the app starts with the wgpu renderer.
pub fn install(render_state: &RenderState) {
    let pipeline = HeatmapPipeline::new(&render_state.device, render_state.target_format);
    render_state
        .renderer
        .write()
        .callback_resources
        .insert(HeatmapResources {
            pipeline,
            grid: None,
        });
}

struct HeatmapResources {
    pipeline: HeatmapPipeline,
    grid: Option<HeatTexture>,
}

/// Paints `overlay` over `rect` (the rect the video frame occupies).
pub fn paint(painter: &egui::Painter, rect: egui::Rect, overlay: HeatOverlay) {
    painter.add(egui_wgpu::Callback::new_paint_callback(
        rect,
        HeatmapCallback { overlay },
    ));
}

struct HeatmapCallback {
    overlay: HeatOverlay,
}

impl CallbackTrait for HeatmapCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen_descriptor: &ScreenDescriptor,
        _egui_encoder: &mut wgpu::CommandEncoder,
        resources: &mut CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        if let Some(resources) = resources.get_mut::<HeatmapResources>() {
            let current = resources.grid.as_ref().map(|g| g.generation);
            if current != Some(self.overlay.generation) {
                let previous = resources.grid.take();
                resources.grid = resources
                    .pipeline
                    .upload(device, queue, previous, &self.overlay);
            }
            resources.pipeline.set_opacity(queue, self.overlay.opacity);
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        render_pass: &mut wgpu::RenderPass<'static>,
        resources: &CallbackResources,
    ) {
        let Some(resources) = resources.get::<HeatmapResources>() else {
            return;
        };
        let Some(grid) = &resources.grid else {
            return;
        };
        resources.pipeline.draw(render_pass, grid);
    }
}

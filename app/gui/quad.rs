//! What the two video overlays (the frame and the attention heatmap) share: a shader made of
//! `shaders/quad.wgsl` (the full-viewport quad and sRGB decoding) followed by the overlay's own
//! fragment stage, and a render pipeline drawing that quad into egui's target.

use eframe::wgpu;

/// Builds `quad.wgsl` + `fragment_wgsl` into one module.
pub fn shader_module(
    device: &wgpu::Device,
    label: &str,
    fragment_wgsl: &str,
) -> wgpu::ShaderModule {
    let source = format!(
        "{}\n{fragment_wgsl}",
        include_str!("../../shaders/quad.wgsl")
    );
    device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    })
}

/// The quad pipeline of `module` (entry points `vs_main`, `fs_main`) over one bind group.
pub fn pipeline(
    device: &wgpu::Device,
    label: &str,
    module: &wgpu::ShaderModule,
    bind_group_layout: &wgpu::BindGroupLayout,
    target_format: wgpu::TextureFormat,
    blend: Option<wgpu::BlendState>,
) -> wgpu::RenderPipeline {
    let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(label),
        bind_group_layouts: &[Some(bind_group_layout)],
        immediate_size: 0,
    });
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(label),
        layout: Some(&layout),
        vertex: wgpu::VertexState {
            module,
            entry_point: Some("vs_main"),
            buffers: &[],
            compilation_options: wgpu::PipelineCompilationOptions::default(),
        },
        primitive: wgpu::PrimitiveState::default(),
        depth_stencil: None,
        multisample: wgpu::MultisampleState::default(),
        fragment: Some(wgpu::FragmentState {
            module,
            entry_point: Some("fs_main"),
            targets: &[Some(wgpu::ColorTargetState {
                format: target_format,
                blend,
                write_mask: wgpu::ColorWrites::ALL,
            })],
            compilation_options: wgpu::PipelineCompilationOptions::default(),
        }),
        multiview_mask: None,
        cache: None,
    })
}

// Video frame display: one textured quad covering the paint callback's viewport (egui sets the
// viewport to the rect the video occupies). The frame texture holds the decoded RGBA picture,
// already turned by the display rotation; it is uploaded in place when a new frame arrives.

struct VertexOut {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
};

@group(0) @binding(0) var frame_texture: texture_2d<f32>;
@group(0) @binding(1) var frame_sampler: sampler;

// Two triangles from the vertex index alone: no vertex buffer to manage.
@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VertexOut {
    var corners = array<vec2<f32>, 6>(
        vec2<f32>(0.0, 0.0), vec2<f32>(1.0, 0.0), vec2<f32>(1.0, 1.0),
        vec2<f32>(0.0, 0.0), vec2<f32>(1.0, 1.0), vec2<f32>(0.0, 1.0),
    );
    let uv = corners[index];
    var out: VertexOut;
    // uv (0,0) is the top-left texel; clip space y points up.
    out.position = vec4<f32>(uv.x * 2.0 - 1.0, 1.0 - uv.y * 2.0, 0.0, 1.0);
    out.uv = uv;
    return out;
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    let rgb = textureSample(frame_texture, frame_sampler, in.uv).rgb;
    return vec4<f32>(rgb, 1.0);
}

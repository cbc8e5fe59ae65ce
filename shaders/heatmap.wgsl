// Attention heatmap overlay (after quad.wgsl, which supplies the vertex stage and srgb_to_linear),
// over the video rect. The texture holds one frame's merged-token grid, normalised to 0..1 as
// R8Unorm bytes (R32Float is not filterable); the linear sampler upsamples it bilinearly to the
// video's size, and the heat colour table (keye_ui::heatmap::heat_table, the one the timeline's
// attention track uses) turns each value into colour, blended over the frame with the chosen
// opacity.

struct Params {
    // x: opacity 0..1; y: 1 when the target is sRGB (colours must be linearised first).
    values: vec4<f32>,
};

// The heat colour table: 256 sRGB colours (rgb, a unused) evenly spaced over 0..1.
struct HeatColors {
    colors: array<vec4<f32>, 256>,
};

@group(0) @binding(0) var heat_texture: texture_2d<f32>;
@group(0) @binding(1) var heat_sampler: sampler;
@group(0) @binding(2) var<uniform> params: Params;
@group(0) @binding(3) var<uniform> heat_colors: HeatColors;

// The nearest table entry, rounding halves up as keye_ui::heatmap::heat_index does.
fn heat_color(value: f32) -> vec3<f32> {
    let index = u32(floor(clamp(value, 0.0, 1.0) * 255.0 + 0.5));
    return heat_colors.colors[index].rgb;
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    let value = textureSample(heat_texture, heat_sampler, in.uv).r;
    var rgb = heat_color(value);
    if (params.values.y > 0.5) {
        rgb = srgb_to_linear(rgb);
    }
    // Cold regions stay see-through so the frame remains readable under the map.
    let alpha = params.values.x * (0.25 + 0.75 * value);
    return vec4<f32>(rgb * alpha, alpha);
}

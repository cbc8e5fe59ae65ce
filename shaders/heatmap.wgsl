// Attention heatmap overlay (after quad.wgsl, which supplies the vertex stage and srgb_to_linear),
// over the video rect. The texture holds one frame's merged-token grid, normalised to 0..1 as
// R8Unorm bytes (R32Float is not filterable); the linear sampler upsamples it bilinearly to the
// video's size, and the inferno colormap turns each value into colour, blended over the frame
// with the chosen opacity.

struct Params {
    // x: opacity 0..1; y: 1 when the target is sRGB (colours must be linearised first).
    values: vec4<f32>,
};

@group(0) @binding(0) var heat_texture: texture_2d<f32>;
@group(0) @binding(1) var heat_sampler: sampler;
@group(0) @binding(2) var<uniform> params: Params;

// Inferno as a degree-6 polynomial fit (Matt Zucconi's, CC0), in sRGB.
fn inferno(t: f32) -> vec3<f32> {
    let c0 = vec3<f32>(0.0002189403691192265, 0.001651004631001012, -0.01948089843709184);
    let c1 = vec3<f32>(0.1065134194856116, 0.5639564367884091, 3.932712388889277);
    let c2 = vec3<f32>(11.60249308247187, -3.972853965665698, -15.9423941062914);
    let c3 = vec3<f32>(-41.70399613139459, 17.43639888205313, 44.35414519872813);
    let c4 = vec3<f32>(77.162935699427, -33.40235894210092, -81.80730925738993);
    let c5 = vec3<f32>(-71.31942824499214, 32.62606426397723, 73.20951985803202);
    let c6 = vec3<f32>(25.13112622477341, -12.24266895238567, -23.07032500287172);
    let x = clamp(t, 0.0, 1.0);
    let rgb = c0 + x * (c1 + x * (c2 + x * (c3 + x * (c4 + x * (c5 + x * c6)))));
    return clamp(rgb, vec3<f32>(0.0), vec3<f32>(1.0));
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    let value = textureSample(heat_texture, heat_sampler, in.uv).r;
    var rgb = inferno(value);
    if (params.values.y > 0.5) {
        rgb = srgb_to_linear(rgb);
    }
    // Cold regions stay see-through so the frame remains readable under the map.
    let alpha = params.values.x * (0.25 + 0.75 * value);
    return vec4<f32>(rgb * alpha, alpha);
}

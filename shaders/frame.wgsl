// Video frame display (after quad.wgsl, which supplies the vertex stage and srgb_to_linear). The
// frame arrives as 8-bit Y'CbCr 4:2:0 planes, already turned by the display rotation; they are
// converted to RGB here with the video's own matrix and range, so the CPU never touches per-pixel
// colour and uploads half the bytes of RGBA.

// How to read the planes: luma coefficients Kr and Kb of the matrix (BT.601, BT.709 or BT.2020),
// whether the samples use the full 0..255 range, and whether the target framebuffer is sRGB (our
// R'G'B' is already gamma-encoded, so it is linearised for an sRGB target to come out unchanged).
struct Conversion {
    kr: f32,
    kb: f32,
    full_range: f32,
    linear_target: f32,
};

@group(0) @binding(0) var luma_plane: texture_2d<f32>;
@group(0) @binding(1) var cb_plane: texture_2d<f32>;
@group(0) @binding(2) var cr_plane: texture_2d<f32>;
@group(0) @binding(3) var plane_sampler: sampler;
@group(0) @binding(4) var<uniform> conversion: Conversion;

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    let y = textureSample(luma_plane, plane_sampler, in.uv).r * 255.0;
    let cb = textureSample(cb_plane, plane_sampler, in.uv).r * 255.0 - 128.0;
    let cr = textureSample(cr_plane, plane_sampler, in.uv).r * 255.0 - 128.0;
    var luma: f32;
    var blue: f32;
    var red: f32;
    if (conversion.full_range > 0.5) {
        luma = y / 255.0;
        blue = cb / 255.0;
        red = cr / 255.0;
    } else {
        luma = (y - 16.0) / 219.0;
        blue = cb / 224.0;
        red = cr / 224.0;
    }
    let kr = conversion.kr;
    let kb = conversion.kb;
    let r = luma + 2.0 * (1.0 - kr) * red;
    let b = luma + 2.0 * (1.0 - kb) * blue;
    let g = (luma - kr * r - kb * b) / (1.0 - kr - kb);
    var rgb = clamp(vec3<f32>(r, g, b), vec3<f32>(0.0), vec3<f32>(1.0));
    if (conversion.linear_target > 0.5) {
        rgb = srgb_to_linear(rgb);
    }
    return vec4<f32>(rgb, 1.0);
}

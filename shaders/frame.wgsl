// Video frame display: one textured quad covering the paint callback's viewport (egui sets the
// viewport to the rect the video occupies). The frame arrives as 8-bit Y'CbCr 4:2:0 planes, already
// turned by the display rotation; they are converted to RGB here with the video's own matrix and
// range, so the CPU never touches per-pixel colour and uploads half the bytes of RGBA.

struct VertexOut {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
};

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

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let low = c / 12.92;
    let high = pow((c + vec3<f32>(0.055)) / 1.055, vec3<f32>(2.4));
    return select(high, low, c <= vec3<f32>(0.04045));
}

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

//! Quantized weights for laptops: the decoder's linear layers (and the vision tower's on request)
//! as candle's block-quantized tensors (Q8_0, Q6_K, Q4_K), made tensor by tensor while a
//! checkpoint streams in, a few rows at a time, so neither the full-precision model nor a full f32
//! copy of any large matrix ever exists. Embeddings, norms and the projector stay in the dense
//! dtype, which is what quality needs and costs little memory.

use std::{borrow::Cow, fmt, str::FromStr, sync::Arc};

use candle_core::{
    DType, Device, Tensor,
    quantized::{GgmlDType, QStorage, QTensor},
};

use crate::error::{Error, Result};

/// `--quantize`: the block format of the quantized linear layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QuantKind {
    /// Full precision (the model's dtype).
    #[default]
    None,
    /// 8.5 bits per weight: 32 weights share one f16 scale.
    Q8_0,
    /// 6.56 bits per weight (256-weight super-blocks).
    Q6K,
    /// 4.5 bits per weight (256-weight super-blocks).
    Q4K,
}

impl QuantKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Q8_0 => "q8_0",
            Self::Q6K => "q6k",
            Self::Q4K => "q4k",
        }
    }

    fn ggml(self) -> Option<GgmlDType> {
        match self {
            Self::None => None,
            Self::Q8_0 => Some(GgmlDType::Q8_0),
            Self::Q6K => Some(GgmlDType::Q6K),
            Self::Q4K => Some(GgmlDType::Q4K),
        }
    }

    /// The kind a GGUF tensor type stands for (`None` for unquantized types).
    pub fn from_ggml(dtype: GgmlDType) -> Option<Self> {
        match dtype {
            GgmlDType::Q8_0 => Some(Self::Q8_0),
            GgmlDType::Q6K => Some(Self::Q6K),
            GgmlDType::Q4K => Some(Self::Q4K),
            _ => None,
        }
    }
}

impl FromStr for QuantKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "none" => Ok(Self::None),
            "q8_0" => Ok(Self::Q8_0),
            "q6k" => Ok(Self::Q6K),
            "q4k" => Ok(Self::Q4K),
            other => Err(format!(
                "unknown quantization {other:?}: use none, q8_0, q6k or q4k"
            )),
        }
    }
}

impl fmt::Display for QuantKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What to quantize at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuantizeSpec {
    pub kind: QuantKind,
    /// The vision tower's linear layers too (`--quantize-vision`).
    pub vision: bool,
}

/// The decoder's linear weights, by their last name parts.
const DECODER_LINEARS: [&str; 7] = [
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
];
const VISION_LINEARS: [&str; 6] = [
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.out_proj",
    "mlp.fc1",
    "mlp.fc2",
];

impl QuantizeSpec {
    pub fn is_none(&self) -> bool {
        self.kind == QuantKind::None
    }

    /// Whether tensor `name` is one this spec quantizes (before the block-size check).
    pub fn covers(&self, name: &str) -> bool {
        if self.is_none() {
            return false;
        }
        let Some(stem) = name.strip_suffix(".weight") else {
            return false;
        };
        if stem == "lm_head" {
            return true;
        }
        let linear_of = |prefix: &str, names: &[&str]| {
            stem.strip_prefix(prefix)
                .and_then(|rest| rest.split_once('.'))
                .is_some_and(|(layer, part)| {
                    layer.parse::<usize>().is_ok() && names.contains(&part)
                })
        };
        linear_of("model.layers.", &DECODER_LINEARS)
            || (self.vision && linear_of("visual.vision_model.encoder.layers.", &VISION_LINEARS))
    }

    /// The block format for a matrix whose rows have `columns` weights: the spec's own, else
    /// Q8_0 (32-weight blocks) for rows the 256-weight k-quant blocks do not divide, else none.
    pub fn format_for(&self, columns: usize) -> Option<GgmlDType> {
        let wanted = self.kind.ggml()?;
        [wanted, GgmlDType::Q8_0]
            .into_iter()
            .find(|f| columns.is_multiple_of(f.block_size()))
    }
}

/// Rows of a matrix converted to f32 and quantized at a time: bounds the f32 scratch to about
/// 64 MiB whatever the matrix.
pub const SCRATCH_FLOATS: usize = 16 << 20;

/// Quantizes a (rows, columns) matrix held as raw little-endian `bytes` of `dtype`, a block of
/// rows at a time, into one quantized tensor of `format` on `device`.
pub fn quantize_matrix(
    bytes: &[u8],
    dtype: DType,
    (rows, columns): (usize, usize),
    format: GgmlDType,
    device: &Device,
) -> Result<QTensor> {
    let row_bytes = columns * dtype.size_in_bytes();
    if bytes.len() != rows * row_bytes {
        return Err(Error::Input(format!(
            "{} bytes given for a {rows}x{columns} {dtype:?} matrix",
            bytes.len()
        )));
    }
    let rows_per_block = (SCRATCH_FLOATS / columns.max(1)).max(1);
    quantize_rows((rows, columns), rows_per_block, format, device, |row, n| {
        Ok(Tensor::from_raw_buffer(
            &bytes[row * row_bytes..(row + n) * row_bytes],
            dtype,
            &[n, columns],
            &Device::Cpu,
        )?)
    })
}

/// [`quantize_matrix`] of a dense 2-D tensor already in memory.
pub fn quantize_tensor(tensor: &Tensor, format: GgmlDType, device: &Device) -> Result<QTensor> {
    let (rows, columns) = tensor.dims2()?;
    let rows_per_block = (SCRATCH_FLOATS / columns.max(1)).max(1);
    quantize_rows((rows, columns), rows_per_block, format, device, |row, n| {
        Ok(tensor.narrow(0, row, n)?)
    })
}

/// Quantizes `rows_per_block` rows at a time, each block taken from `rows_at(first, count)`; the
/// blocks' quantized bytes are concatenated (rows are quantized independently, so this is exactly
/// the quantization of the whole matrix). For matrices made block by block (benchmark weights).
pub fn quantize_rows(
    (rows, columns): (usize, usize),
    rows_per_block: usize,
    format: GgmlDType,
    device: &Device,
    mut rows_at: impl FnMut(usize, usize) -> Result<Tensor>,
) -> Result<QTensor> {
    if !columns.is_multiple_of(format.block_size()) {
        return Err(Error::Input(format!(
            "rows of {columns} weights do not split into {format:?} blocks of {}",
            format.block_size()
        )));
    }
    let mut data = Vec::with_capacity(rows * columns / format.block_size() * format.type_size());
    let mut row = 0;
    while row < rows {
        let n = rows_per_block.min(rows - row);
        // Quantizing reads a tensor's whole storage, not only its view: own exactly these rows.
        let values = rows_at(row, n)?
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let block = Tensor::from_vec(values, (n, columns), &Device::Cpu)?;
        data.extend_from_slice(&QTensor::quantize(&block, format)?.data()?);
        row += n;
    }
    let storage = QStorage::from_data(Cow::Owned(data), device, format)?;
    Ok(QTensor::new(storage, (rows, columns))?)
}

/// Bytes candle's CPU kernels add beside the quantized matrices in `quantized` on a matrix's first
/// use. On x86-64 with AVX2 and FMA, candle 0.11 repacks a matrix whose rows are a multiple of 16
/// and whose row length is a multiple of 256 into 16-row tiles and keeps those tiles *as well as*
/// the compact blocks: Q4_K tiles take 6 bits a weight (the compact form 4.5), Q6_K tiles 10 bits
/// (made for prompts, not single tokens), Q8_0 tiles 8.5 bits, made only where the CPU has
/// AVX-VNNI or AVX-512 VNNI. Estimates count these bytes because `bench model` measured them (an 8B
/// model in q4k: 6.1 GiB resident after loading, 11.5 GiB after one prompt). Not counted on GPUs or
/// on other CPUs (aarch64 repacks too, in layouts not measured here).
pub fn kernel_copy_bytes(quantized: &crate::layers::QuantizedWeights, device: &Device) -> u64 {
    quantized
        .values()
        .filter_map(|q| {
            let (rows, columns) = q.shape().dims2().ok()?;
            Some(matrix_kernel_copy_bytes(q.dtype(), rows, columns, device))
        })
        .sum()
}

/// [`kernel_copy_bytes`] of one (rows, columns) matrix quantized to `format`.
pub fn matrix_kernel_copy_bytes(
    format: GgmlDType,
    rows: usize,
    columns: usize,
    device: &Device,
) -> u64 {
    let Some(vnni) = x86_tiles().filter(|_| device.is_cpu()) else {
        return 0;
    };
    if !rows.is_multiple_of(16) || !columns.is_multiple_of(256) {
        return 0;
    }
    let weights = (rows * columns) as u64;
    match format {
        GgmlDType::Q4K => weights * 6 / 8,
        GgmlDType::Q6K => weights * 10 / 8,
        GgmlDType::Q8_0 if vnni => weights * 17 / 16,
        _ => 0,
    }
}

/// Whether candle's tiled x86 kernels run here (`Some`), and whether the CPU has VNNI.
#[cfg(target_arch = "x86_64")]
fn x86_tiles() -> Option<bool> {
    if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
        return None;
    }
    Some(
        is_x86_feature_detected!("avxvnni")
            || (is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vnni")),
    )
}

#[cfg(not(target_arch = "x86_64"))]
fn x86_tiles() -> Option<bool> {
    None
}

/// Bytes a quantized model's weights take: quantized matrices plus dense tensors.
pub fn quantized_bytes(quantized: &crate::layers::QuantizedWeights) -> u64 {
    quantized
        .values()
        .map(|q: &Arc<QTensor>| q.storage_size_in_bytes() as u64)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_picks_the_decoder_linears_and_the_vision_ones_only_when_asked() {
        let spec = QuantizeSpec {
            kind: QuantKind::Q4K,
            vision: false,
        };
        assert!(spec.covers("model.layers.3.self_attn.q_proj.weight"));
        assert!(spec.covers("model.layers.35.mlp.down_proj.weight"));
        assert!(spec.covers("lm_head.weight"));
        assert!(!spec.covers("model.layers.3.self_attn.q_norm.weight"));
        assert!(!spec.covers("model.embed_tokens.weight"));
        assert!(!spec.covers("model.layers.3.self_attn.q_proj.bias"));
        assert!(!spec.covers("mlp_AR.linear_1.weight"));
        let vision = "visual.vision_model.encoder.layers.0.mlp.fc1.weight";
        assert!(!spec.covers(vision));
        assert!(
            QuantizeSpec {
                vision: true,
                ..spec
            }
            .covers(vision)
        );
        assert!(!QuantizeSpec::default().covers("lm_head.weight"));
    }

    #[test]
    fn rows_that_k_quant_blocks_do_not_divide_fall_back_to_q8_0_or_stay_dense() {
        let spec = QuantizeSpec {
            kind: QuantKind::Q4K,
            vision: false,
        };
        assert_eq!(spec.format_for(4096), Some(GgmlDType::Q4K));
        assert_eq!(spec.format_for(64), Some(GgmlDType::Q8_0));
        assert_eq!(spec.format_for(50), None);
        assert_eq!("q6k".parse::<QuantKind>(), Ok(QuantKind::Q6K));
        assert!("q3".parse::<QuantKind>().unwrap_err().contains("q4k"));
    }

    #[test]
    fn quantizing_in_row_blocks_equals_quantizing_at_once() {
        let device = Device::Cpu;
        let weights = Tensor::randn(0f32, 1.0, (40, 256), &device).unwrap();
        let bytes: Vec<u8> = weights
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        for format in [GgmlDType::Q8_0, GgmlDType::Q4K, GgmlDType::Q6K] {
            let whole = QTensor::quantize(&weights, format).unwrap();
            // Blocks of 7 rows: the last block is short.
            let blocks = quantize_rows((40, 256), 7, format, &device, |row, n| {
                Ok(weights.narrow(0, row, n)?)
            })
            .unwrap();
            assert_eq!(whole.data().unwrap(), blocks.data().unwrap(), "{format:?}");
            let from_bytes =
                quantize_matrix(&bytes, DType::F32, (40, 256), format, &device).unwrap();
            assert_eq!(whole.data().unwrap(), from_bytes.data().unwrap());
            let from_tensor = quantize_tensor(&weights, format, &device).unwrap();
            assert_eq!(whole.data().unwrap(), from_tensor.data().unwrap());
        }
    }
}

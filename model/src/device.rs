//! Where a model runs and in which precision: the `--device` and `--dtype` choices of the CLI and
//! the GUI, resolved against what this build and machine have, and the memory the machine has
//! free (to pick defaults and to refuse what will not fit before trying).

use std::{fmt, str::FromStr};

use candle_core::{DType, Device};

use crate::error::{Error, Result};

/// `--device`: `auto`, `cpu`, `cuda`, `cuda:N` or `metal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// CUDA when built with the `cuda` feature and a GPU is present, Metal likewise, else CPU.
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
    Metal,
}

impl FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            "metal" => Ok(Self::Metal),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| {
                    format!("unknown device {other:?}: use auto, cpu, cuda, cuda:N or metal")
                }),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => write!(f, "auto"),
            Self::Cpu => write!(f, "cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
            Self::Metal => write!(f, "metal"),
        }
    }
}

/// `--dtype`: `auto`, `f32`, `bf16` or `f16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DTypeChoice {
    /// bf16 on a GPU; on a CPU f32 when the f32 weights fit in free memory, else bf16.
    #[default]
    Auto,
    F32,
    Bf16,
    F16,
}

impl FromStr for DTypeChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "f32" => Ok(Self::F32),
            "bf16" => Ok(Self::Bf16),
            "f16" => Ok(Self::F16),
            other => Err(format!(
                "unknown dtype {other:?}: use auto, f32, bf16 or f16"
            )),
        }
    }
}

impl fmt::Display for DTypeChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
            Self::F16 => "f16",
        })
    }
}

/// The device a choice names, failing with a message that says how to get it when this build or
/// machine has none.
pub fn resolve_device(choice: DeviceChoice) -> Result<Device> {
    let unavailable = |what: &str, why: String| Error::Device(format!("{what}: {why}"));
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda(n) => {
            if !candle_core::utils::cuda_is_available() {
                return Err(unavailable(
                    "cuda",
                    "this build has no CUDA support (rebuild with `--features cuda`)".into(),
                ));
            }
            Device::new_cuda(n).map_err(|e| unavailable(&format!("cuda:{n}"), e.to_string()))
        }
        DeviceChoice::Metal => {
            if !candle_core::utils::metal_is_available() {
                return Err(unavailable(
                    "metal",
                    "this build has no Metal support (rebuild with `--features metal`)".into(),
                ));
            }
            Device::new_metal(0).map_err(|e| unavailable("metal", e.to_string()))
        }
        DeviceChoice::Auto => {
            if candle_core::utils::cuda_is_available()
                && let Ok(device) = Device::new_cuda(0)
            {
                return Ok(device);
            }
            if candle_core::utils::metal_is_available()
                && let Ok(device) = Device::new_metal(0)
            {
                return Ok(device);
            }
            Ok(Device::Cpu)
        }
    }
}

/// The dtype a choice names on `device` for a model of `parameters` weights.
pub fn resolve_dtype(choice: DTypeChoice, device: &Device, parameters: usize) -> DType {
    match choice {
        DTypeChoice::F32 => DType::F32,
        DTypeChoice::Bf16 => DType::BF16,
        DTypeChoice::F16 => DType::F16,
        DTypeChoice::Auto if !device.is_cpu() => DType::BF16,
        DTypeChoice::Auto => {
            let f32_bytes = parameters as u64 * 4;
            // Leave a quarter of free memory for activations, the KV cache and everything else.
            match available_memory() {
                Some(free) if f32_bytes > free / 4 * 3 => DType::BF16,
                _ => DType::F32,
            }
        }
    }
}

/// Memory the system could give this process now, in bytes (Linux `MemAvailable`); `None` where
/// it cannot be read.
pub fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    meminfo.lines().find_map(|line| {
        let kib: u64 = line
            .strip_prefix("MemAvailable:")?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    })
}

/// "cpu", "cuda:0" or "metal".
pub fn device_name(device: &Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(_) => match device.location() {
            candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
            _ => "cuda".into(),
        },
        Device::Metal(_) => "metal".into(),
    }
}

/// "f32", "bf16", "f16", ...
pub fn dtype_name(dtype: DType) -> &'static str {
    dtype.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_and_print_back() {
        for text in ["auto", "cpu", "cuda:0", "cuda:3", "metal"] {
            assert_eq!(text.parse::<DeviceChoice>().unwrap().to_string(), text);
        }
        assert_eq!("cuda".parse::<DeviceChoice>(), Ok(DeviceChoice::Cuda(0)));
        assert!(
            "gpu"
                .parse::<DeviceChoice>()
                .unwrap_err()
                .contains("cuda:N")
        );
        for text in ["auto", "f32", "bf16", "f16"] {
            assert_eq!(text.parse::<DTypeChoice>().unwrap().to_string(), text);
        }
        assert!("fp8".parse::<DTypeChoice>().is_err());
    }

    #[test]
    fn auto_on_a_cpu_keeps_f32_for_small_models_and_explicit_choices_win() {
        assert_eq!(
            resolve_dtype(DTypeChoice::Auto, &Device::Cpu, 1000),
            DType::F32
        );
        assert_eq!(
            resolve_dtype(DTypeChoice::Bf16, &Device::Cpu, 1000),
            DType::BF16
        );
        // An 8B model in f32 (34.6 GB) does not fit in the memory of this kind of machine.
        if available_memory().is_some_and(|m| m < 40 << 30) {
            assert_eq!(
                resolve_dtype(DTypeChoice::Auto, &Device::Cpu, 8_640_000_000),
                DType::BF16
            );
        }
        assert!(resolve_device(DeviceChoice::Cpu).unwrap().is_cpu());
        if !candle_core::utils::cuda_is_available() {
            let message = resolve_device(DeviceChoice::Cuda(0))
                .unwrap_err()
                .to_string();
            assert!(message.contains("--features cuda"), "{message}");
        }
    }
}

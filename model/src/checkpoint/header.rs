//! A safetensors header checked entry by entry before any tensor is read, so that a damaged file
//! gets a message naming the tensor and the exact problem: a dtype or shape that disagrees with
//! the bytes its offsets span, bytes that belong to no tensor (an entry removed from the header),
//! overlapping entries, or a file cut short.

use serde_json::Value;

/// One tensor entry of the header, with its byte range inside the data section.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    start: usize,
    end: usize,
}

/// Bytes per element of a safetensors dtype name, `None` for an unknown one.
fn dtype_size(dtype: &str) -> Option<usize> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" => 1,
        "I16" | "U16" | "F16" | "BF16" => 2,
        "I32" | "U32" | "F32" => 4,
        "I64" | "U64" | "F64" => 8,
        _ => return None,
    })
}

/// Checks the header and layout of a whole safetensors file held in `bytes`. The message of an
/// error says what is wrong (the caller adds the file name).
pub(crate) fn check(bytes: &[u8]) -> Result<(), String> {
    let Some(length) = bytes.get(..8) else {
        return Err(format!(
            "the file is {} bytes, too short for a safetensors header",
            bytes.len()
        ));
    };
    let header_len = u64::from_le_bytes(length.try_into().unwrap_or_default());
    let available = bytes.len() as u64 - 8;
    if header_len > available {
        return Err(format!(
            "the header length field says {header_len} bytes but only {available} follow it \
             (truncated, or not a safetensors file)"
        ));
    }
    let data_start = 8 + header_len as usize;
    let header: Value = serde_json::from_slice(&bytes[8..data_start])
        .map_err(|e| format!("the header is not valid JSON: {e}"))?;
    let Value::Object(fields) = header else {
        return Err("the header is not a JSON object".into());
    };
    let mut entries = Vec::with_capacity(fields.len());
    for (name, info) in &fields {
        if name == "__metadata__" {
            continue;
        }
        entries.push(entry(name, info)?);
    }
    entries.sort_by_key(|e| (e.start, e.end));
    let data_len = bytes.len() - data_start;
    let mut covered = 0;
    let mut previous: Option<&Entry> = None;
    for e in &entries {
        if e.start > covered {
            return Err(match previous {
                Some(p) => format!(
                    "data bytes {covered}..{} between tensor {} and tensor {} belong to no tensor \
                     (an entry removed from the header?)",
                    e.start, p.name, e.name
                ),
                None => format!(
                    "data bytes 0..{} before tensor {} belong to no tensor (an entry removed from \
                     the header?)",
                    e.start, e.name
                ),
            });
        }
        if e.start < covered {
            let p = previous.map_or("", |p| p.name.as_str());
            return Err(format!(
                "tensor {} (data bytes {}..{}) overlaps tensor {p}, which ends at {covered}",
                e.name, e.start, e.end
            ));
        }
        if e.end > data_len {
            return Err(format!(
                "the file is truncated: tensor {} needs data bytes {}..{} but the data section \
                 has {data_len} bytes",
                e.name, e.start, e.end
            ));
        }
        covered = e.end;
        previous = Some(e);
    }
    if covered < data_len {
        let after = previous.map_or_else(
            || "the header lists no tensor".to_string(),
            |p| format!("after tensor {}", p.name),
        );
        return Err(format!(
            "{} data bytes at the end belong to no tensor ({after}; an entry removed from the \
             header?)",
            data_len - covered
        ));
    }
    Ok(())
}

/// One header entry: known dtype, integer shape, offsets whose span fits dtype and shape.
fn entry(name: &str, info: &Value) -> Result<Entry, String> {
    let field = |key: &str| {
        info.get(key)
            .ok_or_else(|| format!("tensor {name}: the header entry has no {key}"))
    };
    let dtype = field("dtype")?
        .as_str()
        .ok_or_else(|| format!("tensor {name}: dtype is not a string"))?;
    let size =
        dtype_size(dtype).ok_or_else(|| format!("tensor {name}: unknown dtype {dtype:?}"))?;
    let shape: Vec<usize> = field("shape")?
        .as_array()
        .and_then(|dims| {
            dims.iter()
                .map(|d| d.as_u64().map(|d| d as usize))
                .collect()
        })
        .ok_or_else(|| format!("tensor {name}: shape is not a list of sizes"))?;
    let offsets: Vec<usize> = field("data_offsets")?
        .as_array()
        .and_then(|o| o.iter().map(|d| d.as_u64().map(|d| d as usize)).collect())
        .filter(|o: &Vec<usize>| o.len() == 2)
        .ok_or_else(|| format!("tensor {name}: data_offsets is not a pair of byte offsets"))?;
    let (start, end) = (offsets[0], offsets[1]);
    if end < start {
        return Err(format!(
            "tensor {name}: data_offsets [{start}, {end}] end before they start"
        ));
    }
    let needed = shape
        .iter()
        .try_fold(size, |n, &d| n.checked_mul(d))
        .ok_or_else(|| format!("tensor {name}: shape {shape:?} is too large"))?;
    if end - start != needed {
        return Err(format!(
            "tensor {name}: dtype {dtype} and shape {shape:?} need {needed} bytes, but its \
             data_offsets [{start}, {end}] span {} bytes",
            end - start
        ));
    }
    Ok(Entry {
        name: name.to_string(),
        start,
        end,
    })
}

#[cfg(test)]
mod tests {
    use super::check;

    /// A safetensors file from a header JSON and a data section of `data_len` bytes.
    fn file(header: &str, data_len: usize) -> Vec<u8> {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.resize(bytes.len() + data_len, 0);
        bytes
    }

    const TWO: &str = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[3],"data_offsets":[8,20]}}"#;

    #[test]
    fn a_well_formed_file_passes() {
        assert_eq!(check(&file(TWO, 20)), Ok(()));
    }

    #[test]
    fn a_dtype_that_disagrees_with_the_offsets_names_the_tensor() {
        let header = TWO.replacen(
            r#""dtype":"F32","shape":[3]"#,
            r#""dtype":"BF16","shape":[3]"#,
            1,
        );
        let message = check(&file(&header, 20)).unwrap_err();
        assert_eq!(
            message,
            "tensor b: dtype BF16 and shape [3] need 6 bytes, but its data_offsets [8, 20] span 12 bytes"
        );
    }

    #[test]
    fn a_removed_entry_whose_data_stayed_names_both_neighbours() {
        let header = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"c":{"dtype":"F32","shape":[1],"data_offsets":[20,24]}}"#;
        let message = check(&file(header, 24)).unwrap_err();
        assert!(
            message.contains("data bytes 8..20 between tensor a and tensor c belong to no tensor"),
            "{message}"
        );
        let first_removed = r#"{"b":{"dtype":"F32","shape":[3],"data_offsets":[8,20]}}"#;
        let message = check(&file(first_removed, 20)).unwrap_err();
        assert!(
            message.contains("data bytes 0..8 before tensor b"),
            "{message}"
        );
        let last_removed = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
        let message = check(&file(last_removed, 20)).unwrap_err();
        assert!(
            message.contains("12 data bytes at the end belong to no tensor (after tensor a"),
            "{message}"
        );
    }

    #[test]
    fn a_cut_file_names_the_tensor_it_cuts() {
        let message = check(&file(TWO, 15)).unwrap_err();
        assert!(
            message.contains("truncated: tensor b needs data bytes 8..20"),
            "{message}"
        );
        let message = check(&file(TWO, 20)[..30]).unwrap_err();
        assert!(message.contains("truncated"), "{message}");
        assert!(check(&[1, 2, 3]).unwrap_err().contains("too short"));
    }

    #[test]
    fn overlapping_entries_and_bad_fields_are_named() {
        let header = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
        assert!(
            check(&file(header, 8))
                .unwrap_err()
                .contains("tensor b (data bytes 4..8) overlaps tensor a")
        );
        let header = r#"{"a":{"dtype":"Q9","shape":[2],"data_offsets":[0,8]}}"#;
        assert_eq!(
            check(&file(header, 8)).unwrap_err(),
            "tensor a: unknown dtype \"Q9\""
        );
        let header = r#"{"a":{"dtype":"F32","shape":[2]}}"#;
        assert_eq!(
            check(&file(header, 8)).unwrap_err(),
            "tensor a: the header entry has no data_offsets"
        );
    }
}

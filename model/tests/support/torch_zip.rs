//! A `pytorch_model.bin` writer without Python: what `torch.save(state_dict)` writes since
//! PyTorch 1.6, reduced to what a reader needs. The file is a zip of stored (uncompressed)
//! entries: `archive/data.pkl`, a protocol-2 pickle of an `OrderedDict` whose values are
//! `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())` with the
//! storage as a persistent id `('storage', torch.FloatStorage, key, 'cpu', numel)`,
//! `archive/data/<key>` with each storage's little-endian bytes, and `archive/version`.

use std::path::Path;

/// Element type of a stored tensor.
#[derive(Clone, Copy)]
pub enum Storage {
    Float,
    Half,
}

/// One tensor to write: name, shape and its values (converted to `Storage` on writing).
pub struct Entry<'a> {
    pub name: &'a str,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// Writes a state dict as a torch zip checkpoint.
pub fn write(path: &Path, entries: &[Entry], storage: Storage) {
    write_with_pickle(path, entries, storage, |_| {});
}

/// Writes a state dict as a torch zip checkpoint whose pickle `damage` changed first (a valid
/// zip around a pickle that is not what torch writes).
pub fn write_with_pickle(
    path: &Path,
    entries: &[Entry],
    storage: Storage,
    damage: impl FnOnce(&mut Vec<u8>),
) {
    let mut pickle = pickle(entries, storage);
    damage(&mut pickle);
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    files.push(("archive/data.pkl".into(), pickle));
    for (key, entry) in entries.iter().enumerate() {
        let bytes: Vec<u8> = match storage {
            Storage::Float => entry.values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Storage::Half => entry
                .values
                .iter()
                .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
                .collect(),
        };
        files.push((format!("archive/data/{key}"), bytes));
    }
    files.push(("archive/version".into(), b"3\n".to_vec()));
    std::fs::write(path, zip_stored(&files)).unwrap();
}

fn pickle(entries: &[Entry], storage: Storage) -> Vec<u8> {
    let mut p = vec![0x80, 2];
    let global = |p: &mut Vec<u8>, module: &str, name: &str| {
        p.push(b'c');
        p.extend_from_slice(format!("{module}\n{name}\n").as_bytes());
    };
    let unicode = |p: &mut Vec<u8>, s: &str| {
        p.push(b'X');
        p.extend_from_slice(&(s.len() as u32).to_le_bytes());
        p.extend_from_slice(s.as_bytes());
    };
    let int = |p: &mut Vec<u8>, v: usize| {
        p.push(b'J');
        p.extend_from_slice(&(v as i32).to_le_bytes());
    };
    let int_tuple = |p: &mut Vec<u8>, values: &[usize]| {
        p.push(b'(');
        for &v in values {
            p.push(b'J');
            p.extend_from_slice(&(v as i32).to_le_bytes());
        }
        p.push(b't');
    };
    let class = match storage {
        Storage::Float => "FloatStorage",
        Storage::Half => "HalfStorage",
    };
    global(&mut p, "collections", "OrderedDict");
    p.extend_from_slice(b")R(");
    for (key, entry) in entries.iter().enumerate() {
        unicode(&mut p, entry.name);
        global(&mut p, "torch._utils", "_rebuild_tensor_v2");
        p.push(b'(');
        p.push(b'(');
        unicode(&mut p, "storage");
        global(&mut p, "torch", class);
        unicode(&mut p, &key.to_string());
        unicode(&mut p, "cpu");
        int(&mut p, entry.values.len());
        p.extend_from_slice(b"tQ");
        int(&mut p, 0);
        int_tuple(&mut p, &entry.shape);
        let mut stride = vec![1; entry.shape.len()];
        for d in (0..entry.shape.len().saturating_sub(1)).rev() {
            stride[d] = stride[d + 1] * entry.shape[d + 1];
        }
        int_tuple(&mut p, &stride);
        p.push(0x89);
        global(&mut p, "collections", "OrderedDict");
        p.extend_from_slice(b")R");
        p.extend_from_slice(b"tR");
    }
    p.extend_from_slice(b"u.");
    p
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A zip archive of stored entries (no compression, no extra fields, 1980-01-01 timestamps).
fn zip_stored(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    const DATE_1980_01_01: u16 = (1 << 5) | 1;
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in files {
        let offset = out.len() as u32;
        let crc = crc32(data);
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes()); // version needed
            v.extend_from_slice(&0u16.to_le_bytes()); // flags
            v.extend_from_slice(&0u16.to_le_bytes()); // stored
            v.extend_from_slice(&0u16.to_le_bytes()); // time
            v.extend_from_slice(&DATE_1980_01_01.to_le_bytes());
            v.extend_from_slice(&crc.to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes()); // extra length
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // version made by
        common(&mut central);
        central.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
        central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let central_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // disk numbers
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // comment length
    out
}

#[test]
fn crc32_matches_the_zip_check_value() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
}

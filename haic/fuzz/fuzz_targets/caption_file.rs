//! Caption files from arbitrary bytes: loading must not panic, and a file whose structure is
//! intact must come back byte for byte.
#![no_main]

use haic::{CaptionFile, FieldNames};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    for name in ["fuzz.json", "fuzz.jsonl"] {
        let file = CaptionFile::from_bytes(name, bytes.to_vec(), &FieldNames::default());
        if let Ok(saved) = file.to_bytes(file.format(), false) {
            assert_eq!(saved, bytes);
        }
    }
});

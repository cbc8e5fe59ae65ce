//! The caption text parser on arbitrary text: it must not panic, and whatever it accepts must
//! render to text that parses again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(structure) = haic::text::parse(text) {
        let rendered = haic::text::render(&structure);
        let _ = haic::text::parse(&rendered);
    }
});

//! A `pytorch_model.bin` whose pickle makes candle's reader panic is refused with our error
//! alone: no panic message before it. Its own test binary, because the panic hook it watches is
//! the process's.

#[allow(
    dead_code,
    reason = "the writer's other uses (float16, undamaged files) are mengzi.rs's"
)]
mod support;

use std::path::PathBuf;
use std::sync::Mutex;

use keye_model::{Device, mengzi::MengziModel};
use support::torch_zip::{Entry, Storage, write_with_pickle};

/// Every panic message the hook was given.
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn case_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/mengzi-bert-tiny"
    ))
}

fn panics() -> Vec<String> {
    PANICS.lock().map(|p| p.clone()).unwrap_or_default()
}

#[test]
fn a_pickle_that_makes_the_reader_panic_is_refused_without_a_panic_message() {
    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut panics) = PANICS.lock() {
            panics.push(info.to_string());
        }
    }));
    let dir = tempfile::tempdir().unwrap();
    for file in ["config.json", "tokenizer.json", "vocab.txt"] {
        std::fs::copy(case_dir().join(file), dir.path().join(file)).unwrap();
    }
    let path = dir.path().join("pytorch_model.bin");
    let entry = Entry {
        name: "bert.embeddings.word_embeddings.weight",
        shape: vec![2, 2],
        values: vec![0.0; 4],
    };
    // The storage's persistent id loses its element count: ('storage', FloatStorage, '0',
    // 'cpu'), one item short of what candle's reader takes out of it.
    write_with_pickle(&path, &[entry], Storage::Float, |pickle| {
        let cpu = b"X\x03\x00\x00\x00cpuJ";
        let at = pickle
            .windows(cpu.len())
            .position(|w| w == cpu)
            .expect("the storage id")
            + cpu.len()
            - 1;
        pickle.drain(at..at + 5);
    });

    let error = match MengziModel::load(dir.path(), &Device::Cpu) {
        Ok(_) => panic!("the damaged file is refused"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains(&path.display().to_string()), "{error}");
    assert!(
        error.contains("its pickle does not describe torch tensors"),
        "{error}"
    );
    assert_eq!(
        panics(),
        Vec::<String>::new(),
        "nothing said before our error"
    );

    // Other panics are still told, on this thread and on others.
    let _ = std::panic::catch_unwind(|| panic!("an ordinary panic here"));
    let _ = std::thread::spawn(|| panic!("an ordinary panic there")).join();
    let told = panics();
    assert_eq!(told.len(), 2, "{told:?}");
    assert!(told[0].contains("an ordinary panic here"), "{told:?}");
    assert!(told[1].contains("an ordinary panic there"), "{told:?}");
}

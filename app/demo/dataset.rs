//! `demo-data`: N generated videos with their ground truth, on disk.
//!
//! - `NNNN.mp4`: the videos (H.264, several sizes, aspect ratios and frame rates);
//! - `questions.jsonl`: one question a line with its answer, kind, the actors the answer names
//!   and, per frame index, their boxes in pixels;
//! - `captions.jsonl`: the HAIC caption of every video (people by attributes, timed events);
//! - `qa.jsonl`: HAICBench-style four-option questions (question, options, answer letter,
//!   category).

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use serde_json::{Value, json};

use super::{
    encode::write_video,
    questions::{Question, all_questions, four_options, structure},
    world::{Scene, WorldSpec},
};

/// The seed of video `index` of a data set made with `seed`.
pub fn video_seed(seed: u64, index: usize) -> u64 {
    let mut h = seed ^ 0x5DEE_CE66_D1CE_4E5B;
    h = h.wrapping_add((index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    h ^= h >> 31;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^ (h >> 29)
}

/// The scenes of a data set: the same for `demo-data`, evaluation and tests.
pub fn scenes(seed: u64, count: usize) -> Vec<Scene> {
    (0..count)
        .map(|i| Scene::generate(video_seed(seed, i), &WorldSpec::full()))
        .collect()
}

/// File name of video `index`.
pub fn video_name(index: usize) -> String {
    format!("{index:04}.mp4")
}

/// Why writing the data set failed, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Encode(#[from] super::encode::EncodeError),
}

/// The `questions.jsonl` record of `question` about video `name`.
pub fn question_record(scene: &Scene, name: &str, question: &Question) -> Value {
    let boxes: serde_json::Map<String, Value> = question
        .named
        .iter()
        .map(|&i| {
            let per_frame: Vec<Value> = (0..scene.frames)
                .map(|f| scene.box_at_frame(i, f).map_or(Value::Null, |b| json!(b)))
                .collect();
            (scene.actors[i].id.clone(), Value::Array(per_frame))
        })
        .collect();
    json!({
        "video": name,
        "question": question.question,
        "answer": question.answer,
        "kind": question.kind,
        "named": question.named.iter().map(|&i| scene.actors[i].id.clone()).collect::<Vec<_>>(),
        "fps": scene.fps,
        "width": scene.width,
        "height": scene.height,
        "boxes": boxes,
    })
}

/// The HAIC caption record of a scene.
pub fn caption_record(scene: &Scene, name: &str) -> Value {
    let structure = structure(scene);
    json!({
        "video": name,
        "duration": scene.duration(),
        "people": structure.people,
        "events": structure.events,
        "caption": haic::text::render(&structure),
    })
}

/// Writes `count` videos and their files into `out`; `progress(done, total)` after each video.
pub fn write_dataset(
    seed: u64,
    count: usize,
    out: &Path,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(), DatasetError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DatasetError::Io { path, source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let mut questions = Vec::new();
    let mut captions = Vec::new();
    let mut qa = Vec::new();
    let mut rng = fastrand::Rng::with_seed(seed);
    for (index, scene) in scenes(seed, count).iter().enumerate() {
        progress(index, count);
        let name = video_name(index);
        write_video(scene, &out.join(&name))?;
        let asked = all_questions(scene);
        for question in &asked {
            writeln_json(&mut questions, &question_record(scene, &name, question));
        }
        writeln_json(&mut captions, &caption_record(scene, &name));
        for (k, question) in asked.iter().enumerate() {
            if let Some((options, answer, category)) = four_options(question, &mut rng) {
                writeln_json(
                    &mut qa,
                    &json!({
                        "id": format!("{index:04}-{k}"),
                        "video": name,
                        "question": question.question,
                        "options": options,
                        "answer": answer.to_string(),
                        "category": category,
                    }),
                );
            }
        }
    }
    progress(count, count);
    for (file, bytes) in [
        ("questions.jsonl", questions),
        ("captions.jsonl", captions),
        ("qa.jsonl", qa),
    ] {
        let path = out.join(file);
        let mut handle = std::fs::File::create(&path).map_err(io(&path))?;
        handle.write_all(&bytes).map_err(io(&path))?;
    }
    Ok(())
}

fn writeln_json(buffer: &mut Vec<u8>, value: &Value) {
    buffer.extend(value.to_string().into_bytes());
    buffer.push(b'\n');
}

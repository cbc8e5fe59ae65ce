//! Asking a model for a HAIC caption of a video and reading its answer: the one prompt and the one
//! parser behind the editor's "Draft with model" and `keye-studio caption`.

use haic::Structure;

/// A HAIC caption of a short clip is a few hundred tokens; this bounds a draft that runs on.
pub const DRAFT_MAX_NEW_TOKENS: usize = 768;

/// The question that asks a model for a HAIC caption of the video, showing the form by example
/// (rendered by `haic`, so the answer parses with the same crate).
pub fn draft_prompt() -> String {
    let example = haic::text::render(&Structure {
        people: vec![
            haic::Person::new(
                "P1",
                "the young woman with a high black ponytail in a white crop top",
            ),
            haic::Person::new("P2", "the old man in a grey suit"),
        ],
        events: vec![
            haic::Event::new(&["P1"], "walks toward").with(&["P2"]),
            haic::Event::new(&["P2"], "nods"),
        ],
    });
    format!(
        "Describe the people in this video and what they do. First say how many people there are \
         and describe each one by what can be seen (gender, age, hair, clothing, accessories), \
         never by a name. Then tell each action and interaction in the order it happens, naming \
         each person by that description. Describe only what is visible. Answer in exactly this \
         form and nothing else:\n\n{example}"
    )
}

/// Reads a model's answer as a HAIC caption: reasoning (`<think>…</think>`), code fences and any
/// preamble before "There is/are …" are dropped, then haic's text parser reads the rest.
pub fn parse_draft_answer(answer: &str) -> Result<Structure, String> {
    let mut text = answer;
    if let Some(end) = text.rfind("</think>") {
        text = &text[end + "</think>".len()..];
    }
    let text = text.replace("```text", "").replace("```", "");
    let start = ["There are", "There is", "there are", "there is"]
        .iter()
        .filter_map(|opening| text.find(opening))
        .min()
        .ok_or_else(|| {
            "the model's answer is not a HAIC caption (it does not start with \"There is/are ... people\")".to_owned()
        })?;
    haic::text::parse(text[start..].trim())
        .map_err(|error| format!("the model's answer is not a HAIC caption: {error}"))
}

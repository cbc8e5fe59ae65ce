//! Exports: timed events as WebVTT or SubRip subtitles, questions as CSV.

use crate::{
    error::Error,
    file::CaptionFile,
    model::{CaptionRecord, Record},
    text,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubtitleFormat {
    Vtt,
    Srt,
}

/// Subtitles of one caption: a cue per event that has both start and end, reading
/// "The young woman in red waves to the old man." Returns the text and how many events were left
/// out for lack of times.
pub fn subtitles(caption: &CaptionRecord, format: SubtitleFormat) -> (String, usize) {
    let mut out = String::new();
    if format == SubtitleFormat::Vtt {
        out.push_str("WEBVTT\n\n");
    }
    let Some(structure) = caption.structure() else {
        return (out, 0);
    };
    let mut skipped = 0;
    let mut cue = 0;
    for event in &structure.events {
        let (Some(start), Some(end)) = (event.start, event.end) else {
            skipped += 1;
            continue;
        };
        cue += 1;
        if format == SubtitleFormat::Srt {
            out.push_str(&format!("{cue}\n"));
        }
        out.push_str(&format!(
            "{} --> {}\n{}.\n\n",
            timestamp(start, format),
            timestamp(end, format),
            text::event_sentence(structure, event)
        ));
    }
    (out, skipped)
}

/// `HH:MM:SS.mmm` (VTT) or `HH:MM:SS,mmm` (SRT); negative times clamp to zero.
fn timestamp(seconds: f64, format: SubtitleFormat) -> String {
    let millis = (seconds.max(0.0) * 1000.0).round() as u64;
    let separator = match format {
        SubtitleFormat::Vtt => '.',
        SubtitleFormat::Srt => ',',
    };
    format!(
        "{:02}:{:02}:{:02}{separator}{:03}",
        millis / 3_600_000,
        millis / 60_000 % 60,
        millis / 1000 % 60,
        millis % 1000
    )
}

/// The file's questions as CSV: record, video, question, A-D, answer, category (options past the
/// fourth, which validation reports, go to `more_options` joined by " | ").
pub fn qa_csv(file: &CaptionFile) -> Result<String, Error> {
    let csv_error = |source| Error::Csv {
        path: file.path().into(),
        error: source,
    };
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record([
            "record",
            "video",
            "question",
            "A",
            "B",
            "C",
            "D",
            "answer",
            "category",
            "more_options",
        ])
        .map_err(csv_error)?;
    for (index, record) in file.records() {
        let Record::Qa(qa) = record else { continue };
        let option = |at: usize| qa.options.get(at).map_or("", String::as_str);
        let more = qa.options.get(4..).unwrap_or_default().join(" | ");
        writer
            .write_record([
                index.to_string().as_str(),
                qa.video.as_deref().unwrap_or_default(),
                &qa.question,
                option(0),
                option(1),
                option(2),
                option(3),
                &qa.answer,
                &qa.category,
                &more,
            ])
            .map_err(csv_error)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|error| csv_error(error.into_error().into()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_carry_hours_minutes_and_milliseconds() {
        assert_eq!(timestamp(3725.0625, SubtitleFormat::Vtt), "01:02:05.063");
        assert_eq!(timestamp(1.5, SubtitleFormat::Srt), "00:00:01,500");
        assert_eq!(timestamp(-2.0, SubtitleFormat::Srt), "00:00:00,000");
    }
}

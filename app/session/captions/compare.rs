//! Another annotator's caption file opened beside the one being edited: loaded on its own thread,
//! matched to the record being edited by video, and compared with it (`haic::agree`), so the
//! editor can list the differences and the timeline can draw the other file's events.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crossbeam_channel::Receiver;
use haic::{
    CaptionFile, Document, FieldNames, Record,
    agree::{AgreeOptions, Agreement, agree_captions},
};
use keye_ui::CaptionSegment;

use super::timed_segments;

/// The other file of a comparison.
pub struct CompareFile {
    path: PathBuf,
    /// The file name, as the editor shows it.
    name: String,
    file: CaptionFile,
    /// The first caption record of each video, as `captions agree` matches them.
    by_video: HashMap<String, usize>,
    /// (record, document version) the last comparison was made for, and what it gave.
    cached: Option<((usize, u64), Option<RecordComparison>)>,
}

/// The record being edited against its counterpart in the other file.
#[derive(Clone, Debug)]
pub struct RecordComparison {
    /// The record compared (in the file being edited).
    pub record: usize,
    /// Its counterpart in the other file.
    pub other_record: usize,
    pub agreement: Agreement,
    /// The other record's timed events, for the timeline.
    pub segments: Vec<CaptionSegment>,
}

impl CompareFile {
    /// Reads the other file; records that cannot be read are left out of the comparison, and a
    /// file with no caption record is refused.
    pub fn load(path: &Path, fields: &FieldNames) -> Result<CompareFile, String> {
        let file = CaptionFile::load(path, fields).map_err(|error| error.to_string())?;
        let mut by_video = HashMap::new();
        for (index, record) in file.records() {
            if let Record::Caption(caption) = record
                && let Some(video) = &caption.video
            {
                by_video.entry(video.clone()).or_insert(index);
            }
        }
        if by_video.is_empty() {
            return Err(format!(
                "{}: no caption record names a video, so there is nothing to compare by",
                path.display()
            ));
        }
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        );
        Ok(CompareFile {
            path: path.to_path_buf(),
            name,
            file,
            by_video,
            cached: None,
        })
    }

    /// Loads on a worker thread; the answer comes through the receiver.
    pub fn load_in_background(
        path: PathBuf,
        fields: FieldNames,
        repaint: impl Fn() + Send + 'static,
    ) -> Result<Receiver<Result<CompareFile, String>>, String> {
        let (sender, receiver) = crossbeam_channel::bounded(1);
        std::thread::Builder::new()
            .name("caption-compare".into())
            .spawn(move || {
                let _ = sender.send(CompareFile::load(&path, &fields));
                repaint();
            })
            .map_err(|error| format!("cannot start reading the file to compare with: {error}"))?;
        Ok(receiver)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file name, as the editor shows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Compares `record` of `document` with the other file's record of the same video, unless
    /// the last comparison was of this record at this version of the document.
    pub fn refresh(&mut self, document: &Document, record: usize) {
        let key = (record, document.version());
        if self
            .cached
            .as_ref()
            .is_none_or(|(cached, _)| *cached != key)
        {
            let comparison = self.make(document, record);
            self.cached = Some((key, comparison));
        }
    }

    /// The last comparison made by [`refresh`](Self::refresh) (`None` when the other file has no
    /// caption of that record's video).
    pub fn current(&self) -> Option<&RecordComparison> {
        self.cached
            .as_ref()
            .and_then(|(_, comparison)| comparison.as_ref())
    }

    fn make(&self, document: &Document, record: usize) -> Option<RecordComparison> {
        let caption = document.file().caption(record).ok()?;
        let video = caption.video.as_deref()?;
        let other_record = *self.by_video.get(video)?;
        let other = self.file.caption(other_record).ok()?;
        let agreement = agree_captions(
            video,
            (record, caption),
            (other_record, other),
            &AgreeOptions::default(),
        );
        Some(RecordComparison {
            record,
            other_record,
            agreement,
            segments: other.structure().map(timed_segments).unwrap_or_default(),
        })
    }
}

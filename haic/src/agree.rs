//! Agreement between two annotators' caption files of the same videos.
//!
//! Records are matched by video, people by the similarity of their attribute phrases, events by
//! time overlap (or, for untimed events, by action text) among the matched people. The figures are
//! the ones annotation teams report: temporal IoU of matched events, Cohen's kappa on event presence
//! per time bin, the share of events the other file lacks, and the text similarity of matched
//! actions.

use std::collections::HashMap;

use serde::Serialize;

use crate::{CaptionFile, CaptionRecord, Event, Record, Structure};

/// Knobs of the matching; the defaults are what `captions agree` uses.
#[derive(Clone, Copy, Debug)]
pub struct AgreeOptions {
    /// Width of the time bins kappa is computed over, in seconds.
    pub bin_seconds: f64,
    /// Attribute phrases less similar than this are different people.
    pub min_person_similarity: f64,
    /// Untimed events whose actions are less similar than this are different events.
    pub min_action_similarity: f64,
}

impl Default for AgreeOptions {
    fn default() -> Self {
        AgreeOptions {
            bin_seconds: 0.5,
            min_person_similarity: 0.3,
            min_action_similarity: 0.5,
        }
    }
}

/// Where an event sits: the video, its record's index in its own file, its index in the record.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventRef {
    pub video: String,
    pub record: usize,
    pub event: usize,
    pub action: String,
    pub start: Option<f64>,
    pub end: Option<f64>,
}

/// Two events taken to describe the same action.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventPair {
    pub a: EventRef,
    pub b: EventRef,
    /// Intersection over union of the two time spans; `None` when either is untimed.
    pub iou: Option<f64>,
    pub action_similarity: f64,
}

/// The result of comparing two caption files.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Agreement {
    pub records_matched: usize,
    /// Videos captioned in only one of the files.
    pub videos_only_a: Vec<String>,
    pub videos_only_b: Vec<String>,
    pub people_matched: usize,
    pub people_unmatched: usize,
    pub events_a: usize,
    pub events_b: usize,
    pub matched: Vec<EventPair>,
    pub unmatched_a: Vec<EventRef>,
    pub unmatched_b: Vec<EventRef>,
    /// Mean IoU over matched pairs that are both timed.
    pub mean_iou: Option<f64>,
    /// Cohen's kappa on "this person does something in this bin", over all bins of all records.
    pub kappa: Option<f64>,
    pub bins: usize,
    pub mean_action_similarity: Option<f64>,
}

impl Agreement {
    /// Share of all events (both files) that found no partner.
    pub fn unmatched_share(&self) -> Option<f64> {
        let total = self.events_a + self.events_b;
        (total > 0).then(|| (self.unmatched_a.len() + self.unmatched_b.len()) as f64 / total as f64)
    }
}

/// Compare the caption records of two files. Records without a video name, QA records and free-text
/// captions (no structure) are compared only as far as they can be: free text counts its record as
/// matched with no people or events.
pub fn agree(a: &CaptionFile, b: &CaptionFile, options: &AgreeOptions) -> Agreement {
    let captions_a = captions_by_video(a);
    let captions_b = captions_by_video(b);
    let mut agreement = Agreement::default();
    let mut kappa = KappaCounts::default();
    for (video, (index_a, caption_a)) in &captions_a {
        let Some((index_b, caption_b)) = captions_b.get(video) else {
            agreement.videos_only_a.push(video.clone());
            continue;
        };
        compare_pair(
            video,
            (*index_a, caption_a),
            (*index_b, caption_b),
            options,
            &mut agreement,
            &mut kappa,
        );
    }
    agreement.videos_only_b = captions_b
        .keys()
        .filter(|video| !captions_a.contains_key(*video))
        .cloned()
        .collect();
    agreement.videos_only_a.sort();
    agreement.videos_only_b.sort();
    finish(&mut agreement, &kappa);
    agreement
}

/// Compare two captions of the same video (record `index_a` of one file, `index_b` of the
/// other): what the editor shows for the record being edited.
pub fn agree_captions(
    video: &str,
    (index_a, a): (usize, &CaptionRecord),
    (index_b, b): (usize, &CaptionRecord),
    options: &AgreeOptions,
) -> Agreement {
    let mut agreement = Agreement::default();
    let mut kappa = KappaCounts::default();
    compare_pair(
        video,
        (index_a, a),
        (index_b, b),
        options,
        &mut agreement,
        &mut kappa,
    );
    finish(&mut agreement, &kappa);
    agreement
}

fn compare_pair(
    video: &str,
    (index_a, a): (usize, &CaptionRecord),
    (index_b, b): (usize, &CaptionRecord),
    options: &AgreeOptions,
    agreement: &mut Agreement,
    kappa: &mut KappaCounts,
) {
    agreement.records_matched += 1;
    let empty = Structure::default();
    let side_a = Side {
        video,
        record: index_a,
        structure: a.structure().unwrap_or(&empty),
    };
    let side_b = Side {
        video,
        record: index_b,
        structure: b.structure().unwrap_or(&empty),
    };
    let duration = a.duration.or(b.duration);
    compare_record(&side_a, &side_b, duration, options, agreement, kappa);
}

/// The figures over everything compared.
fn finish(agreement: &mut Agreement, kappa: &KappaCounts) {
    let ious: Vec<f64> = agreement
        .matched
        .iter()
        .filter_map(|pair| pair.iou)
        .collect();
    agreement.mean_iou = mean(&ious);
    let similarities: Vec<f64> = agreement
        .matched
        .iter()
        .map(|pair| pair.action_similarity)
        .collect();
    agreement.mean_action_similarity = mean(&similarities);
    agreement.bins = kappa.total();
    agreement.kappa = kappa.kappa();
}

/// Similarity of two short texts in 0..=1: the Dice coefficient of their token multisets, where a
/// token is a lower-cased word in Latin script and a single character in CJK script, so that English
/// and Chinese phrases are both compared by what they say rather than by spelling.
pub fn text_similarity(a: &str, b: &str) -> f64 {
    let tokens_a = tokens(a);
    let tokens_b = tokens(b);
    if tokens_a.is_empty() && tokens_b.is_empty() {
        return 1.0;
    }
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for token in &tokens_a {
        *counts.entry(token.as_str()).or_default() += 1;
    }
    let mut shared = 0;
    for token in &tokens_b {
        if let Some(count) = counts.get_mut(token.as_str())
            && *count > 0
        {
            *count -= 1;
            shared += 1;
        }
    }
    2.0 * shared as f64 / (tokens_a.len() + tokens_b.len()) as f64
}

/// Function words that say nothing about who or what.
const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "in", "on", "of", "with", "and", "is", "are", "to", "at", "his", "her",
    "their", "wearing", "的", "了", "着", "在", "和",
];

fn tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, tokens: &mut Vec<String>| {
        if !word.is_empty() {
            let lower = word.to_lowercase();
            if !STOP_WORDS.contains(&lower.as_str()) {
                tokens.push(lower);
            }
            word.clear();
        }
    };
    for ch in text.chars() {
        if is_cjk(ch) {
            flush(&mut word, &mut tokens);
            let single = ch.to_string();
            if !STOP_WORDS.contains(&single.as_str()) {
                tokens.push(single);
            }
        } else if ch.is_alphanumeric() {
            word.push(ch);
        } else {
            flush(&mut word, &mut tokens);
        }
    }
    flush(&mut word, &mut tokens);
    tokens
}

fn is_cjk(ch: char) -> bool {
    matches!(ch as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FFFF)
}

fn captions_by_video(file: &CaptionFile) -> HashMap<String, (usize, &CaptionRecord)> {
    let mut by_video = HashMap::new();
    for (index, record) in file.records() {
        if let Record::Caption(caption) = record
            && let Some(video) = &caption.video
        {
            // The first record of a video wins, as in `eval`: later ones are duplicates.
            by_video.entry(video.clone()).or_insert((index, caption));
        }
    }
    by_video
}

struct Side<'a> {
    video: &'a str,
    record: usize,
    structure: &'a Structure,
}

impl Side<'_> {
    fn event_ref(&self, index: usize) -> EventRef {
        let event = &self.structure.events[index];
        EventRef {
            video: self.video.to_string(),
            record: self.record,
            event: index,
            action: event.action.clone(),
            start: event.start,
            end: event.end,
        }
    }
}

fn compare_record(
    a: &Side,
    b: &Side,
    duration: Option<f64>,
    options: &AgreeOptions,
    agreement: &mut Agreement,
    kappa: &mut KappaCounts,
) {
    let people = match_people(a.structure, b.structure, options);
    agreement.people_matched += people.len();
    agreement.people_unmatched +=
        a.structure.people.len() + b.structure.people.len() - 2 * people.len();
    let person_b_of: HashMap<&str, &str> = people.iter().map(|(pa, pb)| (*pa, *pb)).collect();

    let events_a = &a.structure.events;
    let events_b = &b.structure.events;
    agreement.events_a += events_a.len();
    agreement.events_b += events_b.len();
    let mut candidates = Vec::new();
    for (ia, ea) in events_a.iter().enumerate() {
        for (ib, eb) in events_b.iter().enumerate() {
            if !same_people(ea, eb, &person_b_of) {
                continue;
            }
            let similarity = text_similarity(&ea.action, &eb.action);
            let iou = temporal_iou(ea, eb);
            let plausible = match iou {
                Some(iou) => iou > 0.0,
                None => similarity >= options.min_action_similarity,
            };
            if plausible {
                // Time decides between timed events; text breaks ties and decides untimed ones.
                let score = match iou {
                    Some(iou) => iou + 1e-3 * similarity,
                    None => similarity,
                };
                candidates.push((score, ia, ib, iou, similarity));
            }
        }
    }
    candidates.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    let mut used_a = vec![false; events_a.len()];
    let mut used_b = vec![false; events_b.len()];
    for (_, ia, ib, iou, similarity) in candidates {
        if used_a[ia] || used_b[ib] {
            continue;
        }
        used_a[ia] = true;
        used_b[ib] = true;
        agreement.matched.push(EventPair {
            a: a.event_ref(ia),
            b: b.event_ref(ib),
            iou,
            action_similarity: similarity,
        });
    }
    agreement.unmatched_a.extend(
        (0..events_a.len())
            .filter(|i| !used_a[*i])
            .map(|i| a.event_ref(i)),
    );
    agreement.unmatched_b.extend(
        (0..events_b.len())
            .filter(|i| !used_b[*i])
            .map(|i| b.event_ref(i)),
    );

    count_bins(a.structure, b.structure, &people, duration, options, kappa);
}

/// Greedy matching on attribute similarity, most similar pair first: the same person is usually
/// described with mostly the same words, and greedy keeps the result easy to explain.
fn match_people<'a>(
    a: &'a Structure,
    b: &'a Structure,
    options: &AgreeOptions,
) -> Vec<(&'a str, &'a str)> {
    let mut candidates = Vec::new();
    for (ia, pa) in a.people.iter().enumerate() {
        for (ib, pb) in b.people.iter().enumerate() {
            let similarity = text_similarity(&pa.attributes, &pb.attributes);
            if similarity >= options.min_person_similarity {
                candidates.push((similarity, ia, ib));
            }
        }
    }
    candidates.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    let mut used_a = vec![false; a.people.len()];
    let mut used_b = vec![false; b.people.len()];
    let mut pairs = Vec::new();
    for (_, ia, ib) in candidates {
        if !used_a[ia] && !used_b[ib] {
            used_a[ia] = true;
            used_b[ib] = true;
            pairs.push((a.people[ia].id.as_str(), b.people[ib].id.as_str()));
        }
    }
    pairs
}

/// Events describe the same action only if some doer of one is matched to a doer of the other.
/// Events whose doers are all unmatched can still pair with each other on time and text alone.
fn same_people(ea: &Event, eb: &Event, person_b_of: &HashMap<&str, &str>) -> bool {
    let mapped: Vec<&str> = ea
        .who
        .iter()
        .filter_map(|id| person_b_of.get(id.as_str()).copied())
        .collect();
    if mapped.is_empty() {
        let b_mapped = eb
            .who
            .iter()
            .any(|id| person_b_of.values().any(|matched| matched == id));
        return !b_mapped;
    }
    eb.who.iter().any(|id| mapped.contains(&id.as_str()))
}

/// Intersection over union of two events' time spans; `None` when either lacks a start or an end.
pub fn temporal_iou(a: &Event, b: &Event) -> Option<f64> {
    let (sa, ea) = (a.start?, a.end?);
    let (sb, eb) = (b.start?, b.end?);
    let intersection = (ea.min(eb) - sa.max(sb)).max(0.0);
    let union = (ea.max(eb) - sa.min(sb)).max(0.0);
    Some(if union > 0.0 {
        intersection / union
    } else {
        1.0
    })
}

#[derive(Default)]
struct KappaCounts {
    both: usize,
    only_a: usize,
    only_b: usize,
    neither: usize,
}

impl KappaCounts {
    fn total(&self) -> usize {
        self.both + self.only_a + self.only_b + self.neither
    }

    fn kappa(&self) -> Option<f64> {
        let total = self.total() as f64;
        if total == 0.0 {
            return None;
        }
        let observed = (self.both + self.neither) as f64 / total;
        let yes_a = (self.both + self.only_a) as f64 / total;
        let yes_b = (self.both + self.only_b) as f64 / total;
        let expected = yes_a * yes_b + (1.0 - yes_a) * (1.0 - yes_b);
        if (1.0 - expected).abs() < 1e-12 {
            // Both annotators put every bin in the same class: they agree, and chance explains it.
            return (observed == 1.0).then_some(1.0);
        }
        Some((observed - expected) / (1.0 - expected))
    }
}

/// For each matched person pair and each unmatched person, and for each bin of the clip, whether
/// each annotator has that person doing something there (a bin counts when its centre is inside an
/// event). Untimed events take no part.
fn count_bins(
    a: &Structure,
    b: &Structure,
    people: &[(&str, &str)],
    duration: Option<f64>,
    options: &AgreeOptions,
    counts: &mut KappaCounts,
) {
    let last_end = a
        .events
        .iter()
        .chain(&b.events)
        .filter_map(|event| event.end)
        .fold(0.0_f64, f64::max);
    let length = duration.unwrap_or(0.0).max(last_end);
    if length <= 0.0 || options.bin_seconds <= 0.0 {
        return;
    }
    let bins = (length / options.bin_seconds).ceil() as usize;
    let active = |structure: &Structure, person: Option<&str>, centre: f64| {
        person.is_some_and(|id| {
            structure.events.iter().any(|event| {
                event.who.iter().any(|who| who == id)
                    && matches!((event.start, event.end), (Some(s), Some(e)) if s <= centre && centre < e)
            })
        })
    };
    let mut tracks: Vec<(Option<&str>, Option<&str>)> = people
        .iter()
        .map(|(pa, pb)| (Some(*pa), Some(*pb)))
        .collect();
    tracks.extend(
        a.people
            .iter()
            .filter(|p| !people.iter().any(|(pa, _)| *pa == p.id))
            .map(|p| (Some(p.id.as_str()), None)),
    );
    tracks.extend(
        b.people
            .iter()
            .filter(|p| !people.iter().any(|(_, pb)| *pb == p.id))
            .map(|p| (None, Some(p.id.as_str()))),
    );
    for (person_a, person_b) in tracks {
        for bin in 0..bins {
            let centre = (bin as f64 + 0.5) * options.bin_seconds;
            match (active(a, person_a, centre), active(b, person_b, centre)) {
                (true, true) => counts.both += 1,
                (true, false) => counts.only_a += 1,
                (false, true) => counts.only_b += 1,
                (false, false) => counts.neither += 1,
            }
        }
    }
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

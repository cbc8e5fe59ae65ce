//! Taking over a model's draft of a record, on plain data: the edits that add the people and
//! events the annotator accepted from a proposed structure to a record, mapping the draft's
//! person ids onto the record's. The caption editor shows the draft as a diff and applies these.

use std::collections::HashMap;

use crate::edit::Edit;
use crate::error::Error;
use crate::model::{CaptionRecord, Person, Structure};
use crate::text;

/// The edits that take over the `people` and `events` (indices) of a `draft` structure into
/// `caption`, checked by applying them
/// in order to a copy. Draft ids are mapped to the record's people: the same attribute phrase is
/// the same person; a new person keeps the draft id when it is free.
pub fn draft_edits(
    caption: &CaptionRecord,
    draft: &Structure,
    people: &[usize],
    events: &[usize],
) -> Result<Vec<Edit>, Error> {
    let mut edits = Vec::new();
    let mut current = caption.clone();
    let mut push = |current: &mut CaptionRecord, edit: Edit| -> Result<(), Error> {
        *current = crate::edit::apply(current, &edit)?;
        edits.push(edit);
        Ok(())
    };
    if current.structure().is_none() && current.caption.trim().is_empty() {
        // An empty record holds no structure yet: start one (no people) so pieces can be added.
        push(
            &mut current,
            Edit::SetText {
                text: text::render(&Structure::default()),
            },
        )?;
    }
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut wanted: Vec<usize> = people.to_vec();
    for &index in events {
        let event = &draft.events[index];
        for id in event.who.iter().chain(&event.with) {
            if let Some(position) = draft.people.iter().position(|p| &p.id == id)
                && !wanted.contains(&position)
            {
                wanted.push(position);
            }
        }
    }
    wanted.sort_unstable();
    for index in wanted {
        let person = &draft.people[index];
        let structure = current.structure().cloned().unwrap_or_default();
        if let Some(existing) = find_same_person(&structure, person) {
            ids.insert(person.id.clone(), existing.id.clone());
            continue;
        }
        let id = if structure.person(&person.id).is_none() {
            person.id.clone()
        } else {
            structure.next_person_id()
        };
        ids.insert(person.id.clone(), id.clone());
        let mut added = person.clone();
        added.id = id;
        push(
            &mut current,
            Edit::AddPerson {
                person: added,
                at: None,
            },
        )?;
    }
    let map = |list: &[String]| -> Vec<String> {
        list.iter()
            .map(|id| ids.get(id).cloned().unwrap_or_else(|| id.clone()))
            .collect()
    };
    for &index in events {
        let mut event = draft.events[index].clone();
        event.who = map(&event.who);
        event.with = map(&event.with);
        let at = current.structure().map_or(0, |s| s.events.len());
        push(&mut current, Edit::AddEvent { event, at })?;
    }
    Ok(edits)
}

/// The person of `structure` that `person` (of a draft) is: the same attribute phrase, case,
/// surrounding space and a final full stop aside.
pub fn find_same_person<'a>(structure: &'a Structure, person: &Person) -> Option<&'a Person> {
    let key = |phrase: &str| phrase.trim().trim_end_matches('.').to_lowercase();
    let wanted = key(&person.attributes);
    structure
        .people
        .iter()
        .find(|existing| !wanted.is_empty() && key(&existing.attributes) == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TextState;

    fn empty_record() -> CaptionRecord {
        CaptionRecord {
            video: None,
            duration: None,
            caption: String::new(),
            state: TextState::Free {
                reason: "empty".into(),
            },
            had_structure_fields: false,
            review: Default::default(),
        }
    }

    fn two_people_draft() -> Structure {
        text::parse(
            "There are two people in the video. The first person is the man in a red shirt. \
             The second person is the woman in a blue dress.\n\n\
             The man in a red shirt waves to the woman in a blue dress. The woman in a blue dress nods.",
        )
        .expect("draft text follows the format")
    }

    #[test]
    fn an_accepted_event_brings_the_people_it_names() {
        let draft = two_people_draft();
        let edits = draft_edits(&empty_record(), &draft, &[], &[0]).expect("applies");
        // Start a structure, add both people (subject and target), then the event.
        assert!(matches!(edits[0], Edit::SetText { .. }));
        let added: Vec<_> = edits
            .iter()
            .filter_map(|edit| match edit {
                Edit::AddPerson { person, .. } => Some(person.id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(added, ["P1", "P2"]);
        assert!(matches!(edits.last(), Some(Edit::AddEvent { at: 0, .. })));
    }

    #[test]
    fn draft_people_map_onto_people_already_there() {
        let draft = two_people_draft();
        let mut record = empty_record();
        let mut structure = Structure::default();
        structure
            .people
            .push(Person::new("P1", "the woman in a blue dress"));
        record.caption = text::render(&structure);
        record.state = TextState::Structured(structure);
        let edits = draft_edits(&record, &draft, &[0, 1], &[1]).expect("applies");
        // The man is new and P1 is taken: he becomes P2; the woman is the existing P1.
        let Edit::AddPerson { person, .. } = &edits[0] else {
            panic!("first edit adds the man: {edits:?}");
        };
        assert_eq!(
            (person.id.as_str(), person.attributes.as_str()),
            ("P2", "the man in a red shirt")
        );
        let Some(Edit::AddEvent { event, .. }) = edits.last() else {
            panic!("last edit adds the nod: {edits:?}");
        };
        assert_eq!(event.who, ["P1"]);
    }
}

//! Text typed into a caption field reaches the document while the annotator types, not when
//! the field loses focus: an annotator can type for minutes in one field, and a crash must not
//! take that with it.
//!
//! The field being typed in is a [`Typing`]. What it holds is sent to the document (which
//! journals it) once typing pauses for [`BURST_PAUSE`], at the latest [`MAX_UNSENT`] after the
//! first change not sent yet, and when the field loses focus or the annotator does anything
//! else (undo, save, another edit). The sends of one burst of typing are one undo step
//! ([`haic::Document::apply_typing`]); a pause or leaving the field ends the burst.
//!
//! This is state only, stepped by the time egui gives each frame, so tests drive it by stepping
//! frames.

use haic::{Command, TextField};

use super::{CaptionAction, Field};

/// A pause this long (seconds) ends a burst of typing: what was typed becomes one undo step.
pub const BURST_PAUSE: f64 = 0.5;

/// Typed text waits in the field at most this long (seconds) before it goes to the document and
/// its journal, however fast the annotator keeps typing.
pub const MAX_UNSENT: f64 = 0.8;

/// The one field the annotator is typing in (only one field has the keyboard).
#[derive(Clone, Debug)]
pub(super) struct Typing {
    pub record: usize,
    /// The editor's name for the field (outline, focus).
    pub field: Field,
    /// What the sends set in the record.
    pub target: TextField,
    /// The text edit's widget id, to ask egui whether it still has the keyboard.
    pub id: egui::Id,
    /// What the field shows.
    pub text: String,
    /// The field's value in the document as of the last send (or when typing began). The
    /// document holding something else means it changed under the field (undo, redo, another
    /// edit), and the field shows that instead.
    pub synced: String,
    /// egui time of the first change the document has not been sent.
    unsent_since: Option<f64>,
    last_change: f64,
    /// Something of this burst was sent and the burst is not closed yet.
    burst_open: bool,
}

/// What a [`Typing`] should do at a given moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Due {
    /// Nothing yet; look again at this egui time.
    Wait(f64),
    /// Send the text; the burst goes on.
    Send,
    /// Send the text and close the burst.
    End,
    /// Nothing to send and no burst open.
    Idle,
}

impl Typing {
    /// Starts following a field whose document value is `current`.
    pub fn new(
        record: usize,
        field: Field,
        target: TextField,
        id: egui::Id,
        current: &str,
    ) -> Self {
        Typing {
            record,
            field,
            target,
            id,
            text: current.to_owned(),
            synced: current.to_owned(),
            unsent_since: None,
            last_change: f64::NEG_INFINITY,
            burst_open: false,
        }
    }

    /// The field's text changed at egui time `now`.
    pub fn changed(&mut self, text: String, now: f64) {
        self.text = text;
        self.last_change = now;
        self.unsent_since.get_or_insert(now);
    }

    /// Whether something typed has not reached the document yet.
    pub fn has_unsent(&self) -> bool {
        self.unsent_since.is_some()
    }

    /// What to do at egui time `now`.
    pub fn due(&self, now: f64) -> Due {
        if self.unsent_since.is_none() && !self.burst_open {
            return Due::Idle;
        }
        let pause_ends = self.last_change + BURST_PAUSE;
        if now >= pause_ends {
            return Due::End;
        }
        match self.unsent_since {
            Some(since) if now >= since + MAX_UNSENT => Due::Send,
            Some(since) => Due::Wait(pause_ends.min(since + MAX_UNSENT)),
            None => Due::Wait(pause_ends),
        }
    }

    /// The action that sends the field's text to the document; `burst_ends` closes the burst.
    /// Returns `None` when there is nothing to send and no burst to close.
    pub fn send(&mut self, burst_ends: bool) -> Option<CaptionAction> {
        if self.unsent_since.is_none() && !self.burst_open {
            return None;
        }
        self.unsent_since = None;
        self.burst_open = !burst_ends;
        self.synced = self.target.stored(&self.text);
        Some(CaptionAction::Typing {
            command: Command {
                record: self.record,
                edit: self.target.edit(&self.text),
            },
            burst_ends,
        })
    }

    /// The document holds `value` for the field: when that is not what was last sent, it was
    /// changed by something else, and the field follows it unless the annotator has typed
    /// something not sent yet (which is sent next and wins).
    pub fn follow_document(&mut self, value: &str) {
        if value == self.synced || self.unsent_since.is_some() {
            return;
        }
        self.text = value.to_owned();
        self.synced = value.to_owned();
        self.burst_open = false;
    }
}

#[cfg(test)]
mod tests {
    use haic::Edit;

    use super::*;

    fn typing() -> Typing {
        Typing::new(
            3,
            Field::Caption,
            TextField::Caption,
            egui::Id::unique("field"),
            "old",
        )
    }

    fn sent(action: Option<CaptionAction>) -> (String, bool) {
        match action {
            Some(CaptionAction::Typing {
                command:
                    Command {
                        record: 3,
                        edit: Edit::SetText { text },
                    },
                burst_ends,
            }) => (text, burst_ends),
            other => panic!("not a send of record 3's text: {other:?}"),
        }
    }

    #[test]
    fn a_pause_ends_the_burst_and_fast_typing_is_sent_within_the_limit() {
        let mut typing = typing();
        assert_eq!(typing.due(0.0), Due::Idle);
        typing.changed("o".into(), 1.0);
        assert_eq!(typing.due(1.2), Due::Wait(1.0 + BURST_PAUSE));
        // Keys every 0.2 s never pause long enough, but the text goes out after MAX_UNSENT.
        typing.changed("ol".into(), 1.2);
        typing.changed("old".into(), 1.4);
        typing.changed("oldd".into(), 1.6);
        assert_eq!(typing.due(1.7), Due::Wait(1.0 + MAX_UNSENT));
        assert_eq!(typing.due(1.0 + MAX_UNSENT), Due::Send);
        assert_eq!(sent(typing.send(false)), ("oldd".into(), false));
        // Then the pause closes the burst even with nothing new to send.
        assert_eq!(typing.due(1.9), Due::Wait(1.6 + BURST_PAUSE));
        assert_eq!(typing.due(2.1), Due::End);
        assert_eq!(sent(typing.send(true)), ("oldd".into(), true));
        assert_eq!(typing.due(5.0), Due::Idle);
        assert!(typing.send(true).is_none(), "nothing to send twice");
    }

    #[test]
    fn the_field_follows_the_document_unless_it_has_unsent_text() {
        let mut typing = typing();
        typing.follow_document("undone");
        assert_eq!(typing.text, "undone");
        typing.changed("undone!".into(), 1.0);
        typing.follow_document("changed elsewhere");
        assert_eq!(typing.text, "undone!", "unsent typing is not thrown away");
        assert_eq!(sent(typing.send(true)), ("undone!".into(), true));
        typing.follow_document("undone!");
        assert_eq!(typing.text, "undone!");
    }

    #[test]
    fn person_details_are_compared_as_stored() {
        let mut typing = Typing::new(
            0,
            Field::PersonDetail(0, haic::PersonField::Hair),
            TextField::PersonDetail {
                id: "P1".into(),
                field: haic::PersonField::Hair,
            },
            egui::Id::unique("hair"),
            "",
        );
        typing.changed("grey ".into(), 1.0);
        typing.send(false);
        // The document stores "grey": that is what was sent, so the space typed stays.
        typing.follow_document("grey");
        assert_eq!(typing.text, "grey ");
    }
}

//! Unit tests of the editor's helpers: finding paths and open-video matching.

use super::*;

#[test]
fn finding_paths_name_fields() {
    assert_eq!(
        Field::from_path("people[1].attributes"),
        Some(Field::Person(1))
    );
    assert_eq!(Field::from_path("people[0]"), Some(Field::Person(0)));
    assert_eq!(
        Field::from_path("people[2].hair"),
        Some(Field::PersonDetail(2, PersonField::Hair))
    );
    assert_eq!(
        Field::from_path("events[2].who[0]"),
        Some(Field::Event(2, EventField::Who))
    );
    assert_eq!(
        Field::from_path("events[3].start"),
        Some(Field::Event(3, EventField::Start))
    );
    assert_eq!(
        Field::from_path("events[0]"),
        Some(Field::Event(0, EventField::Action))
    );
    assert_eq!(Field::from_path("caption"), Some(Field::Caption));
    assert_eq!(Field::from_path("options"), None);
    assert_eq!(Field::from_path("events[x].start"), None);
}

#[test]
fn open_video_matches_by_file_name() {
    assert!(is_open_video(Some("clips/0001.mp4"), Some("0001.mp4")));
    assert!(is_open_video(Some("0001.mp4"), Some("0001.mp4")));
    assert!(!is_open_video(Some("clips/0002.mp4"), Some("0001.mp4")));
    assert!(!is_open_video(None, Some("0001.mp4")));
    assert!(!is_open_video(Some("a.mp4"), None));
}

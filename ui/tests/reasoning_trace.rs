//! Streamed text lands in the right section, stays there, and sections fold away without loss.

use egui_kittest::{Harness, kittest::Queryable};
use keye_ui::{ReasoningTrace, TraceDelta, TracePhase, TraceStatus};

fn trace_harness() -> Harness<'static, ReasoningTrace> {
    Harness::new_ui_state(
        |ui, trace: &mut ReasoningTrace| trace.ui(ui),
        ReasoningTrace::new(),
    )
}

#[test]
fn streamed_deltas_arrive_in_their_sections() {
    let mut harness = trace_harness();
    harness.run();
    assert!(
        harness
            .query_by_label("waiting for the first tokens…")
            .is_some()
    );

    let stream = [
        (TracePhase::Analysis, "The question needs "),
        (TracePhase::Analysis, "counting, so think."),
        (TracePhase::Thinking, "Two people enter; "),
        (TracePhase::Thinking, "one leaves."),
        (TracePhase::Answer, "One person "),
        (TracePhase::Answer, "remains."),
    ];
    for (phase, text) in stream {
        harness.state_mut().push(TraceDelta::new(phase, text));
        harness.run();
    }
    // The live section is marked as streaming; the finished ones are not.
    assert!(harness.query_by_label("Answer …").is_some());
    harness.get_by_label("Analysis");
    harness.get_by_label("Thinking");
    harness.get_by_label("The question needs counting, so think.");
    harness.get_by_label("Two people enter; one leaves.");
    harness.get_by_label("One person remains.");

    harness.state_mut().set_status(TraceStatus::Finished);
    harness.run();
    harness.get_by_label("Answer");
    assert_eq!(
        harness.state().text(TracePhase::Answer),
        "One person remains."
    );
}

#[test]
fn collapsing_thinking_hides_it_but_keeps_it() {
    let mut harness = trace_harness();
    harness
        .state_mut()
        .push(TraceDelta::new(TracePhase::Thinking, "Counting heads."));
    harness
        .state_mut()
        .push(TraceDelta::new(TracePhase::Answer, "Three."));
    harness.state_mut().set_status(TraceStatus::Finished);
    harness.run();
    harness.get_by_label("Thinking").click();
    harness.run();
    assert!(
        harness.query_by_label("Counting heads.").is_none(),
        "folded away"
    );
    harness.get_by_label("Three.");
    harness.get_by_label("Thinking").click();
    harness.run();
    harness.get_by_label("Counting heads.");
}

#[test]
fn stopping_keeps_what_arrived() {
    let mut harness = trace_harness();
    harness
        .state_mut()
        .push(TraceDelta::new(TracePhase::Thinking, "Half a thought"));
    harness.state_mut().set_status(TraceStatus::Stopped);
    harness.run();
    harness.get_by_label("Half a thought");
    harness.get_by_label("stopped; the text above is what arrived before Stop");
}

//! `captions agree A B`: how far two annotators' caption files of the same videos agree.

use std::{path::PathBuf, process::ExitCode};

use haic::agree::{AgreeOptions, Agreement, EventRef, agree};

use super::{FieldArgs, load, report_problems};

#[derive(clap::Args)]
pub struct AgreeArgs {
    /// The first annotator's caption file.
    a: PathBuf,
    /// The second annotator's caption file (records are matched by video).
    b: PathBuf,
    /// Width of the time bins kappa counts over, in seconds.
    #[arg(long, default_value_t = 0.5)]
    bin: f64,
    /// Print one JSON report on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    fields: FieldArgs,
}

pub fn run(args: AgreeArgs) -> anyhow::Result<ExitCode> {
    if !(args.bin > 0.0 && args.bin.is_finite()) {
        anyhow::bail!(
            "--bin must be a positive number of seconds, not {}",
            args.bin
        );
    }
    let fields = args.fields.names();
    let a = load(&args.a, &fields)?;
    let b = load(&args.b, &fields)?;
    report_problems(&a, "not compared");
    report_problems(&b, "not compared");
    let options = AgreeOptions {
        bin_seconds: args.bin,
        ..AgreeOptions::default()
    };
    let agreement = agree(&a, &b, &options);
    if args.json {
        let mut report = serde_json::to_value(&agreement)?;
        report["a"] = args.a.display().to_string().into();
        report["b"] = args.b.display().to_string().into();
        report["bin_seconds"] = args.bin.into();
        report["unmatched_share"] = agreement.unmatched_share().into();
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&agreement, &args));
    }
    Ok(ExitCode::SUCCESS)
}

fn figure(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |value| format!("{value:.3}"))
}

fn render(agreement: &Agreement, args: &AgreeArgs) -> String {
    let mut out = format!("A: {}\nB: {}\n\n", args.a.display(), args.b.display());
    out += &format!(
        "records matched   {:>7}  videos captioned in both files ({} only in A, {} only in B)\n",
        agreement.records_matched,
        agreement.videos_only_a.len(),
        agreement.videos_only_b.len()
    );
    out += &format!(
        "people matched    {:>7}  by attribute wording; {} without a counterpart\n",
        agreement.people_matched, agreement.people_unmatched
    );
    out += &format!(
        "events            {:>7}  matched of {} in A and {} in B\n",
        agreement.matched.len(),
        agreement.events_a,
        agreement.events_b
    );
    out += &format!(
        "temporal IoU      {:>7}  mean overlap / union of matched timed events (1: same spans)\n",
        figure(agreement.mean_iou)
    );
    out += &format!(
        "kappa             {:>7}  Cohen's kappa on \"this person acts here\" over {} bins of {} s (1: full agreement, 0: chance)\n",
        figure(agreement.kappa),
        agreement.bins,
        args.bin
    );
    out += &format!(
        "unmatched share   {:>7}  events the other file has no counterpart for (0: none missing)\n",
        figure(agreement.unmatched_share())
    );
    out += &format!(
        "action wording    {:>7}  mean word overlap (Dice) of matched actions (1: same words)\n",
        figure(agreement.mean_action_similarity)
    );
    for (title, videos) in [
        ("Only in A", &agreement.videos_only_a),
        ("Only in B", &agreement.videos_only_b),
    ] {
        if !videos.is_empty() {
            out += &format!("\n{title}: {}\n", videos.join(", "));
        }
    }
    for (title, events) in [
        ("Events only in A", &agreement.unmatched_a),
        ("Events only in B", &agreement.unmatched_b),
    ] {
        if !events.is_empty() {
            out += &format!("\n{title}:\n");
            for event in events {
                out += &format!("  {}\n", describe(event));
            }
        }
    }
    let mut shifted: Vec<_> = agreement
        .matched
        .iter()
        .filter(|pair| pair.iou.is_some_and(|iou| iou < 0.5))
        .collect();
    shifted.sort_by(|x, y| x.iou.unwrap_or(0.0).total_cmp(&y.iou.unwrap_or(0.0)));
    if !shifted.is_empty() {
        out += "\nMatched but timed differently (IoU under 0.5):\n";
        for pair in shifted {
            out += &format!(
                "  IoU {:.2}  A {}\n            B {}\n",
                pair.iou.unwrap_or(0.0),
                describe(&pair.a),
                describe(&pair.b)
            );
        }
    }
    out
}

fn describe(event: &EventRef) -> String {
    let span = match (event.start, event.end) {
        (Some(start), Some(end)) => format!("{start:.2}-{end:.2} s"),
        _ => "untimed".to_string(),
    };
    format!(
        "{} record {} event {} [{span}]: {}",
        event.video, event.record, event.event, event.action
    )
}

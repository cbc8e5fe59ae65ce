//! `demo-data`: generated videos with ground truth (questions with boxes, HAIC captions,
//! four-option QA), and the bundled demo video.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use keye_studio::demo::{dataset::write_dataset, encode::write_video, world::Scene};

#[derive(clap::Args)]
pub struct DemoDataArgs {
    /// Seed of the data set: the same seed always gives the same videos and questions.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of videos.
    #[arg(long, default_value_t = 20)]
    pub count: usize,
    /// Folder for the videos, questions.jsonl, captions.jsonl and qa.jsonl (created if missing).
    #[arg(long, required_unless_present = "showcase")]
    pub out: Option<PathBuf>,
    /// Also (or only) write the bundled demo video's scene to this file.
    #[arg(long, value_name = "FILE")]
    pub showcase: Option<PathBuf>,
}

pub fn demo_data(args: DemoDataArgs) -> anyhow::Result<ExitCode> {
    if let Some(path) = &args.showcase {
        write_video(&Scene::showcase(), path)?;
        eprintln!("{}: the demo scene", path.display());
    }
    let Some(out) = &args.out else {
        return Ok(ExitCode::SUCCESS);
    };
    let bar = ProgressBar::new(args.count as u64);
    bar.set_style(
        ProgressStyle::with_template("videos [{bar:30}] {pos}/{len} ({eta})")
            .context("progress template")?
            .progress_chars("=> "),
    );
    write_dataset(args.seed, args.count, out, &mut |done, _| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    eprintln!(
        "{}: {} videos, questions.jsonl, captions.jsonl, qa.jsonl",
        out.display(),
        args.count
    );
    Ok(ExitCode::SUCCESS)
}

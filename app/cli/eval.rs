//! `eval`: measured quality of a model on a benchmark.

#[derive(clap::Subcommand)]
pub enum EvalCommand {
    /// Accuracy per question kind (also on videos with two or more actors) and attention hit
    /// ratio on fresh demo-world videos.
    Demo(super::demo::EvalDemoArgs),
    /// HAICBench-style four-option questions: the standard setting (video and options) or the
    /// caption setting (a judge reads a caption alone); accuracy per category.
    Haicbench(super::haicbench::HaicbenchArgs),
}

pub fn run(command: EvalCommand) -> anyhow::Result<std::process::ExitCode> {
    match command {
        EvalCommand::Demo(args) => super::demo::eval_demo(args),
        EvalCommand::Haicbench(args) => super::haicbench::haicbench(args),
    }
}

//! `serve`: a checkpoint behind an OpenAI-compatible API (`POST /v1/chat/completions`,
//! `GET /v1/models`, `GET /health`) until Ctrl-C.

use std::{
    io::IsTerminal,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    process::ExitCode,
    sync::Arc,
};

use anyhow::bail;
use keye_studio::serve::{ServeOptions, Server};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Checkpoint folder (config.json, safetensors, tokenizer.json, preprocessor_config.json).
    #[arg(long)]
    pub model: PathBuf,
    /// Address to listen on; loopback unless told otherwise (0.0.0.0 serves the network).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on (0 picks a free one; the address is printed).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Requests to /v1 need `Authorization: Bearer KEY`.
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
    /// A folder whose files requests may name by path or file:// URL (repeatable); without
    /// one, media come only as data: URLs.
    #[arg(long, value_name = "DIR")]
    pub media_root: Vec<PathBuf>,
    /// The model name clients use (default: the checkpoint folder's name).
    #[arg(long, value_name = "NAME")]
    pub served_model_name: Option<String>,
    /// Requests that may wait while one is answered; more are refused with 429.
    #[arg(long, default_value_t = 16)]
    pub queue: usize,
    /// The largest request body in MiB (media travel inside as data: URLs).
    #[arg(long, default_value_t = 512)]
    pub max_request_mib: usize,
    #[command(flatten)]
    pub placement: super::PlacementArgs,
    #[command(flatten)]
    pub budget: super::BudgetArgs,
}

pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    if args.queue == 0 {
        bail!("--queue must be at least 1");
    }
    let served_model = match &args.served_model_name {
        Some(name) => name.clone(),
        None => args
            .model
            .canonicalize()
            .ok()
            .and_then(|dir| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| args.model.display().to_string()),
    };
    let model = Arc::new(super::ask::load(
        &args.model,
        args.placement,
        std::io::stderr().is_terminal(),
    )?);
    let runtime = &model.runtime;
    let described = format!(
        "{} ({}, {} on {})",
        runtime.dir.display(),
        runtime.model_kind(),
        runtime.dtype().as_str(),
        keye_model::device::device_name(runtime.model.device())
    );
    let options = ServeOptions {
        api_key: args.api_key.clone(),
        media_roots: args.media_root.clone(),
        queue: args.queue,
        max_request_bytes: args.max_request_mib.saturating_mul(1 << 20),
        budget: Some(args.budget.budget(model.default_budget())),
        ..ServeOptions::new(served_model.clone())
    };
    let server = Server::start(model, SocketAddr::new(args.host, args.port), options)?;
    let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
    ctrlc::set_handler(move || {
        let _ = stop.try_send(());
    })?;
    eprintln!(
        "serving {described} as {served_model:?}; queue {}{}; Ctrl-C stops",
        args.queue,
        if args.api_key.is_some() {
            "; API key required"
        } else {
            ""
        },
    );
    if !args.host.is_loopback() && args.api_key.is_none() {
        eprintln!(
            "warning: serving {} without --api-key: anyone who can reach it may use the model",
            args.host
        );
    }
    // On stdout alone, so scripts (and tests) can read the port that was picked.
    println!("listening on http://{}", server.local_addr());
    let _ = stopped.recv();
    drop(server);
    eprintln!("stopped");
    Ok(ExitCode::SUCCESS)
}

//! `crefl serve`: the loop as an HTTP sidecar.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use creative_feedback_server::{router, Service, ServiceConfig};

use crate::common::load;
use crate::LoopArgs;

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: LoopArgs,
    /// Address to listen on; port 0 picks a free port. The address bound is printed first on
    /// standard output: `listening on http://127.0.0.1:PORT`.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Bearer token required by the mutating endpoints (or the CREFL_TOKEN environment
    /// variable). Required to bind anything but a loopback address.
    #[arg(long, env = "CREFL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Keep the loop's snapshot and the exploration history here, and resume from them.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Write the snapshot every this many steps (and at shutdown).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub snapshot_every: u64,
    /// Metrics snapshots go to the stream every this many steps.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval_steps: u64,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = 65_536)]
    pub body_limit: usize,
    /// Longest a request may take, in milliseconds.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_ms: u64,
    /// Gradual rollout of the enhanced behaviour to this percentage of users (changeable with
    /// `PUT /v1/rollout`).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub rollout_percent: Option<u32>,
    /// Group id of the rollout.
    #[arg(long, default_value = "creative-enhancements")]
    pub rollout_group: String,
    /// Run an A/B experiment (control: constant profile, treatment: adaptive); see /v1/report.
    #[arg(long, conflicts_with = "rollout_percent")]
    pub ab: bool,
    /// Group id of the experiment.
    #[arg(long, default_value = "creative-profiles-ab")]
    pub ab_group: String,
    /// Log transitions to standard error as JSON lines.
    #[arg(long)]
    pub log_events: bool,
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

pub fn run(args: &ServeArgs) -> Result<ExitCode> {
    if !args.bind.ip().is_loopback() && args.token.is_none() {
        bail!(
            "refusing to listen on {} without a token: anyone who can reach it could drive the loop. \
             Give --token (or CREFL_TOKEN), or bind 127.0.0.1",
            args.bind
        );
    }
    if args.log_events {
        tracing_subscriber::fmt()
            .json()
            .with_writer(std::io::stderr)
            .init();
    }
    let (config, model) = load(&args.common)?;
    let mut settings = ServiceConfig::new(config);
    settings.model = model;
    settings.state_dir.clone_from(&args.state_dir);
    settings.snapshot_every = args.snapshot_every;
    settings.token.clone_from(&args.token);
    settings.body_limit = args.body_limit;
    settings.request_timeout = Duration::from_millis(args.timeout_ms);
    settings.interval_steps = args.interval_steps;
    settings.rollout = args
        .rollout_percent
        .map(|p| (args.rollout_group.clone(), p));
    settings.experiment = args.ab.then(|| args.ab_group.clone());
    settings.log_events = args.log_events;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let service = Service::start(settings)?;
        if let Some(steps) = service.restored_steps() {
            eprintln!("restored the snapshot taken at step {steps}");
        }
        if let Some(h) = service.history_at_start() {
            if h.torn_last_line {
                eprintln!("warning: the last line of the history file was torn by an interrupted write; it is skipped");
            }
        }
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .with_context(|| format!("cannot listen on {}", args.bind))?;
        let addr = listener.local_addr()?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
        drop(out);
        axum::serve(listener, router(service.clone()))
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("the server failed")?;
        service.shutdown(Duration::from_secs(5)).await;
        eprintln!("stopped; state saved");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

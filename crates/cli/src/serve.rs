//! `crefl serve`: the loop as an HTTP sidecar.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use creative_feedback_server::{router, serve, Saved, ServeOptions, Service, ServiceConfig};

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
    /// variable). Required to bind anything but a loopback address. Prefer --token-file: a
    /// command-line argument is visible to other users in `ps`.
    #[arg(long, env = "CREFL_TOKEN", hide_env_values = true, value_parser = non_empty_token)]
    pub token: Option<String>,
    /// Read the bearer token from this file (its first line).
    #[arg(long, value_name = "FILE", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// Keep the loop's snapshot and the exploration history here, and resume from them.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Write the snapshot every this many steps (and at shutdown).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub snapshot_every: u64,
    /// Most sessions held in memory; a new one then evicts the least recently used (saved to
    /// --state-dir first), or is refused with 503 when none can go.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub max_sessions: u64,
    /// A session not updated for this many seconds leaves memory (saved to --state-dir first,
    /// reloaded on its next update); 0 keeps idle sessions until room is needed.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub idle_ttl: u64,
    /// Ended explorations kept in memory per session (the session `default` keeps the
    /// config's `history_capacity`).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub session_history: u32,
    /// Threads serving requests (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub workers: Option<u64>,
    /// Metrics snapshots go to the stream every this many steps.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval_steps: u64,
    /// Largest request body, in bytes (at most 64 MiB).
    #[arg(long, default_value_t = 65_536, value_parser = clap::value_parser!(u64).range(1..=67_108_864))]
    pub body_limit: u64,
    /// Longest a request may take, in milliseconds (at most an hour).
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
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
    /// Also log every transition (mode changes, explorations started and ended).
    #[arg(long)]
    pub log_events: bool,
    /// Format of the log on standard error: `text` or `json` (one object per line). The level
    /// comes from RUST_LOG (`error`, `warn`, `info`, `debug`, `trace` or `off`; default `info`).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Also accept requests addressed to this host name (repeatable), e.g. the name a load
    /// balancer or a container network uses; loopback names are always accepted.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub allowed_host: Vec<String>,
    /// Start a new loop even if the state folder holds snapshots none of which can be resumed
    /// from; they are moved aside (`*.json.discarded`), never deleted.
    #[arg(long)]
    pub fresh: bool,
    /// On SIGTERM or Ctrl-C, how long in-flight requests may take, in seconds, before the
    /// server closes every connection, writes the final snapshot and exits.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub shutdown_timeout: u64,
    /// Longest a client may take to send a request's headers, and longest a keep-alive
    /// connection may stay idle, in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout: u64,
    /// Connections open at once; more are answered 503 and closed.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// Learning as one fleet through Redis.
#[derive(Debug, Args)]
pub struct FleetArgs {
    /// Learn as one fleet with every sidecar on this Redis server (e.g.
    /// redis://127.0.0.1:6379/0): outcomes go to a shared stream, sessions are saved there
    /// with leases, the shared learning is checkpointed. See docs/fleet.md.
    #[arg(long, value_name = "URL", env = "CREFL_REDIS", hide_env_values = true)]
    pub redis: Option<String>,
    /// Prefix of the fleet's keys: sidecars with the same prefix form one fleet.
    #[arg(long, default_value = "crefl", requires = "redis")]
    pub fleet_prefix: String,
    /// This sidecar's name in the fleet (unique; default sidecar-PID).
    #[arg(long, value_name = "NAME", requires = "redis")]
    pub sidecar: Option<String>,
    /// How long a session's lease lasts without renewal, in milliseconds: after a sidecar
    /// dies, its sessions can be taken over this much later.
    #[arg(long, default_value_t = 15_000, value_parser = clap::value_parser!(u64).range(100..=3_600_000), requires = "redis")]
    pub lease_ms: u64,
    /// Outcomes held while Redis is unreachable; beyond, the oldest are dropped (counted).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000), requires = "redis")]
    pub fleet_buffer: u64,
    /// The outcome stream keeps about this many entries.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(100..), requires = "redis")]
    pub stream_max_len: u64,
    /// Checkpoint the shared learning every this many outcomes learned.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..), requires = "redis")]
    pub checkpoint_every: u64,
}

impl FleetArgs {
    fn config(&self) -> Option<creative_feedback_server::FleetConfig> {
        let mut cfg = creative_feedback_server::FleetConfig::new(self.redis.clone()?);
        cfg.prefix.clone_from(&self.fleet_prefix);
        if let Some(name) = &self.sidecar {
            cfg.sidecar.clone_from(name);
        }
        cfg.lease = Duration::from_millis(self.lease_ms);
        cfg.buffer = usize::try_from(self.fleet_buffer).unwrap_or(usize::MAX);
        cfg.stream_max_len = self.stream_max_len;
        cfg.checkpoint_every = self.checkpoint_every;
        Some(cfg)
    }
}

/// The soft limit on open files (Linux), so that the connection cap can stay below it: a
/// server out of descriptors cannot accept the requests that matter.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// `--max-connections`, lowered to leave room for the state folder, the listener and the
/// runtime under the open-files limit.
fn connection_cap(requested: u64) -> usize {
    const RESERVED: u64 = 64;
    let cap = match open_files_limit() {
        Some(limit) if limit <= requested + RESERVED => {
            let lowered = limit.saturating_sub(RESERVED).max(1);
            eprintln!(
                "warning: --max-connections {requested} is above what the open-files limit \
                 ({limit}) allows; using {lowered} (raise the limit with ulimit -n)"
            );
            lowered
        }
        _ => requested,
    };
    usize::try_from(cap).unwrap_or(usize::MAX)
}

/// How `serve` writes its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the log on standard error, whatever the other flags: failures (e.g. a write to the
/// state folder) are logged at ERROR and must reach the operator.
fn install_logging(format: LogFormat) -> Result<()> {
    use tracing_subscriber::filter::LevelFilter;
    let level = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => v.trim().parse::<LevelFilter>().map_err(|_| {
            anyhow::anyhow!(
                "RUST_LOG={v:?} is not a level: use error, warn, info, debug, trace or off"
            )
        })?,
        _ => LevelFilter::INFO,
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_ansi(false).init(),
    }
    Ok(())
}

/// A token must be something: an empty one would refuse every mutation forever.
fn non_empty_token(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err("the token is empty; give a non-empty token, or none to require none".to_owned())
    } else {
        Ok(s.to_owned())
    }
}

/// The token from --token, CREFL_TOKEN or --token-file.
fn token(args: &ServeArgs) -> Result<Option<String>> {
    let Some(path) = &args.token_file else {
        return Ok(args.token.clone());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the token file {}", path.display()))?;
    let first = text.lines().next().unwrap_or_default().trim();
    if first.is_empty() {
        bail!(
            "the token file {} is empty; put the token on its first line",
            path.display()
        );
    }
    Ok(Some(first.to_owned()))
}

/// Completes when the signal arrives; never, for a handler that could not be installed.
#[cfg(unix)]
async fn received(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Installs the SIGTERM and SIGINT handlers now and returns a future that completes on either.
/// Installed before the address line is printed: a signal sent as soon as the server answers
/// must not meet the default action, which kills the process without saving.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut terminate = signal(SignalKind::terminate()).ok();
        let mut interrupt = signal(SignalKind::interrupt()).ok();
        async move {
            tokio::select! {
                () = received(terminate.as_mut()) => {}
                () = received(interrupt.as_mut()) => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub fn run(args: &ServeArgs) -> Result<ExitCode> {
    let token = token(args)?;
    if !args.bind.ip().is_loopback() && token.is_none() {
        bail!(
            "refusing to listen on {} without a token: anyone who can reach it could drive the loop. \
             Give --token-file (or --token, CREFL_TOKEN), or bind 127.0.0.1",
            args.bind
        );
    }
    install_logging(args.log_format)?;
    let (config, model) = load(&args.common)?;
    let mut settings = ServiceConfig::new(config);
    settings.model = model;
    settings.state_dir.clone_from(&args.state_dir);
    settings.snapshot_every = args.snapshot_every;
    settings.token = token;
    settings.fresh = args.fresh;
    settings.allowed_hosts.clone_from(&args.allowed_host);
    let given_config = args
        .common
        .config
        .is_some()
        .then(|| settings.config.clone());
    settings.body_limit = usize::try_from(args.body_limit).unwrap_or(usize::MAX);
    settings.request_timeout = Duration::from_millis(args.timeout_ms);
    settings.interval_steps = args.interval_steps;
    settings.rollout = args
        .rollout_percent
        .map(|p| (args.rollout_group.clone(), p));
    settings.experiment = args.ab.then(|| args.ab_group.clone());
    settings.log_events = args.log_events;
    settings.max_sessions = usize::try_from(args.max_sessions).unwrap_or(usize::MAX);
    settings.idle_ttl = (args.idle_ttl > 0).then(|| Duration::from_secs(args.idle_ttl));
    settings.session_history = args.session_history;

    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = args.workers {
        runtime.worker_threads(usize::try_from(workers).unwrap_or(1));
    }
    let runtime = runtime
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let saved = runtime.block_on(async move {
        if let Some(cfg) = args.fleet.config() {
            let fleet = creative_feedback_server::Fleet::connect(cfg).await?;
            eprintln!(
                "fleet: sidecar {} on {} (prefix {})",
                fleet.config().sidecar,
                redacted(&fleet.config().url),
                fleet.config().prefix
            );
            settings.fleet = Some(fleet);
        }
        let service = Service::start(settings)?;
        report_start(&service);
        if let Some(given) = &given_config {
            if service.restored_steps().is_some() && &service.loop_config() != given {
                eprintln!(
                    "warning: --config differs from the restored snapshot's configuration; the \
                     snapshot's wins (start with a new --state-dir to use the new configuration)"
                );
            }
        }
        let signal = shutdown_signal();
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .with_context(|| format!("cannot listen on {}", args.bind))?;
        let addr = listener.local_addr()?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
        drop(out);
        let options = ServeOptions {
            header_read_timeout: Duration::from_secs(args.header_timeout),
            max_connections: connection_cap(args.max_connections),
            shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
        };
        let served = serve(listener, router(service.clone()), options, signal)
            .await
            .context("the server failed")?;
        if served.cut_off > 0 {
            eprintln!(
                "warning: {} connections still open {}s after the signal were cut off",
                served.cut_off, args.shutdown_timeout
            );
        }
        Ok::<_, anyhow::Error>(service.shutdown(Duration::from_secs(5)).await)
    })?;
    match saved {
        Saved::Saved { steps } => {
            eprintln!("stopped; state saved at step {steps}");
            Ok(ExitCode::SUCCESS)
        }
        Saved::NoStateDir => {
            eprintln!("stopped (no --state-dir: nothing was kept)");
            Ok(ExitCode::SUCCESS)
        }
        Saved::Failed(why) => {
            eprintln!("error: stopped, but the final snapshot was NOT saved: {why}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// A Redis URL without its password, to print.
fn redacted(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://***@{host}"),
        _ => url.to_owned(),
    }
}

/// Says what start-up found in the state folder.
fn report_start(service: &Service) {
    let start = service.start_report();
    for (path, why) in &start.passed_over {
        eprintln!("warning: passed over {}: {why}", path.display());
    }
    for path in &start.discarded {
        eprintln!("--fresh: moved {} aside", path.display());
    }
    if let (Some(path), Some(steps)) = (&start.from, service.restored_steps()) {
        eprintln!(
            "restored the snapshot taken at step {steps} from {}",
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_stays_below_the_open_files_limit() {
        let Some(limit) = open_files_limit() else {
            return; // not Linux: no /proc to read the limit from
        };
        let cap = connection_cap(u64::MAX / 2) as u64;
        assert!(cap < limit, "{cap} vs {limit}");
        assert_eq!(connection_cap(1), 1);
    }
}

//! `crefl`: run the creative feedback loop from the command line.
//!
//! - `crefl simulate` runs the loop against a seeded synthetic host and prints a summary.
//! - `crefl replay` turns recorded states (JSON Lines) into decisions.
//! - `crefl pretrain` fits the quality model from past explorations.
//! - `crefl profiles` prints or draws every profile's shape.
//! - `crefl serve` runs the loop as an HTTP sidecar.
//! - `crefl rollout bucket` prints a user's sticky rollout bucket.
//! - `crefl config --print-default` prints the full default configuration.
//! - `crefl completions SHELL` and `crefl man` print a completion script and the manual page.

/// mimalloc rather than the system allocator: a sidecar holding many sessions keeps many small
/// allocations alive while each request makes and frees others, which fragments glibc's heap
/// (a fifth of the time under load went to its consolidation; see docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod common;
mod config_doc;
mod plot;
mod pretrain;
mod profiles;
mod replay;
mod rollout;
mod serve;
mod sessions_sim;
mod simulate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// The creative feedback loop: simulate, replay, pre-train, inspect.
#[derive(Debug, Parser)]
#[command(name = "crefl", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the loop against a seeded synthetic host and print what it did.
    Simulate(simulate::SimulateArgs),
    /// Turn recorded states (one JSON object per line) into decisions.
    Replay(replay::ReplayArgs),
    /// Fit the quality model from past explorations (JSON Lines) and save it.
    Pretrain(pretrain::PretrainArgs),
    /// Print or draw every registered profile's shape.
    Profiles(profiles::ProfilesArgs),
    /// Run the loop as an HTTP sidecar: JSON API, /metrics, /health/creativity, live dashboard.
    Serve(Box<serve::ServeArgs>),
    /// Sticky rollout bucketing.
    Rollout(rollout::RolloutArgs),
    /// Show the configuration.
    Config(ConfigArgs),
    /// Print a shell completion script (e.g. `crefl completions bash > /etc/bash_completion.d/crefl`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `crefl man > /usr/local/share/man/man1/crefl.1`.
    Man,
}

/// Options every loop-running command shares.
#[derive(Debug, Clone, Args)]
pub struct LoopArgs {
    /// Configuration file (TOML); see `crefl config --print-default`. Without it: the
    /// CREFL_CONFIG environment variable, else ./crefl.toml if present, else the defaults.
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// Start from a pre-trained quality model written by `crefl pretrain`.
    #[arg(long, value_name = "MODEL.json")]
    pub model: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ConfigArgs {
    /// Print the full default configuration as commented TOML.
    #[arg(long)]
    print_default: bool,
    /// Check a configuration file and print it with every default filled in.
    #[arg(long, value_name = "FILE.toml", conflicts_with = "print_default")]
    check: Option<PathBuf>,
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Simulate(args) => simulate::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Pretrain(args) => pretrain::run(&args),
        Command::Profiles(args) => profiles::run(&args),
        Command::Rollout(args) => rollout::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            use std::io::Write as _;
            // Into memory first: the generator panics on a failed write (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "crefl", &mut script);
            std::io::stdout().write_all(&script)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            use clap::CommandFactory;
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(args) => {
            if let Some(path) = args.check {
                let config = common::load_config(Some(&path))?;
                print!("{}", config_doc::commented_toml(&config)?);
            } else if args.print_default {
                print!(
                    "{}",
                    config_doc::commented_toml(&creative_feedback::Config::default())?
                );
            } else {
                // A usage error, as clap's own: exit 2.
                eprintln!("error: nothing to do: use --print-default or --check FILE.toml");
                return Ok(ExitCode::from(2));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

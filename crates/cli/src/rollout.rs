//! `crefl rollout`: sticky bucketing from the command line, and the A/B simulation.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use creative_feedback::rollout::{bucket, AbReport, Arm, ArmPolicy, Comparison, Experiment};
use creative_feedback::sim::{Host, HostConfig};
use creative_feedback::{Config, QualityModel};

use crate::common::builder_from;
use serde::Serialize;

#[derive(Debug, Args)]
pub struct RolloutArgs {
    #[command(subcommand)]
    command: RolloutCommand,
}

#[derive(Debug, Subcommand)]
enum RolloutCommand {
    /// Print a user's bucket (1–100) and, with --percent, whether the user is in the rollout.
    Bucket(BucketArgs),
}

#[derive(Debug, Args)]
struct BucketArgs {
    /// The rollout's group id.
    #[arg(long)]
    group: String,
    /// The user id (hashed as UTF-8).
    #[arg(long)]
    user: String,
    /// The rollout percentage, 0 to 100.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=100))]
    percent: Option<u32>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct BucketOut<'a> {
    group: &'a str,
    user: &'a str,
    bucket: u32,
    enabled: Option<bool>,
}

pub fn run(args: &RolloutArgs) -> Result<ExitCode> {
    let RolloutCommand::Bucket(b) = &args.command;
    let value = bucket(&b.group, &b.user);
    let enabled = b.percent.map(|p| p > 0 && value <= p);
    if b.json {
        let out = BucketOut {
            group: &b.group,
            user: &b.user,
            bucket: value,
            enabled,
        };
        println!("{}", serde_json::to_string(&out)?);
    } else {
        match (enabled, b.percent) {
            (Some(e), Some(p)) => println!(
                "bucket {value}: {} a {p}% rollout of group {}",
                if e { "inside" } else { "outside" },
                b.group
            ),
            _ => println!("bucket {value}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Simulated users take turns at the host, one session of `session_steps` each.
pub fn simulate_ab(
    config: &Config,
    model: Option<QualityModel>,
    steps: u64,
    seed: u64,
    session_steps: u64,
) -> Result<AbReport> {
    let arms = vec![
        Arm::new("control", 50, ArmPolicy::Constant),
        Arm::new("treatment", 50, ArmPolicy::Adaptive),
    ];
    let experiment = Experiment::new("crefl-simulated-ab", arms)?;
    let mut feedback = experiment
        .install(builder_from(config.clone(), model))
        .build()?;
    let mut host = Host::new(HostConfig::seeded(seed))?;
    let mut user = String::new();
    for step in 0..steps {
        if step % session_steps.max(1) == 0 {
            user = format!("sim-user-{}", step / session_steps.max(1));
        }
        let state = host.observe().with_attribute("user_id", user.as_str());
        let decision = feedback.update(&state)?;
        host.apply(&decision);
        feedback.drain_events().for_each(drop);
    }
    Ok(experiment.report())
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "—".to_owned(), |x| format!("{x:.digits$}"))
}

pub fn report_text(report: &AbReport, steps: u64, session_steps: u64) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "A/B test over {steps} simulated steps, a new user every {session_steps} steps (group {})\n",
        report.group
    );
    let _ = writeln!(
        o,
        "  {:<12}{:>8}{:>9}{:>14}{:>11}{:>11}",
        "arm", "weight", "count", "mean gain", "variance", "success"
    );
    for a in &report.arms {
        let _ = writeln!(
            o,
            "  {:<12}{:>8}{:>9}{:>14}{:>11}{:>11}",
            a.arm.name,
            a.arm.weight,
            a.stats.explorations,
            opt(a.stats.mean_gain, 4),
            opt(a.stats.variance, 4),
            a.stats
                .success_rate
                .map_or_else(|| "—".into(), |r| format!("{:.1}%", 100.0 * r))
        );
    }
    for c in &report.comparisons {
        match &c.comparison {
            Comparison::InsufficientData { reason } => {
                let _ = writeln!(
                    o,
                    "\n{} vs {}: insufficient data ({reason})",
                    c.arm, c.control
                );
            }
            Comparison::Welch {
                difference,
                ci_low,
                ci_high,
                p_value,
                degrees_of_freedom,
                ..
            } => {
                let _ = writeln!(
                    o,
                    "\n{} vs {}: mean gain difference {difference:+.4} (95% CI {ci_low:+.4} to {ci_high:+.4}), \
                     Welch's t-test p = {p_value:.4} ({degrees_of_freedom:.1} df)",
                    c.arm, c.control
                );
            }
        }
    }
    o
}

//! `crefl simulate`: the loop against the seeded synthetic host.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use creative_feedback::sim::{self, Comparison, Host, RunOptions, RunOutput, RunSummary};
use creative_feedback::{ArmStatus, SelectorKind, FEATURE_NAMES};
use indicatif::{ProgressBar, ProgressStyle};

use crate::common::{builder, load, metrics_exporter, write_atomic, write_metrics};
use crate::{plot, LoopArgs};

#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub common: LoopArgs,
    /// Steps to simulate.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000_000))]
    pub steps: u64,
    /// Seed of the simulated host (the loop's own seed comes from the config).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print the summary as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Draw a timeline of novelty, aesthetic score, entropy factor and mode bands (SVG).
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Write every completed or pruned exploration in the pre-training record format.
    #[arg(long, value_name = "FILE.jsonl")]
    pub export_history: Option<PathBuf>,
    /// The simulated host: `current` (the default), `attribute` (contexts told apart only by
    /// `attributes.domain`) or `drifting` (contexts change ten times as often).
    #[arg(long, default_value = "current", value_name = "NAME")]
    pub scenario: sim::Scenario,
    /// Run the same seeds under every policy (constant only, adaptive, learned, oracle, each
    /// with and without the quality model and gate) and compare them with the oracle.
    #[arg(long, conflicts_with_all = ["plot", "export_history", "model"])]
    pub compare: bool,
    /// With --compare, only these policies (comma-separated; their oracle is run too):
    /// constant_only, adaptive, learned, oracle, adaptive_with_model, learned_with_model,
    /// oracle_with_model.
    #[arg(
        long,
        value_delimiter = ',',
        requires = "compare",
        value_name = "POLICY,…"
    )]
    pub policies: Vec<sim::Policy>,
    /// Seeds for --compare: 1, 2, …, N.
    #[arg(long, default_value_t = 10, requires = "compare", value_parser = clap::value_parser!(u64).range(2..=10_000))]
    pub seeds: u64,
    /// Run an A/B test (control: constant profile, treatment: adaptive) over simulated users
    /// and print its report.
    #[arg(long, conflicts_with_all = ["compare", "plot", "export_history"])]
    pub ab: bool,
    /// Write the final Prometheus exposition to this file (node_exporter's textfile format).
    #[arg(long, value_name = "FILE.prom")]
    pub metrics_out: Option<PathBuf>,
    /// Run N simulated hosts as sessions sharing one model and selector, against N loops each
    /// learning alone from copies of the same hosts, and print their gain as steps go by
    /// (--steps is per session).
    #[arg(long, value_name = "N", conflicts_with_all = ["compare", "ab", "plot", "export_history", "metrics_out", "fleet"], value_parser = clap::value_parser!(u64).range(2..=10_000))]
    pub sessions: Option<u64>,
    /// Run N simulated hosts on N sidecars, each with its own learning, all learning one shared
    /// log of outcomes in its order (a fleet sharing a stream, in one process), against N
    /// loops each learning alone (--steps is per sidecar).
    #[arg(long, value_name = "N", conflicts_with_all = ["compare", "ab", "plot", "export_history", "metrics_out"], value_parser = clap::value_parser!(u64).range(2..=10_000))]
    pub fleet: Option<u64>,
    /// With --fleet: steps between a sidecar's reads of the shared log (the propagation delay).
    #[arg(long, default_value_t = 1, requires = "fleet", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub sync_every: u64,
    /// Steps each simulated user stays for, with --ab (at least 1).
    #[arg(long, default_value_t = 500, requires = "ab", value_parser = clap::value_parser!(u64).range(1..))]
    pub session_steps: u64,
}

/// A progress bar that appears only on a terminal, and only once a run has taken a second.
struct Progress {
    started: Instant,
    total: u64,
    bar: Option<ProgressBar>,
    enabled: bool,
}

impl Progress {
    fn new(total: u64) -> Self {
        Self {
            started: Instant::now(),
            total,
            bar: None,
            enabled: std::io::stderr().is_terminal(),
        }
    }

    fn tick(&mut self, done: u64) {
        if !self.enabled {
            return;
        }
        if self.bar.is_none() && self.started.elapsed() > Duration::from_secs(1) {
            let bar = ProgressBar::new(self.total);
            if let Ok(style) =
                ProgressStyle::with_template("{bar:40} {pos}/{len} steps ({eta} left)")
            {
                bar.set_style(style);
            }
            self.bar = Some(bar);
        }
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
    }

    fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

pub fn run(args: &SimulateArgs) -> Result<ExitCode> {
    if let Some(sessions) = args.sessions {
        return crate::sessions_sim::run(args, crate::sessions_sim::Together::Sessions(sessions));
    }
    if let Some(sidecars) = args.fleet {
        let together = crate::sessions_sim::Together::Fleet {
            sidecars,
            sync_every: args.sync_every,
        };
        return crate::sessions_sim::run(args, together);
    }
    if args.compare {
        return run_compare(args);
    }
    if args.ab {
        let (config, model) = load(&args.common)?;
        let report =
            crate::rollout::simulate_ab(&config, model, args.steps, args.seed, args.session_steps)?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!(
                "{}",
                crate::rollout::report_text(&report, args.steps, args.session_steps)
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut builder = builder(&args.common)?;
    if builder.config().selector.kind == SelectorKind::Learned {
        // The scenario's attribute is what a learned selector on it is meant to read.
        args.scenario
            .add_attributes(&mut builder.config_mut().selector.learned);
    }
    let mut feedback = builder.build()?;
    let mut host = Host::new(args.scenario.host(args.seed))?;
    let options = RunOptions {
        // Every step up to 200,000 points: the plot folds them into min–max columns.
        trace_every: if args.plot.is_some() {
            (args.steps / 200_000).max(1)
        } else {
            0
        },
        keep_history: args.export_history.is_some(),
    };
    let mut progress = Progress::new(args.steps);
    let started = Instant::now();
    let exporter = metrics_exporter(args.metrics_out.as_deref())?;
    let out = sim::run_with_events(
        &mut feedback,
        &mut host,
        args.steps,
        options,
        |done| progress.tick(done),
        |event| {
            if let Some(e) = &exporter {
                e.record_event(event);
            }
        },
    );
    let elapsed = started.elapsed();
    progress.finish();

    write_metrics(exporter.as_ref(), &feedback, args.metrics_out.as_deref())?;
    if let Some(path) = &args.plot {
        let svg = plot::timeline(&out.trace, args.steps, args.seed)?;
        write_atomic(path, svg.as_bytes())?;
    }
    if let Some(path) = &args.export_history {
        write_atomic(path, history_jsonl(&out)?.as_bytes())?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out.summary)?);
    } else {
        print!(
            "{}",
            text_summary(
                &out.summary,
                args.scenario,
                args.seed,
                elapsed,
                feedback.config().quality.min_samples
            )
        );
        if let Some(path) = &args.plot {
            println!("timeline written to {}", path.display());
        }
        if let Some(path) = &args.export_history {
            println!(
                "{} written to {} (pre-train with `crefl pretrain --history {}`)",
                crate::common::count(out.history.len() as u64, "exploration"),
                path.display(),
                path.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn history_jsonl(out: &RunOutput) -> Result<String> {
    let mut text = String::new();
    for record in &out.history {
        text.push_str(&serde_json::to_string(record).context("cannot encode a record")?);
        text.push('\n');
    }
    Ok(text)
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

fn text_summary(
    s: &RunSummary,
    scenario: sim::Scenario,
    seed: u64,
    elapsed: Duration,
    min_samples: u64,
) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Simulated {} steps (scenario {scenario}, host seed {seed}) in {:.2} s\n",
        s.steps,
        elapsed.as_secs_f64()
    );
    let _ = writeln!(o, "Time in each mode");
    for (name, share) in [
        ("stable", s.mode_share.stable),
        ("exploring", s.mode_share.exploring),
        ("recovering", s.mode_share.recovering),
        ("emergency", s.mode_share.emergency),
    ] {
        let _ = writeln!(o, "  {name:<12}{:>7}", pct(share));
    }
    let _ = writeln!(
        o,
        "\nExplorations: {} started; {} completed, {} pruned, {} aborted by emergencies",
        s.explorations, s.completed, s.pruned, s.aborted
    );
    let _ = writeln!(
        o,
        "  {:<19}{:>7}{:>11}{:>10}{:>11}",
        "profile", "count", "mean gain", "success", "low-value"
    );
    for p in &s.profiles {
        let _ = writeln!(
            o,
            "  {:<19}{:>7}{:>11.4}{:>10}{:>11}",
            p.profile,
            p.explorations,
            p.mean_gain,
            pct(p.success_rate),
            pct(p.low_value_share)
        );
    }
    let _ = writeln!(
        o,
        "\nCumulative gain: {:.3}   success rate: {}   low-value share (gain < {}): {}",
        s.cumulative_gain,
        pct(s.success_rate),
        sim::LOW_VALUE_GAIN,
        pct(s.low_value_share)
    );
    let _ = writeln!(
        o,
        "Emergencies: {}   prunes: {}   refusals: {} low stability, {} low predicted gain",
        s.emergencies, s.pruned, s.refused_low_stability, s.refused_low_predicted_gain
    );
    let q = &s.quality;
    let status = if q.trained {
        format!("trained on {} samples", q.samples_seen)
    } else if q.can_predict {
        format!(
            "predicting from its prior ({} of {min_samples} samples)",
            q.samples_seen
        )
    } else {
        format!(
            "not trained yet ({} of {min_samples} samples)",
            q.samples_seen
        )
    };
    let _ = writeln!(o, "Quality model: {status}");
    if q.can_predict {
        let weights: Vec<String> = FEATURE_NAMES
            .iter()
            .zip(&q.weights)
            .map(|(n, w)| format!("{n} {w:+.3}"))
            .collect();
        let _ = writeln!(o, "  weights: {}", weights.join(", "));
    }
    let c = &q.calibration;
    match (c.r_squared(), c.rmse()) {
        (Some(r2), Some(rmse)) => {
            let _ = writeln!(
                o,
                "  out-of-sample R² {r2:.3} (RMSE {rmse:.4}) over {} predictions, each made before its outcome",
                c.scored
            );
        }
        _ => {
            let _ = writeln!(o, "  out-of-sample R²: not enough predictions yet");
        }
    }
    if let Some(arms) = &s.learned {
        let _ = writeln!(o, "{}", arms_text(arms));
    }
    o
}

/// The learned selector's arms as a table.
pub(crate) fn arms_text(arms: &[ArmStatus]) -> String {
    let mut o = String::from("Learned selector (estimates in the latest context)\n");
    let _ = writeln!(
        o,
        "  {:<19}{:>7}{:>11}{:>11}{:>13}{:>10}",
        "profile", "chosen", "mean gain", "estimate", "uncertainty", "weight"
    );
    for a in arms {
        let _ = writeln!(
            o,
            "  {:<19}{:>7}{:>11.4}{:>11.4}{:>13.4}{:>10.1}",
            a.profile, a.explorations, a.mean_gain, a.estimate, a.uncertainty, a.effective_samples
        );
    }
    o.truncate(o.trim_end().len());
    o
}

fn run_compare(args: &SimulateArgs) -> Result<ExitCode> {
    // --compare conflicts with --model: every policy starts untrained.
    let (config, _) = load(&args.common)?;
    let seeds: Vec<u64> = (1..=args.seeds).collect();
    let comparison = sim::compare(
        &config,
        args.scenario,
        if args.policies.is_empty() {
            &sim::Policy::ALL
        } else {
            &args.policies
        },
        &seeds,
        args.steps,
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&comparison)?);
    } else {
        print!("{}", compare_text(&comparison));
    }
    Ok(ExitCode::SUCCESS)
}

fn compare_text(c: &Comparison) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Compared policies on scenario {} ({}) over {} seeds × {} steps (the same seeds for each)\n",
        c.scenario,
        c.scenario.describe(),
        c.seeds.len(),
        c.steps
    );
    let _ = writeln!(
        o,
        "  {:<21}{:>24}{:>11}{:>14}{:>11}{:>11}{:>12}{:>9}",
        "policy",
        "cumulative gain (95% CI)",
        "of oracle",
        "explorations",
        "mean gain",
        "low-value",
        "emergencies",
        "model R²"
    );
    for r in &c.results {
        let _ = writeln!(
            o,
            "  {:<21}{:>24}{:>11}{:>14}{:>11.4}{:>11}{:>12}{:>9}",
            r.policy.name(),
            format!("{:.3} ± {:.3}", r.mean_cumulative_gain, r.ci95),
            r.share_of_oracle.map_or_else(|| "-".to_owned(), pct),
            r.explorations,
            r.mean_gain,
            pct(r.low_value_share),
            r.emergencies,
            r.model_r2
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"))
        );
    }
    let _ = writeln!(
        o,
        "\n\"of oracle\": the share of the oracle's cumulative gain (policies with the model: of the oracle with the model)."
    );
    let _ = writeln!(o, "\nWhat each profile earns per exploration in each hidden context (the oracle takes the best):");
    let _ = writeln!(
        o,
        "  {:<12}{:>11}{:>13}{:>19}{:>9}",
        "context", "constant", "cosine_ramp", "exponential_decay", "pulse"
    );
    for (i, name) in c.oracle.contexts.iter().enumerate() {
        let cell = |p: usize| {
            let v = c.oracle.mean_gain[i][p];
            let best = c.oracle.best.get(i) == Some(&p);
            format!("{}{v:+.4}", if best { "*" } else { " " })
        };
        let _ = writeln!(
            o,
            "  {:<12}{:>11}{:>13}{:>19}{:>9}",
            name,
            cell(0),
            cell(1),
            cell(2),
            cell(3)
        );
    }
    let find = |p: sim::Policy| c.results.iter().find(|r| r.policy == p);
    let (constant, adaptive, model) = (
        find(sim::Policy::ConstantOnly),
        find(sim::Policy::Adaptive),
        find(sim::Policy::AdaptiveWithModel),
    );
    if let (Some(constant), Some(adaptive), Some(model)) = (constant, adaptive, model) {
        let _ = writeln!(o);
        let diff = adaptive.mean_cumulative_gain - constant.mean_cumulative_gain;
        if constant.mean_cumulative_gain > f64::EPSILON {
            let _ = writeln!(
                o,
                "Adaptive profiles vs constant: cumulative gain {:+.1}% (the guide claims +20–40%).",
                100.0 * diff / constant.mean_cumulative_gain
            );
        } else {
            let _ = writeln!(
                o,
                "Adaptive profiles vs constant: cumulative gain {diff:+.3} per run; the constant policy \
                 does not gain here, so no percentage is meaningful (the guide claims +20–40%)."
            );
        }
        let low = |r: &sim::PolicyResult| r.low_value_share * r.explorations as f64;
        if low(adaptive) > 0.0 {
            let _ = writeln!(
                o,
                "Quality model vs adaptive alone: {:.1}% fewer low-value explorations ({:.0} vs {:.0}; \
                 the guide claims 30–50% fewer).",
                100.0 * (1.0 - low(model) / low(adaptive)),
                low(model),
                low(adaptive)
            );
        }
    }
    o
}

//! `crefl simulate --sessions N`: N simulated hosts as the sessions of one pool, sharing one
//! model and selector, against N loops each learning alone from the same hosts.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Result;
use creative_feedback::sessions::{Pool, PoolConfig};
use creative_feedback::sim::Host;
use creative_feedback::{CreativeLoop, SelectorKind};
use serde::Serialize;

use crate::common::{builder_from, load};
use crate::simulate::SimulateArgs;

/// Where the gains are read, as shares of the run.
const CHECKPOINTS: u64 = 10;

#[derive(Debug, Serialize)]
struct Checkpoint {
    steps_per_session: u64,
    /// Mean cumulative gain per session, sessions sharing one pool.
    shared: f64,
    /// The same, each loop learning alone.
    isolated: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    sessions: u64,
    steps_per_session: u64,
    scenario: String,
    selector: String,
    checkpoints: Vec<Checkpoint>,
}

pub fn run(args: &SimulateArgs, sessions: u64) -> Result<ExitCode> {
    let (mut config, model) = load(&args.common)?;
    if config.selector.kind == SelectorKind::Learned {
        args.scenario.add_attributes(&mut config.selector.learned);
    }
    let pool = Pool::new(
        builder_from(config.clone(), model.clone()).build()?,
        PoolConfig {
            max_sessions: usize::try_from(sessions + 1).unwrap_or(usize::MAX),
            idle_ttl_ms: None,
            ..PoolConfig::default()
        },
        None,
    )?;
    let mut alone: Vec<CreativeLoop> = (0..sessions)
        .map(|_| builder_from(config.clone(), model.clone()).build())
        .collect::<Result<_, _>>()?;
    let hosts = |offset: u64| -> Result<Vec<Host>> {
        (0..sessions)
            .map(|i| Ok(Host::new(args.scenario.host(args.seed + offset + i))?))
            .collect()
    };
    // Each side gets its own copies of the same hosts (same seeds): only the learning differs.
    let (mut shared_hosts, mut alone_hosts) = (hosts(0)?, hosts(0)?);
    let ids: Vec<String> = (0..sessions).map(|i| format!("host-{i}")).collect();
    let every = (args.steps / CHECKPOINTS).max(1);
    let mut checkpoints = Vec::new();
    for step in 1..=args.steps {
        for (i, id) in ids.iter().enumerate() {
            let stepped = pool.update_state(id, &shared_hosts[i].observe(), step)?;
            shared_hosts[i].apply(&stepped.decision);
            let decision = alone[i].update(&alone_hosts[i].observe())?;
            alone_hosts[i].apply(&decision);
            alone[i].drain_events().for_each(drop);
        }
        if step % every == 0 || step == args.steps {
            let shared: f64 = ids
                .iter()
                .filter_map(|id| pool.with_session(id, |t| t.cumulative_gain()))
                .sum();
            let isolated: f64 = alone.iter().map(CreativeLoop::cumulative_gain).sum();
            checkpoints.push(Checkpoint {
                steps_per_session: step,
                shared: shared / sessions as f64,
                isolated: isolated / sessions as f64,
            });
        }
    }
    let report = Report {
        sessions,
        steps_per_session: args.steps,
        scenario: args.scenario.to_string(),
        selector: config.selector.kind.as_str().to_owned(),
        checkpoints,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text(&report, args.seed));
    }
    Ok(ExitCode::SUCCESS)
}

fn text(r: &Report, seed: u64) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{} sessions sharing one model and selector, against {} loops each learning alone\n\
         scenario {}, selector {}, host seeds {}–{}, {} steps per session\n",
        r.sessions,
        r.sessions,
        r.scenario,
        r.selector,
        seed,
        seed + r.sessions - 1,
        r.steps_per_session
    );
    let _ = writeln!(
        o,
        "{:>18}  {:>14}  {:>14}  {:>8}",
        "steps per session", "shared gain", "alone gain", "shared/alone"
    );
    for c in &r.checkpoints {
        let ratio = if c.isolated.abs() > 1e-12 {
            format!("{:.2}", c.shared / c.isolated)
        } else {
            "-".to_owned()
        };
        let _ = writeln!(
            o,
            "{:>18}  {:>14.3}  {:>14.3}  {:>8}",
            c.steps_per_session, c.shared, c.isolated, ratio
        );
    }
    let _ = writeln!(
        o,
        "\nGains are the mean cumulative gain per session. Each side runs its own copies of the same hosts."
    );
    if let (Some(last), Some(reach)) = (r.checkpoints.last(), reached(r)) {
        let _ = writeln!(
            o,
            "Alone, sessions needed {} steps to gain what shared sessions gained in about {reach} ({:.2}× as fast).",
            last.steps_per_session,
            last.steps_per_session as f64 / reach as f64
        );
    }
    o
}

/// The steps per session at which shared sessions had gained what lone ones gained by the
/// end, interpolated between checkpoints (from 0 gain at step 0).
fn reached(r: &Report) -> Option<u64> {
    let target = r.checkpoints.last()?.isolated;
    if target <= 0.0 {
        return None;
    }
    let mut before = (0u64, 0.0f64);
    for c in &r.checkpoints {
        if c.shared >= target {
            let (s0, g0) = before;
            let share = if c.shared > g0 {
                (target - g0) / (c.shared - g0)
            } else {
                1.0
            };
            let span = (c.steps_per_session - s0) as f64;
            return Some(s0 + (share.clamp(0.0, 1.0) * span).round() as u64);
        }
        before = (c.steps_per_session, c.shared);
    }
    None
}

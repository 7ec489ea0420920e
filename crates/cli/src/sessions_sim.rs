//! `crefl simulate --sessions N` and `--fleet N`: N simulated hosts learning together — as the
//! sessions of one pool sharing one model and selector, or as N sidecars each with its own
//! learning, all learning one shared log of outcomes — against N loops each learning alone
//! from the same hosts.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Result;
use creative_feedback::sessions::{Pool, PoolConfig};
use creative_feedback::sim::{Fleet, Host};
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

/// How the hosts learn together.
#[derive(Debug, Clone, Copy)]
pub enum Together {
    /// The sessions of one pool: one learning, taught at once.
    Sessions(u64),
    /// Sidecars with a learning each, reading the shared log every `sync_every` steps.
    Fleet {
        /// How many sidecars.
        sidecars: u64,
        /// Steps between a sidecar's reads of the log.
        sync_every: u64,
    },
}

/// One side that learns together.
enum Shared {
    Pool(Box<Pool>, Vec<String>),
    Fleet(Box<Fleet>, u64),
}

impl Shared {
    fn step(&mut self, i: usize, host: &mut Host, step: u64) -> Result<()> {
        let decision = match self {
            Self::Pool(pool, ids) => pool.update_state(&ids[i], &host.observe(), step)?.decision,
            Self::Fleet(fleet, sync_every) => {
                let decision = fleet.step(i, &host.observe())?;
                if step.is_multiple_of(*sync_every) {
                    fleet.sync(i);
                }
                decision
            }
        };
        host.apply(&decision);
        Ok(())
    }

    fn gain(&self, n: usize) -> f64 {
        match self {
            Self::Pool(pool, ids) => ids
                .iter()
                .filter_map(|id| pool.with_session(id, |t| t.cumulative_gain()))
                .sum(),
            Self::Fleet(fleet, _) => (0..n).filter_map(|i| fleet.cumulative_gain(i)).sum(),
        }
    }
}

#[derive(Debug, Serialize)]
struct Report {
    /// `sessions` or `fleet`.
    mode: &'static str,
    sessions: u64,
    /// With `fleet`: steps between a sidecar's reads of the shared log.
    #[serde(skip_serializing_if = "Option::is_none")]
    sync_every: Option<u64>,
    /// With `fleet`: whether every sidecar held the same learning once all had read the log.
    #[serde(skip_serializing_if = "Option::is_none")]
    identical_learning: Option<bool>,
    steps_per_session: u64,
    scenario: String,
    selector: String,
    checkpoints: Vec<Checkpoint>,
}

pub fn run(args: &SimulateArgs, together: Together) -> Result<ExitCode> {
    let (mut config, model) = load(&args.common)?;
    if config.selector.kind == SelectorKind::Learned {
        args.scenario.add_attributes(&mut config.selector.learned);
    }
    let sessions = match together {
        Together::Sessions(n) => n,
        Together::Fleet { sidecars, .. } => sidecars,
    };
    let n = usize::try_from(sessions)?;
    let mut shared = match together {
        Together::Sessions(_) => Shared::Pool(
            Box::new(Pool::new(
                builder_from(config.clone(), model.clone()).build()?,
                PoolConfig {
                    max_sessions: n + 1,
                    idle_ttl_ms: None,
                    ..PoolConfig::default()
                },
                None,
            )?),
            (0..sessions).map(|i| format!("host-{i}")).collect(),
        ),
        Together::Fleet { sync_every, .. } => Shared::Fleet(
            Box::new(Fleet::new(n, || {
                builder_from(config.clone(), model.clone()).build()
            })?),
            sync_every,
        ),
    };
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
    let every = (args.steps / CHECKPOINTS).max(1);
    let mut checkpoints = Vec::new();
    for step in 1..=args.steps {
        for i in 0..n {
            shared.step(i, &mut shared_hosts[i], step)?;
            let decision = alone[i].update(&alone_hosts[i].observe())?;
            alone_hosts[i].apply(&decision);
            alone[i].drain_events().for_each(drop);
        }
        if step % every == 0 || step == args.steps {
            let isolated: f64 = alone.iter().map(CreativeLoop::cumulative_gain).sum();
            checkpoints.push(Checkpoint {
                steps_per_session: step,
                shared: shared.gain(n) / sessions as f64,
                isolated: isolated / sessions as f64,
            });
        }
    }
    let identical_learning = match &mut shared {
        Shared::Pool(..) => None,
        Shared::Fleet(fleet, _) => {
            fleet.sync_all();
            let first = fleet
                .learning_snapshot(0)
                .map(|s| s.to_json())
                .transpose()?;
            let mut same = true;
            for i in 1..n {
                same &= fleet
                    .learning_snapshot(i)
                    .map(|s| s.to_json())
                    .transpose()?
                    == first;
            }
            Some(same)
        }
    };
    let report = Report {
        mode: match together {
            Together::Sessions(_) => "sessions",
            Together::Fleet { .. } => "fleet",
        },
        sessions,
        sync_every: match together {
            Together::Sessions(_) => None,
            Together::Fleet { sync_every, .. } => Some(sync_every),
        },
        identical_learning,
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
    let who = match r.sync_every {
        None => format!("{} sessions sharing one model and selector", r.sessions),
        Some(k) => format!(
            "{} sidecars learning one shared log of outcomes (each reads it every {k} steps)",
            r.sessions
        ),
    };
    let _ = writeln!(
        o,
        "{who}, against {} loops each learning alone\n\
         scenario {}, selector {}, host seeds {}–{}, {} steps per session\n",
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
    if let Some(same) = r.identical_learning {
        let _ = writeln!(
            o,
            "Once every sidecar had read the whole log, their learnings were {}.",
            if same {
                "identical, bit for bit"
            } else {
                "NOT identical"
            }
        );
    }
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

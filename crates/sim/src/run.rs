//! Running a loop against the synthetic host and summarising what happened.

use std::collections::BTreeMap;

use creative_feedback_core::{
    ArmStatus, CreativeLoop, Event, ExplorationRecord, Mode, OutcomeKind, QualityStatus,
};

use crate::host::Host;

/// Gains below this count as low-value explorations in reports.
pub const LOW_VALUE_GAIN: f64 = 0.05;

/// Share of steps spent in each mode.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ModeShare {
    /// Stable.
    pub stable: f64,
    /// Exploring.
    pub exploring: f64,
    /// Recovering.
    pub recovering: f64,
    /// Emergency.
    pub emergency: f64,
}

/// Outcomes of the explorations that used one profile.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ProfileStats {
    /// The profile.
    pub profile: String,
    /// Ended explorations.
    pub explorations: u64,
    /// Mean gain.
    pub mean_gain: f64,
    /// Share with gain above `success_gain`.
    pub success_rate: f64,
    /// Share with gain below [`LOW_VALUE_GAIN`].
    pub low_value_share: f64,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RunSummary {
    /// Steps run.
    pub steps: u64,
    /// Share of steps in each mode.
    pub mode_share: ModeShare,
    /// Explorations started.
    pub explorations: u64,
    /// Ended by running their full duration.
    pub completed: u64,
    /// Ended by pruning.
    pub pruned: u64,
    /// Ended by an emergency.
    pub aborted: u64,
    /// Emergency entries.
    pub emergencies: u64,
    /// Refusal episodes for low stability.
    pub refused_low_stability: u64,
    /// Refusal episodes by the quality gate.
    pub refused_low_predicted_gain: u64,
    /// Sum of all gains.
    pub cumulative_gain: f64,
    /// Successful / ended.
    pub success_rate: f64,
    /// Share of ended explorations with gain below [`LOW_VALUE_GAIN`].
    pub low_value_share: f64,
    /// Per profile, in name order.
    pub profiles: Vec<ProfileStats>,
    /// The quality model at the end.
    pub quality: QualityStatus,
    /// The learned selector's arms at the end, when the loop has one.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub learned: Option<Vec<ArmStatus>>,
}

/// One sampled point of a run, for plots.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TracePoint {
    /// The step (1-based).
    pub step: u64,
    /// Observed novelty.
    pub novelty: f64,
    /// Observed aesthetic score.
    pub aesthetic_score: f64,
    /// The decision's entropy factor.
    pub entropy_factor: f64,
    /// The mode after the step.
    pub mode: Mode,
}

/// What to collect besides the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Keep one trace point every this many steps (0 = no trace).
    pub trace_every: u64,
    /// Keep every ended exploration's record (for `--export-history`).
    pub keep_history: bool,
}

/// The summary and what was collected.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutput {
    /// The summary.
    pub summary: RunSummary,
    /// Sampled trace points.
    pub trace: Vec<TracePoint>,
    /// Every completed or pruned exploration, in order.
    pub history: Vec<ExplorationRecord>,
}

#[derive(Default)]
struct Tally {
    count: u64,
    gain: f64,
    successes: u64,
    low: u64,
}

/// Runs `steps` steps of `feedback` against `host`, draining events every step.
/// `progress` is called every 65,536 steps with the steps done.
pub fn run(
    feedback: &mut CreativeLoop,
    host: &mut Host,
    steps: u64,
    options: RunOptions,
    progress: impl FnMut(u64),
) -> RunOutput {
    run_with_events(feedback, host, steps, options, progress, |_| {})
}

/// [`run`], also handing every event the loop emits to `on_event`, in order.
pub fn run_with_events(
    feedback: &mut CreativeLoop,
    host: &mut Host,
    steps: u64,
    options: RunOptions,
    mut progress: impl FnMut(u64),
    mut on_event: impl FnMut(&creative_feedback_core::Event),
) -> RunOutput {
    let mut mode_steps = [0u64; 4];
    let mut per_profile: BTreeMap<String, Tally> = BTreeMap::new();
    let mut trace = Vec::new();
    let mut history = Vec::new();
    let success_gain = feedback.config().success_gain;
    let start_counters = *feedback.counters();
    let start_gain = feedback.cumulative_gain();
    let mut low = 0u64;
    for i in 1..=steps {
        let state = host.observe();
        // The host only reports finite, in-range values, so no state is ever rejected.
        let Ok(decision) = feedback.update(&state) else {
            continue;
        };
        host.apply(&decision);
        mode_steps[decision.mode as usize] += 1;
        if options.trace_every > 0 && i % options.trace_every == 0 {
            trace.push(TracePoint {
                step: i,
                novelty: state.novelty.unwrap_or(0.0),
                aesthetic_score: state.aesthetic_score.unwrap_or(0.0),
                entropy_factor: decision.entropy_factor,
                mode: decision.mode,
            });
        }
        let mut ended = false;
        for event in feedback.drain_events() {
            on_event(&event);
            if let Event::ExplorationEnded { profile, gain, .. } = event {
                ended = true;
                if gain < LOW_VALUE_GAIN {
                    low += 1;
                }
                let t = per_profile.entry(profile.to_string()).or_default();
                t.count += 1;
                t.gain += gain;
                t.successes += u64::from(gain > success_gain);
                t.low += u64::from(gain < LOW_VALUE_GAIN);
            }
        }
        if ended && options.keep_history {
            if let Some(record) = feedback.history().last() {
                if record.outcome != OutcomeKind::Aborted {
                    history.push(record.clone());
                }
            }
        }
        if i % 65_536 == 0 {
            progress(i);
        }
    }
    let c = feedback.counters();
    let total = steps.max(1) as f64;
    let ended = c.ended() - start_counters.ended();
    let share = |n: u64| n as f64 / total;
    let metrics = feedback.metrics();
    let summary = RunSummary {
        steps,
        mode_share: ModeShare {
            stable: share(mode_steps[Mode::Stable as usize]),
            exploring: share(mode_steps[Mode::Exploring as usize]),
            recovering: share(mode_steps[Mode::Recovering as usize]),
            emergency: share(mode_steps[Mode::Emergency as usize]),
        },
        explorations: c.explorations_started - start_counters.explorations_started,
        completed: c.completed - start_counters.completed,
        pruned: c.pruned - start_counters.pruned,
        aborted: c.aborted - start_counters.aborted,
        emergencies: c.emergency_stops - start_counters.emergency_stops,
        refused_low_stability: c.refused_low_stability - start_counters.refused_low_stability,
        refused_low_predicted_gain: c.refused_low_predicted_gain
            - start_counters.refused_low_predicted_gain,
        cumulative_gain: feedback.cumulative_gain() - start_gain,
        success_rate: ratio(c.successful - start_counters.successful, ended),
        low_value_share: ratio(low, ended),
        profiles: per_profile
            .into_iter()
            .map(|(profile, t)| ProfileStats {
                profile,
                explorations: t.count,
                mean_gain: t.gain / t.count.max(1) as f64,
                success_rate: ratio(t.successes, t.count),
                low_value_share: ratio(t.low, t.count),
            })
            .collect(),
        quality: metrics.quality,
        learned: metrics.learned,
    };
    RunOutput {
        summary,
        trace,
        history,
    }
}

/// The states a seeded host reports while a default loop drives it: a realistic, reproducible
/// stream (every mode, every profile) for tests and benchmarks of code around the loop.
///
/// # Errors
///
/// [`Error::Loop`](crate::Error::Loop) only if the default configuration were invalid.
pub fn recorded_states(
    seed: u64,
    steps: u64,
) -> Result<Vec<creative_feedback_core::State>, crate::Error> {
    let mut host = Host::new(crate::HostConfig::seeded(seed))?;
    let mut driver = CreativeLoop::new(creative_feedback_core::Config::default())?;
    let mut states = Vec::with_capacity(usize::try_from(steps).unwrap_or(0));
    for _ in 0..steps {
        let state = host.observe();
        if let Ok(decision) = driver.update(&state) {
            host.apply(&decision);
        }
        driver.drain_events().for_each(drop);
        states.push(state);
    }
    Ok(states)
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

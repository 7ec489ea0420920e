//! Prometheus metrics, recorded through the `metrics` facade into a
//! `metrics-exporter-prometheus` recorder owned by the exporter (no global state).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use creative_feedback_core::{Event, Metrics, Mode, OutcomeKind};
use metrics::{Counter, Gauge, Histogram};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use crate::dispatcher::{Sink, SinkStats};
use crate::message::{Message, Payload};
use crate::{Error, SinkError};

/// The default metric-name prefix.
pub const DEFAULT_PREFIX: &str = "creative_feedback";

const DURATION_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 125.0, 150.0, 175.0, 200.0, 300.0,
];
const GAIN_BUCKETS: &[f64] = &[-0.5, -0.2, -0.1, -0.05, 0.0, 0.05, 0.1, 0.2, 0.5];

/// The metrics an exporter publishes, by suffix (the full name is `{prefix}_{suffix}`).
pub const METRIC_SUFFIXES: &[&str] = &[
    "cumulative_gain",
    "mode",
    "steps_total",
    "explorations_started_total",
    "explorations_total",
    "explorations_ended_total",
    "exploration_duration_steps",
    "exploration_entropy_steps",
    "predicted_gain",
    "actual_gain",
    "gain_positive",
    "gain_negative",
    "predictions_total",
    "predicted_gain_positive",
    "predicted_gain_negative",
    "errors_total",
    "input_corrections_total",
    "rejected_inputs_total",
    "emergency_stops_total",
    "stream_dropped_total",
    "profile_gain_positive",
    "profile_gain_negative",
    "profile_mean_gain",
    "quality_r2",
    "learned_estimate",
    "learned_uncertainty",
    "learned_effective_samples",
];

struct Fixed {
    cumulative_gain: Gauge,
    modes: [Gauge; 4],
    steps: Counter,
    errors: Counter,
    input_corrections: Counter,
    rejected_inputs: Counter,
    emergency_stops: Counter,
    duration: Histogram,
    entropy_steps: Histogram,
    predicted: Histogram,
    actual: Histogram,
    ended: Counter,
    /// Gains split by sign into two counters, so that both only grow: Prometheus reads any
    /// decrease of a counter (or of a histogram's `_sum`) as a reset.
    gain: SignedSum,
    predictions: Counter,
    predicted_sum: SignedSum,
    quality_r2: Gauge,
}

/// A sum of signed values as two series that only grow: positive parts and magnitudes of
/// negative parts. Mean over a window = (increase(positive) − increase(negative)) / increase(n).
/// They are gauges because the `metrics` facade's counters hold whole numbers; they only grow
/// within a process, so `increase` and `rate` read them as counters (a restart is a reset).
struct SignedSum {
    positive: Gauge,
    negative: Gauge,
}

impl SignedSum {
    fn add(&self, v: f64) {
        if v > 0.0 {
            self.positive.increment(v);
        } else if v < 0.0 {
            self.negative.increment(-v);
        }
    }
}

#[derive(Default)]
struct Labelled {
    started: HashMap<String, Counter>,
    ended: HashMap<(String, OutcomeKind), Counter>,
    dropped: HashMap<(String, &'static str), Counter>,
    /// Per profile and suffix (`profile_gain_positive`, `learned_estimate`, …).
    gauges: HashMap<(&'static str, String), Gauge>,
    /// Per profile: ended explorations and the sum of their gains in this process.
    tally: HashMap<String, (u64, f64)>,
}

/// Records the loop's messages as Prometheus metrics and renders the exposition format.
///
/// Names follow Prometheus conventions (`_total` counters, unit suffixes) under a configurable
/// prefix, default `creative_feedback`:
///
/// | metric | type | labels | meaning |
/// |---|---|---|---|
/// | `{prefix}_cumulative_gain` | gauge | | sum of the gains of all ended explorations |
/// | `{prefix}_mode` | gauge | `mode` | 1 for the current mode, 0 for the others |
/// | `{prefix}_steps_total` | counter | | accepted steps |
/// | `{prefix}_explorations_started_total` | counter | `profile` | explorations started |
/// | `{prefix}_explorations_total` | counter | `profile`, `outcome` | explorations ended |
/// | `{prefix}_explorations_ended_total` | counter | | explorations ended, all profiles and outcomes |
/// | `{prefix}_exploration_duration_steps` | histogram | | planned duration of ended explorations |
/// | `{prefix}_exploration_entropy_steps` | histogram | | entropy steps ended explorations actually had |
/// | `{prefix}_predicted_gain` | histogram | | prediction at the start of explorations that ended (buckets only: see below) |
/// | `{prefix}_actual_gain` | histogram | | gain of ended explorations (buckets only: see below) |
/// | `{prefix}_gain_positive`, `{prefix}_gain_negative` | gauge (only grows) | | sums of the positive gains and of the magnitudes of the negative ones |
/// | `{prefix}_predictions_total` | counter | | ended explorations that had a prediction |
/// | `{prefix}_predicted_gain_positive`, `{prefix}_predicted_gain_negative` | gauge (only grows) | | the same split of their predictions |
/// | `{prefix}_errors_total` | counter | | failures of user code |
/// | `{prefix}_input_corrections_total` | counter | | input corrections |
/// | `{prefix}_rejected_inputs_total` | counter | | rejected states |
/// | `{prefix}_emergency_stops_total` | counter | | emergency entries |
/// | `{prefix}_stream_dropped_total` | counter | `sink`, `kind` | messages a sink's queue dropped: `snapshot` (coalescing, normal under load) or `event` (a sink too slow for the transitions) |
/// | `{prefix}_profile_gain_positive`, `{prefix}_profile_gain_negative` | gauge (only grows) | `profile` | the gain split by sign, per profile: windowed means per profile |
/// | `{prefix}_profile_mean_gain` | gauge | `profile` | mean gain of the profile's explorations ended in this process |
/// | `{prefix}_quality_r2` | gauge | | the quality model's out-of-sample R² (from snapshots, once defined) |
/// | `{prefix}_learned_estimate`, `{prefix}_learned_uncertainty`, `{prefix}_learned_effective_samples` | gauge | `profile` | the learned selector's arms (from snapshots, with `[selector] kind = "learned"`) |
///
/// Gains can be negative, and Prometheus reads any decrease of a counter, a histogram's `_sum`
/// included, as a reset: never `rate()` the gain histograms' `_sum`. The mean gain over a window
/// is `(increase(gain_positive) − increase(gain_negative)) /
/// increase(explorations_ended_total)`.
///
/// Counters that come from snapshots (`steps`, `errors`, `input_corrections`, …) are set to
/// the loop's own values, so they are exact at every snapshot and continue across a restart
/// that restores a snapshot; the others are counted from events in this process (they restart
/// at 0, which Prometheus' `rate` and `increase` handle as a reset). The labelled exploration
/// counters exist from the start, at 0, for every built-in profile and outcome.
pub struct PrometheusExporter {
    prefix: String,
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    fixed: Fixed,
    labelled: Mutex<Labelled>,
}

impl std::fmt::Debug for PrometheusExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusExporter")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn valid_prefix(prefix: &str) -> bool {
    let mut bytes = prefix.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl PrometheusExporter {
    /// An exporter with the default prefix.
    ///
    /// # Errors
    ///
    /// [`Error::Prometheus`] if the recorder cannot be built.
    pub fn new() -> Result<Self, Error> {
        Self::with_prefix(DEFAULT_PREFIX)
    }

    /// An exporter whose metric names start with `prefix` (letters, digits and `_`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] for a prefix that is not a valid metric name;
    /// [`Error::Prometheus`] if the recorder cannot be built.
    pub fn with_prefix(prefix: &str) -> Result<Self, Error> {
        if !valid_prefix(prefix) {
            return Err(Error::InvalidSetting(
                "the metric prefix must match [a-zA-Z_][a-zA-Z0-9_]*",
            ));
        }
        let name = |suffix: &str| format!("{prefix}_{suffix}");
        let mut builder = PrometheusBuilder::new();
        for (suffix, buckets) in [
            ("exploration_duration_steps", DURATION_BUCKETS),
            ("exploration_entropy_steps", DURATION_BUCKETS),
            ("predicted_gain", GAIN_BUCKETS),
            ("actual_gain", GAIN_BUCKETS),
        ] {
            builder = builder
                .set_buckets_for_metric(Matcher::Full(name(suffix)), buckets)
                .map_err(|e| Error::Prometheus(e.to_string()))?;
        }
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let fixed = metrics::with_local_recorder(&recorder, || {
            describe(prefix);
            let mode = |m: Mode| metrics::gauge!(name("mode"), "mode" => m.as_str());
            Fixed {
                cumulative_gain: metrics::gauge!(name("cumulative_gain")),
                modes: [
                    mode(Mode::Stable),
                    mode(Mode::Exploring),
                    mode(Mode::Recovering),
                    mode(Mode::Emergency),
                ],
                steps: metrics::counter!(name("steps_total")),
                errors: metrics::counter!(name("errors_total")),
                input_corrections: metrics::counter!(name("input_corrections_total")),
                rejected_inputs: metrics::counter!(name("rejected_inputs_total")),
                emergency_stops: metrics::counter!(name("emergency_stops_total")),
                duration: metrics::histogram!(name("exploration_duration_steps")),
                entropy_steps: metrics::histogram!(name("exploration_entropy_steps")),
                predicted: metrics::histogram!(name("predicted_gain")),
                actual: metrics::histogram!(name("actual_gain")),
                ended: metrics::counter!(name("explorations_ended_total")),
                gain: SignedSum {
                    positive: metrics::gauge!(name("gain_positive")),
                    negative: metrics::gauge!(name("gain_negative")),
                },
                predictions: metrics::counter!(name("predictions_total")),
                predicted_sum: SignedSum {
                    positive: metrics::gauge!(name("predicted_gain_positive")),
                    negative: metrics::gauge!(name("predicted_gain_negative")),
                },
                quality_r2: metrics::gauge!(name("quality_r2")),
            }
        });
        let exporter = Self {
            prefix: prefix.to_owned(),
            recorder,
            handle,
            fixed,
            labelled: Mutex::new(Labelled::default()),
        };
        exporter.set_mode(Mode::Stable);
        // Labelled series exist from the start, so queries and alerts see 0, not nothing.
        for profile in creative_feedback_core::ProfileRegistry::new().names() {
            exporter.started_counter(profile).increment(0);
            for suffix in ["profile_gain_positive", "profile_gain_negative"] {
                exporter.profile_gauge(suffix, profile).increment(0.0);
            }
            for outcome in OutcomeKind::ALL {
                exporter.ended_counter(profile, *outcome).increment(0);
            }
        }
        Ok(exporter)
    }

    /// The metric-name prefix.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn set_mode(&self, mode: Mode) {
        for (gauge, m) in self.fixed.modes.iter().zip(Mode::ALL) {
            gauge.set(if *m == mode { 1.0 } else { 0.0 });
        }
    }

    /// Records one message.
    pub fn record(&self, message: &Message) {
        match &message.payload {
            Payload::Event(event) => self.record_event(event),
            Payload::Snapshot(metrics) => self.record_metrics(metrics),
        }
    }

    /// Records one event.
    pub fn record_event(&self, event: &Event) {
        let f = &self.fixed;
        match event {
            Event::ModeChanged {
                to,
                cumulative_gain,
                ..
            } => {
                self.set_mode(*to);
                f.cumulative_gain.set(*cumulative_gain);
            }
            Event::ExplorationStarted { profile, .. } => {
                self.started_counter(profile).increment(1);
            }
            Event::ExplorationEnded {
                profile,
                outcome,
                gain,
                duration,
                entropy_steps,
                predicted_gain,
                cumulative_gain,
                ..
            } => {
                self.ended_counter(profile, *outcome).increment(1);
                self.record_profile_gain(profile, *gain);
                f.ended.increment(1);
                f.duration.record(f64::from(*duration));
                f.entropy_steps.record(f64::from(*entropy_steps));
                f.actual.record(*gain);
                f.gain.add(*gain);
                if let Some(p) = predicted_gain {
                    f.predicted.record(*p);
                    f.predictions.increment(1);
                    f.predicted_sum.add(*p);
                }
                f.cumulative_gain.set(*cumulative_gain);
            }
            Event::InputCorrected { .. } => {}
        }
    }

    /// Records a metrics snapshot: the current mode, the cumulative gain and the loop's counters.
    pub fn record_metrics(&self, m: &Metrics) {
        let f = &self.fixed;
        self.set_mode(m.mode);
        f.cumulative_gain.set(m.cumulative_gain);
        f.steps.absolute(m.steps);
        f.errors.absolute(m.counters.errors);
        f.input_corrections.absolute(m.counters.input_corrections);
        f.rejected_inputs.absolute(m.counters.rejected_inputs);
        f.emergency_stops.absolute(m.counters.emergency_stops);
        if let Some(r2) = m.quality.out_of_sample_r2 {
            f.quality_r2.set(r2);
        }
        for arm in m.learned.iter().flatten() {
            self.profile_gauge("learned_estimate", &arm.profile)
                .set(arm.estimate);
            self.profile_gauge("learned_uncertainty", &arm.profile)
                .set(arm.uncertainty);
            self.profile_gauge("learned_effective_samples", &arm.profile)
                .set(arm.effective_samples);
        }
    }

    fn record_profile_gain(&self, profile: &str, gain: f64) {
        let suffix = if gain >= 0.0 {
            "profile_gain_positive"
        } else {
            "profile_gain_negative"
        };
        self.profile_gauge(suffix, profile).increment(gain.abs());
        let mean = {
            let mut labelled = self.labelled.lock().unwrap_or_else(PoisonError::into_inner);
            let (n, sum) = labelled.tally.entry(profile.to_owned()).or_default();
            *n += 1;
            *sum += gain;
            *sum / *n as f64
        };
        self.profile_gauge("profile_mean_gain", profile).set(mean);
    }

    fn profile_gauge(&self, suffix: &'static str, profile: &str) -> Gauge {
        let mut labelled = self.labelled.lock().unwrap_or_else(PoisonError::into_inner);
        labelled
            .gauges
            .entry((suffix, profile.to_owned()))
            .or_insert_with_key(|(suffix, profile)| {
                metrics::with_local_recorder(&self.recorder, || {
                    metrics::gauge!(format!("{}_{suffix}", self.prefix), "profile" => profile.clone())
                })
            })
            .clone()
    }

    /// Records the dispatcher's drop counts, by sink and kind.
    pub fn record_stream_stats(&self, stats: &[SinkStats]) {
        for s in stats {
            for (kind, dropped) in [
                ("event", s.dropped_events),
                ("snapshot", s.dropped_snapshots),
            ] {
                let counter = self.labelled_counter(
                    |l| &mut l.dropped,
                    (s.name.clone(), kind),
                    |prefix, (sink, kind)| {
                        metrics::counter!(format!("{prefix}_stream_dropped_total"), "sink" => sink.clone(), "kind" => *kind)
                    },
                );
                counter.absolute(dropped);
            }
        }
    }

    fn started_counter(&self, profile: &str) -> Counter {
        self.labelled_counter(|l| &mut l.started, profile.to_owned(), |prefix, p| {
            metrics::counter!(format!("{prefix}_explorations_started_total"), "profile" => p.clone())
        })
    }

    fn ended_counter(&self, profile: &str, outcome: OutcomeKind) -> Counter {
        self.labelled_counter(|l| &mut l.ended, (profile.to_owned(), outcome), |prefix, (p, o)| {
            metrics::counter!(format!("{prefix}_explorations_total"), "profile" => p.clone(), "outcome" => o.as_str())
        })
    }

    fn labelled_counter<K: std::hash::Hash + Eq + Clone>(
        &self,
        map: impl Fn(&mut Labelled) -> &mut HashMap<K, Counter>,
        key: K,
        register: impl Fn(&str, &K) -> Counter,
    ) -> Counter {
        let mut labelled = self.labelled.lock().unwrap_or_else(PoisonError::into_inner);
        map(&mut labelled)
            .entry(key)
            .or_insert_with_key(|k| {
                metrics::with_local_recorder(&self.recorder, || register(&self.prefix, k))
            })
            .clone()
    }

    /// Sets a counter `{prefix}_{suffix}` that the embedding application keeps itself (e.g. a
    /// server's persistence errors), with its help text.
    pub fn set_counter(&self, suffix: &str, help: &'static str, value: u64) {
        let name = format!("{}_{suffix}", self.prefix);
        metrics::with_local_recorder(&self.recorder, || {
            metrics::describe_counter!(name.clone(), help);
            metrics::counter!(name).absolute(value);
        });
    }

    /// Sets a gauge `{prefix}_{suffix}` with these labels that the embedding application keeps
    /// itself (e.g. a server's sessions by mode), with its help text.
    pub fn set_gauge(
        &self,
        suffix: &str,
        help: &'static str,
        labels: &[(&'static str, &str)],
        value: f64,
    ) {
        let name = format!("{}_{suffix}", self.prefix);
        let labels: Vec<metrics::Label> = labels
            .iter()
            .map(|(k, v)| metrics::Label::new(*k, (*v).to_owned()))
            .collect();
        metrics::with_local_recorder(&self.recorder, || {
            metrics::describe_gauge!(name.clone(), help);
            metrics::gauge!(name, labels).set(value);
        });
    }

    /// Runs `f` with this exporter's recorder as the `metrics` facade's recorder, so that other
    /// libraries' metrics (e.g. an A/B experiment's) land in the same exposition.
    pub fn with_recorder<R>(&self, f: impl FnOnce() -> R) -> R {
        metrics::with_local_recorder(&self.recorder, f)
    }

    /// The exposition in Prometheus text format (also what node_exporter's textfile collector
    /// reads).
    #[must_use]
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

fn describe(prefix: &str) {
    let n = |suffix: &str| format!("{prefix}_{suffix}");
    metrics::describe_gauge!(
        n("cumulative_gain"),
        "Sum of the creative gains of all ended explorations."
    );
    metrics::describe_gauge!(
        n("mode"),
        "1 for the loop's current mode, 0 for the others."
    );
    metrics::describe_counter!(n("steps_total"), "Accepted steps.");
    metrics::describe_counter!(
        n("explorations_started_total"),
        "Explorations started, by profile."
    );
    metrics::describe_counter!(
        n("explorations_total"),
        "Explorations ended, by profile and outcome."
    );
    metrics::describe_histogram!(
        n("exploration_duration_steps"),
        "Planned duration of ended explorations, in steps."
    );
    metrics::describe_histogram!(
        n("exploration_entropy_steps"),
        "Entropy steps ended explorations actually had (pruned ones end early)."
    );
    metrics::describe_histogram!(
        n("predicted_gain"),
        "Predicted gain of explorations that ended (when predicted); use its buckets, not its _sum."
    );
    metrics::describe_histogram!(
        n("actual_gain"),
        "Creative gain of ended explorations; use its buckets, not its _sum (gains can be negative)."
    );
    metrics::describe_counter!(n("explorations_ended_total"), "Explorations ended.");
    metrics::describe_gauge!(
        n("gain_positive"),
        "Sum of the positive gains of ended explorations."
    );
    metrics::describe_gauge!(
        n("gain_negative"),
        "Sum of the magnitudes of the negative gains of ended explorations."
    );
    metrics::describe_counter!(
        n("predictions_total"),
        "Ended explorations that had a prediction."
    );
    metrics::describe_gauge!(
        n("predicted_gain_positive"),
        "Sum of the positive predictions of ended explorations."
    );
    metrics::describe_gauge!(
        n("predicted_gain_negative"),
        "Sum of the magnitudes of the negative predictions of ended explorations."
    );
    metrics::describe_counter!(
        n("errors_total"),
        "Failures of user-supplied code (profiles, selectors, predictors)."
    );
    metrics::describe_counter!(
        n("input_corrections_total"),
        "Input fields corrected (defaults, clamps, infinite instability)."
    );
    metrics::describe_counter!(n("rejected_inputs_total"), "States rejected as invalid.");
    metrics::describe_counter!(n("emergency_stops_total"), "Emergency halts entered.");
    metrics::describe_gauge!(
        n("profile_gain_positive"),
        "Sum of the positive gains of ended explorations, by profile."
    );
    metrics::describe_gauge!(
        n("profile_gain_negative"),
        "Sum of the magnitudes of the negative gains of ended explorations, by profile."
    );
    metrics::describe_gauge!(
        n("profile_mean_gain"),
        "Mean gain of the explorations ended in this process, by profile."
    );
    metrics::describe_gauge!(
        n("quality_r2"),
        "Out-of-sample R² of the quality model's predictions (each made before its outcome)."
    );
    metrics::describe_gauge!(
        n("learned_estimate"),
        "The learned selector's estimated gain per profile in the latest context."
    );
    metrics::describe_gauge!(
        n("learned_uncertainty"),
        "The half-width of the learned selector's estimate per profile."
    );
    metrics::describe_gauge!(
        n("learned_effective_samples"),
        "The discounted number of outcomes behind the learned selector's estimate per profile."
    );
    metrics::describe_counter!(
        n("stream_dropped_total"),
        "Messages dropped by a metric sink's queue, by sink and kind (snapshot: coalescing; event: a transition lost)."
    );
}

/// The exporter as a sink; share the exporter (an `Arc`) with whatever serves `/metrics`.
#[derive(Debug, Clone)]
pub struct PrometheusSink {
    exporter: Arc<PrometheusExporter>,
}

impl PrometheusSink {
    /// A sink recording into `exporter`.
    #[must_use]
    pub fn new(exporter: Arc<PrometheusExporter>) -> Self {
        Self { exporter }
    }
}

#[async_trait]
impl Sink for PrometheusSink {
    fn name(&self) -> &str {
        "prometheus"
    }

    async fn send(&mut self, message: &Message) -> Result<(), SinkError> {
        self.exporter.record(message);
        Ok(())
    }
}

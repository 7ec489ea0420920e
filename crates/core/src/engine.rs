//! The loop itself: the state machine of SPEC §4–8.

use std::collections::VecDeque;
use std::fmt;

use creative_feedback_profiles::{Profile, ProfileRegistry, ProfileShape, ResolvedProfile};
use creative_feedback_quality::{Features, QualityModel};
use rand_xoshiro::rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::config::Config;
use crate::decision::{
    Action, Decision, ExplorationInfo, Mode, Outcome, OutcomeKind, Reason, Trigger,
};
use crate::metrics::{
    Counters, CurrentExploration, Event, ExplorationRecord, Health, HealthReason, Metrics,
    QualityStatus, RecentStats, TrendWindow,
};
use crate::policy::{
    DefaultSelector, GainPredictor, ModelPredictor, Prediction, PredictionContext, ProfileSelector,
    SelectionContext,
};
use crate::state::{validate, InputWarning, Observation, ObservedValues, Rejected, State};
use crate::Error;

/// Which refusal episode the stable rule is in (SPEC §8: counted once per episode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
enum Refusal {
    LowStability,
    LowPredictedGain,
}

/// The exploration in progress.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
struct Active {
    trigger: Trigger,
    profile: Profile,
    started_step: u64,
    raw_factor: f64,
    factor: f64,
    duration: u32,
    /// The k of the next step.
    k: u32,
    trigger_values: ObservedValues,
    features: Features,
    predicted_gain: Option<f64>,
    samples_seen: u64,
}

/// Everything a snapshot must carry besides config, model and generator.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
struct LoopState {
    mode: Mode,
    steps: u64,
    steps_in_mode: u64,
    baseline: Option<f64>,
    plateau: u64,
    recovery_left: u32,
    refusal: Option<Refusal>,
    counters: Counters,
    cumulative_gain: f64,
    exploration: Option<Active>,
    after: VecDeque<f64>,
    history: VecDeque<ExplorationRecord>,
    recent: VecDeque<f64>,
    trend: TrendWindow,
}

impl LoopState {
    fn new(config: &Config) -> Self {
        Self {
            mode: Mode::Stable,
            steps: 0,
            steps_in_mode: 0,
            baseline: None,
            plateau: 0,
            recovery_left: 0,
            refusal: None,
            counters: Counters::default(),
            cumulative_gain: 0.0,
            exploration: None,
            after: VecDeque::with_capacity(config.gain_window as usize),
            history: VecDeque::with_capacity(config.history_capacity as usize),
            recent: VecDeque::with_capacity(config.recent_window as usize),
            trend: TrendWindow::with_capacity(config.trend_window),
        }
    }
}

fn push_capped<T>(ring: &mut VecDeque<T>, cap: u32, value: T) {
    if ring.len() >= cap as usize {
        ring.pop_front();
    }
    ring.push_back(value);
}

/// A complete copy of a loop: config, counters, histories, the exploration in progress, the
/// model and the generator. A loop restored from it makes exactly the decisions the original
/// would have. With the `serde` feature it is JSON.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct Snapshot {
    format: u32,
    config: Config,
    state: LoopState,
    model: QualityModel,
    rng: Xoshiro256PlusPlus,
}

const SNAPSHOT_FORMAT: u32 = 1;

impl Snapshot {
    /// The configuration of the snapshotted loop.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The snapshotted quality model.
    #[must_use]
    pub fn model(&self) -> &QualityModel {
        &self.model
    }

    /// Accepted steps at the time of the snapshot.
    #[must_use]
    pub fn steps(&self) -> u64 {
        self.state.steps
    }

    /// The snapshot as JSON.
    ///
    /// # Errors
    ///
    /// [`Error::Json`] if serialization fails (it does not for a snapshot taken from a loop).
    #[cfg(feature = "serde")]
    pub fn to_json(&self) -> Result<String, Error> {
        serde_json::to_string(self).map_err(|e| Error::Json(e.to_string()))
    }

    /// Reads a snapshot written by [`Snapshot::to_json`].
    ///
    /// # Errors
    ///
    /// [`Error::Json`] for text that is not a snapshot.
    #[cfg(feature = "serde")]
    pub fn from_json(text: &str) -> Result<Self, Error> {
        serde_json::from_str(text).map_err(|e| Error::Json(e.to_string()))
    }
}

/// Builds a [`CreativeLoop`]: config, custom profiles, selector, predictor, a pre-trained model,
/// or a snapshot to resume from.
pub struct LoopBuilder {
    config: Config,
    registry: ProfileRegistry,
    selector: Option<Box<dyn ProfileSelector>>,
    predictor: Option<Box<dyn GainPredictor>>,
    model: Option<QualityModel>,
    resume: Option<(LoopState, Xoshiro256PlusPlus)>,
    snapshot_format: Option<u32>,
}

impl fmt::Debug for LoopBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopBuilder")
            .field("config", &self.config)
            .field("registry", &self.registry)
            .field("custom_selector", &self.selector.is_some())
            .field("custom_predictor", &self.predictor.is_some())
            .finish_non_exhaustive()
    }
}

impl LoopBuilder {
    /// A builder with this configuration, the default selector and the model predictor.
    #[must_use]
    pub fn new(config: Config) -> Self {
        Self {
            config,
            registry: ProfileRegistry::new(),
            selector: None,
            predictor: None,
            model: None,
            resume: None,
            snapshot_format: None,
        }
    }

    /// A builder that resumes from a snapshot (its config, state, model and generator). Add
    /// the same custom profiles, selector and predictor as the original had, then `build`.
    #[must_use]
    pub fn from_snapshot(snapshot: Snapshot) -> Self {
        let format = snapshot.format;
        let mut builder = Self::new(snapshot.config);
        builder.snapshot_format = Some(format);
        builder.model = Some(snapshot.model);
        builder.resume = Some((snapshot.state, snapshot.rng));
        builder
    }

    /// The configuration the loop will have.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Replaces the profile selector.
    #[must_use]
    pub fn selector(mut self, selector: impl ProfileSelector + 'static) -> Self {
        self.selector = Some(Box::new(selector));
        self
    }

    /// Replaces the gain predictor.
    #[must_use]
    pub fn predictor(mut self, predictor: impl GainPredictor + 'static) -> Self {
        self.predictor = Some(Box::new(predictor));
        self
    }

    /// Registers a custom profile shape by name.
    ///
    /// # Errors
    ///
    /// [`Error::Profile`] when the name is malformed, built in or already registered.
    pub fn profile(
        mut self,
        name: &str,
        shape: impl ProfileShape + 'static,
    ) -> Result<Self, Error> {
        self.registry.register(name, shape)?;
        Ok(self)
    }

    /// Uses a registry of custom profiles built elsewhere.
    #[must_use]
    pub fn registry(mut self, registry: ProfileRegistry) -> Self {
        self.registry = registry;
        self
    }

    /// Starts from a (pre-trained) model; the config's `[quality]` settings are applied to it.
    #[must_use]
    pub fn model(mut self, model: QualityModel) -> Self {
        self.model = Some(model);
        self
    }

    /// Builds the loop.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming a key that cannot work; [`Error::Profile`] when a
    /// resumed exploration names an unregistered profile; [`Error::InvalidSnapshot`] for an
    /// inconsistent snapshot.
    pub fn build(self) -> Result<CreativeLoop, Error> {
        if let Some(format) = self.snapshot_format.filter(|f| *f != SNAPSHOT_FORMAT) {
            return Err(Error::InvalidSnapshot(format!(
                "snapshot format {format}, but this version reads format {SNAPSHOT_FORMAT}"
            )));
        }
        let config = self.config;
        config.validate()?;
        let model_config = config.quality.model_config();
        let model = match self.model {
            Some(mut model) => {
                if model.config() != &model_config {
                    model.reconfigure(model_config)?;
                }
                model
            }
            None => QualityModel::new(model_config)?,
        };
        let (state, rng) = match self.resume {
            Some((state, rng)) => (state, rng),
            None => (
                LoopState::new(&config),
                Xoshiro256PlusPlus::seed_from_u64(config.seed),
            ),
        };
        let active = match &state.exploration {
            Some(ex) => Some(self.registry.resolve(ex.profile.clone())?),
            None => None,
        };
        check_state(&state, &config)?;
        let capacity = 8;
        Ok(CreativeLoop {
            default_selector: DefaultSelector::new(config.selector.clone()),
            config,
            registry: self.registry,
            selector: self.selector,
            predictor: self.predictor.unwrap_or_else(|| Box::new(ModelPredictor)),
            model,
            rng,
            s: state,
            active,
            events: Vec::with_capacity(capacity),
        })
    }
}

fn check_state(s: &LoopState, c: &Config) -> Result<(), Error> {
    let bad = |why: &str| Err(Error::InvalidSnapshot(why.to_owned()));
    if (s.mode == Mode::Exploring) != s.exploration.is_some() {
        return bad("the mode and the exploration in progress disagree");
    }
    if let Some(ex) = &s.exploration {
        if ex.k == 0 || ex.k > ex.duration || ex.duration > c.max_exploration_steps {
            return bad("the exploration in progress is out of bounds");
        }
        if s.after.len() as u64 + 1 < u64::from(ex.k).min(u64::from(c.gain_window)) {
            return bad("the exploration's observed states are missing");
        }
    }
    if s.mode == Mode::Recovering && s.recovery_left == 0 {
        return bad("a recovery with no steps left");
    }
    let finite = s.cumulative_gain.is_finite()
        && s.baseline.is_none_or(f64::is_finite)
        && s.after.iter().chain(&s.recent).all(|v| v.is_finite())
        && s.trend.is_finite();
    if !finite {
        return bad("a non-finite value");
    }
    Ok(())
}

/// The creative feedback loop: the Rust form of the guide's `CreativeFeedbackLoop`.
///
/// A sans-I/O state machine: no clock, no randomness other than its seeded generator, no I/O.
/// Its clock is the step: each accepted [`update`](Self::update) is one step.
///
/// Method groups:
/// - **input**: [`update`](Self::update) with one observed state per step → a [`Decision`];
///   [`pretrain`](Self::pretrain) with historical records.
/// - **output**: [`drain_events`](Self::drain_events) after each update (mode changes,
///   explorations started and ended, input corrections), in the order they happened.
/// - **getters**: [`metrics`](Self::metrics), [`health`](Self::health),
///   [`history`](Self::history), [`current_exploration`](Self::current_exploration),
///   [`model`](Self::model), [`config`](Self::config).
/// - **persistence**: [`snapshot`](Self::snapshot) and [`LoopBuilder::from_snapshot`].
pub struct CreativeLoop {
    config: Config,
    registry: ProfileRegistry,
    default_selector: DefaultSelector,
    selector: Option<Box<dyn ProfileSelector>>,
    predictor: Box<dyn GainPredictor>,
    model: QualityModel,
    rng: Xoshiro256PlusPlus,
    s: LoopState,
    active: Option<ResolvedProfile>,
    events: Vec<Event>,
}

impl fmt::Debug for CreativeLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreativeLoop")
            .field("mode", &self.s.mode)
            .field("steps", &self.s.steps)
            .field("counters", &self.s.counters)
            .finish_non_exhaustive()
    }
}

fn decision(action: Action, mode: Mode, reason: Reason, entropy_factor: f64) -> Decision {
    Decision {
        action,
        mode,
        entropy_factor,
        lambda_factor: action.lambda_factor(entropy_factor),
        reason,
        exploration: None,
        outcome: None,
        predicted_gain: None,
        warnings: Vec::new(),
    }
}

impl CreativeLoop {
    /// A loop with this config, the default selector and the model predictor.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming a key that cannot work.
    pub fn new(config: Config) -> Result<Self, Error> {
        LoopBuilder::new(config).build()
    }

    /// A builder, for custom profiles, selectors, predictors or a pre-trained model.
    #[must_use]
    pub fn builder(config: Config) -> LoopBuilder {
        LoopBuilder::new(config)
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The registry of profiles this loop resolves names with.
    #[must_use]
    pub fn registry(&self) -> &ProfileRegistry {
        &self.registry
    }

    /// The quality model.
    #[must_use]
    pub fn model(&self) -> &QualityModel {
        &self.model
    }

    /// Changes the quality model's settings online (`min_samples`, `regularization`, `window`,
    /// `feature_weights`) and the gate's; the model refits.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the key; nothing changes then.
    pub fn set_quality_config(&mut self, quality: crate::QualityConfig) -> Result<(), Error> {
        let mut config = self.config.clone();
        config.quality = quality;
        config.validate()?;
        self.model.reconfigure(config.quality.model_config())?;
        self.config = config;
        Ok(())
    }

    /// The current mode.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.s.mode
    }

    /// Accepted steps so far.
    #[must_use]
    pub fn steps(&self) -> u64 {
        self.s.steps
    }

    /// The counters.
    #[must_use]
    pub fn counters(&self) -> &Counters {
        &self.s.counters
    }

    /// Sum of the gains of all ended explorations.
    #[must_use]
    pub fn cumulative_gain(&self) -> f64 {
        self.s.cumulative_gain
    }

    /// The most recent ended explorations, oldest first (at most `history_capacity`).
    pub fn history(
        &self,
    ) -> impl ExactSizeIterator<Item = &ExplorationRecord> + DoubleEndedIterator {
        self.s.history.iter()
    }

    /// Events emitted since the last drain, oldest first. Drain after every update: the
    /// buffer keeps every event until drained, so nothing is ever lost.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, Event> {
        self.events.drain(..)
    }

    /// Events waiting to be drained.
    #[must_use]
    pub fn pending_events(&self) -> &[Event] {
        &self.events
    }

    /// The exploration in progress (the guide's `current_injection`).
    #[must_use]
    pub fn current_exploration(&self) -> Option<CurrentExploration> {
        self.s.exploration.as_ref().map(|ex| CurrentExploration {
            profile: ex.profile.name(),
            trigger: ex.trigger,
            entropy_factor: ex.factor,
            k: ex.k,
            duration: ex.duration,
            progress: f64::from(ex.k) / f64::from(ex.duration),
            predicted_gain: ex.predicted_gain,
        })
    }

    /// A metrics snapshot (the guide's `get_creative_metrics()`).
    #[must_use]
    pub fn metrics(&self) -> Metrics {
        let s = &self.s;
        let recent = (!s.recent.is_empty()).then(|| RecentStats {
            count: s.recent.len() as u32,
            mean_gain: s.recent.iter().sum::<f64>() / s.recent.len() as f64,
            max_gain: s.recent.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        });
        Metrics {
            mode: s.mode,
            steps: s.steps,
            steps_in_mode: s.steps_in_mode,
            cumulative_gain: s.cumulative_gain,
            success_rate: s.counters.success_rate(),
            counters: s.counters,
            aesthetic_baseline: s.baseline,
            recent,
            trend: s.trend.trend(),
            current_exploration: self.current_exploration(),
            quality: QualityStatus {
                samples_seen: self.model.samples_seen(),
                trained: self.model.is_trained(),
                can_predict: self.model.can_predict(),
                weights: self.model.weights(),
            },
        }
    }

    /// The health verdict (SPEC §9). Streaming adapters add sink failures to it.
    #[must_use]
    pub fn health(&self) -> Health {
        if self.s.mode == Mode::Emergency {
            Health::degraded(HealthReason::Emergency)
        } else if self.s.counters.ended() > self.config.health_min_explorations
            && self.s.cumulative_gain < self.config.health_min_gain
        {
            Health::degraded(HealthReason::LowCumulativeGain)
        } else {
            Health::healthy()
        }
    }

    /// A complete copy of the loop's state (see [`Snapshot`]).
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            format: SNAPSHOT_FORMAT,
            config: self.config.clone(),
            state: self.s.clone(),
            model: self.model.clone(),
            rng: self.rng.clone(),
        }
    }

    /// Gives a historical exploration to the quality model through the same path as live
    /// learning. Loop counters do not change.
    ///
    /// # Errors
    ///
    /// [`Rejected`] naming every field that breaks the record rules (the initial state is
    /// validated as in strict mode); the model is unchanged.
    pub fn pretrain(&mut self, record: &crate::HistoryRecord) -> Result<(), Rejected> {
        let features = crate::history::features(record, &self.config, self.model.samples_seen())?;
        self.model
            .add_sample(features, record.creative_gain)
            .map_err(|e| Rejected::new(vec![crate::FieldError::new("record", e.to_string())]))
    }

    /// One step: validates the observed state and decides (SPEC §2–8).
    ///
    /// # Errors
    ///
    /// [`Rejected`] listing every offending field when the state is invalid; the loop did not
    /// advance (only `rejected_inputs` counts it).
    pub fn update(&mut self, state: &State) -> Result<Decision, Rejected> {
        let (numbers, warnings) = match validate(state, self.config.input_mode) {
            Ok(v) => v,
            Err(rejected) => {
                self.s.counters.rejected_inputs += 1;
                return Err(rejected);
            }
        };
        let obs = Observation::new(state, numbers);
        self.s.steps += 1;
        let step = self.s.steps;
        if !warnings.is_empty() {
            self.s.counters.input_corrections += warnings.len() as u64;
            self.events.extend(
                warnings
                    .iter()
                    .map(|w: &InputWarning| Event::InputCorrected {
                        step,
                        field: w.field.clone(),
                        message: w.message.clone(),
                    }),
            );
        }
        self.s.trend.push(
            self.config.trend_window,
            (obs.values.novelty, obs.values.aesthetic_score),
        );
        let from = self.s.mode;
        if from != Mode::Stable {
            self.s.refusal = None;
        }
        let mut d = self.decide(&obs, step);
        d.warnings = warnings;
        self.s.mode = d.mode;
        if d.mode == from {
            self.s.steps_in_mode += 1;
        } else {
            self.s.steps_in_mode = 0;
            self.events.push(Event::ModeChanged {
                step,
                from,
                to: d.mode,
                cumulative_gain: self.s.cumulative_gain,
            });
        }
        Ok(d)
    }

    fn decide(&mut self, obs: &Observation<'_>, step: u64) -> Decision {
        let v = &obs.values;
        let c = &self.config;
        if self.s.mode != Mode::Emergency
            && (obs.emergency_override || v.lambda_max > c.emergency_lambda)
        {
            return self.enter_emergency(obs, step);
        }
        match self.s.mode {
            Mode::Emergency => self.emergency_step(obs),
            Mode::Stable => self.stable_step(obs, step),
            Mode::Exploring => self.exploring_step(obs, step),
            Mode::Recovering => {
                self.s.recovery_left = self.s.recovery_left.saturating_sub(1);
                let mode = if self.s.recovery_left == 0 {
                    self.enter_stable()
                } else {
                    Mode::Recovering
                };
                decision(Action::Recover, mode, Reason::Recovering, 0.0)
            }
        }
    }

    fn enter_stable(&mut self) -> Mode {
        self.s.plateau = 0;
        Mode::Stable
    }

    fn begin_recovery(&mut self) -> Mode {
        self.s.recovery_left = self.config.recovery_steps.saturating_sub(1);
        if self.s.recovery_left == 0 {
            self.enter_stable()
        } else {
            Mode::Recovering
        }
    }

    fn enter_emergency(&mut self, obs: &Observation<'_>, step: u64) -> Decision {
        let reason = if obs.emergency_override {
            Reason::EmergencyOverride
        } else {
            Reason::EmergencyLambda
        };
        self.s.counters.emergency_stops += 1;
        self.s.recovery_left = 0;
        self.s.refusal = None;
        let mut d = decision(Action::EmergencyHalt, Mode::Emergency, reason, 0.0);
        if let Some(ex) = self.s.exploration.take() {
            push_capped(
                &mut self.s.after,
                self.config.gain_window,
                obs.values.performance(),
            );
            let k = ex.k;
            let (info, outcome) = self.finish(ex, OutcomeKind::Aborted, k, step);
            d.exploration = Some(info);
            d.outcome = Some(outcome);
        }
        d
    }

    fn emergency_step(&mut self, obs: &Observation<'_>) -> Decision {
        let c = &self.config;
        if obs.emergency_override
            || obs.values.lambda_max >= c.emergency_exit_ratio * c.emergency_lambda
        {
            let reason = if obs.emergency_override {
                Reason::EmergencyOverride
            } else {
                Reason::EmergencyLambda
            };
            decision(Action::EmergencyHalt, Mode::Emergency, reason, 0.0)
        } else {
            let mode = self.begin_recovery();
            decision(Action::Recover, mode, Reason::EmergencyCleared, 0.0)
        }
    }

    fn refuse(&mut self, refusal: Refusal) {
        if self.s.refusal != Some(refusal) {
            self.s.refusal = Some(refusal);
            match refusal {
                Refusal::LowStability => self.s.counters.refused_low_stability += 1,
                Refusal::LowPredictedGain => self.s.counters.refused_low_predicted_gain += 1,
            }
        }
    }

    fn stable_step(&mut self, obs: &Observation<'_>, step: u64) -> Decision {
        let v = obs.values;
        let c = &self.config;
        self.s.baseline = Some(match self.s.baseline {
            None => v.aesthetic_score,
            Some(b) => (1.0 - c.baseline_alpha) * b + c.baseline_alpha * v.aesthetic_score,
        });
        let trigger = if v.novelty > c.novelty_high {
            Some(Trigger::Momentum)
        } else if v.novelty < c.novelty_low {
            Some(Trigger::Stagnation)
        } else if c
            .plateau_steps
            .is_some_and(|p| self.s.plateau >= u64::from(p))
        {
            Some(Trigger::Plateau)
        } else {
            None
        };
        let Some(trigger) = trigger else {
            self.s.plateau += 1;
            self.s.refusal = None;
            return decision(Action::Maintain, Mode::Stable, Reason::InBand, 0.0);
        };
        self.s.plateau = 0;

        let stability = (1.0 - v.lambda_max / c.emergency_lambda).clamp(0.0, 1.0);
        if stability < c.stability_threshold {
            self.refuse(Refusal::LowStability);
            return decision(Action::Maintain, Mode::Stable, Reason::LowStability, 0.0);
        }

        let n = v.novelty;
        let b0 = 0.3 + 0.4 * n;
        let quality_mod = 1.0 + 0.5 * (v.aesthetic_score - 0.5);
        let diversity = (1.0 - (0.6 - n).abs()).max(0.0);
        let raw_factor = (b0 * quality_mod * (0.5 + 0.5 * diversity)).clamp(0.1, 0.9);
        let duration = duration_for(n, c.min_exploration_steps, c.max_exploration_steps);
        let samples_seen = self.model.samples_seen();
        let features = [
            n,
            v.aesthetic_score,
            v.volatility,
            raw_factor,
            f64::from(duration) / f64::from(c.max_exploration_steps),
            samples_seen.min(100) as f64 / 100.0,
            1.0,
        ];
        let prediction = self.predict(obs, &features);

        let gate = self.config.quality.min_predicted_gain;
        if let (Some(min), Prediction::Model(p)) = (gate, prediction) {
            if p < min {
                let let_through = self.s.refusal != Some(Refusal::LowPredictedGain)
                    && unit_draw(&mut self.rng) < self.config.quality.gate_exploration_rate;
                if !let_through {
                    self.refuse(Refusal::LowPredictedGain);
                    let mut d = decision(
                        Action::Maintain,
                        Mode::Stable,
                        Reason::LowPredictedGain,
                        0.0,
                    );
                    d.predicted_gain = Some(p);
                    return d;
                }
            }
        }
        self.s.refusal = None;

        let ctx = SelectionContext {
            observation: *obs,
            trigger,
            base_factor: raw_factor,
            duration,
            default: &self.default_selector,
        };
        let choice = match &mut self.selector {
            Some(selector) => selector.select(&ctx),
            None => self.default_selector.choose(obs),
        };
        let resolved = match self.registry.resolve(choice) {
            Ok(r) => r,
            Err(_) => {
                self.s.counters.errors += 1;
                let fallback = self.default_selector.choose(obs);
                match self.registry.resolve(fallback) {
                    Ok(r) => r,
                    // The default selector's parameters are validated with the config, so this
                    // cannot fail; fall back to the constant shape all the same.
                    Err(_) => ResolvedProfile::constant(),
                }
            }
        };

        let q = &self.config.quality;
        let factor = match prediction {
            Prediction::Model(p) => {
                let scaled = if p < q.adjust_below {
                    raw_factor * q.adjust_down
                } else if p > q.adjust_above {
                    raw_factor * q.adjust_up
                } else {
                    raw_factor
                };
                scaled.clamp(q.factor_min, q.factor_max)
            }
            _ => raw_factor,
        };

        let ex = Active {
            trigger,
            profile: resolved.profile().clone(),
            started_step: step,
            raw_factor,
            factor,
            duration,
            k: 1,
            trigger_values: v,
            features,
            predicted_gain: prediction.value(),
            samples_seen,
        };
        self.s.counters.explorations_started += 1;
        self.s.after.clear();
        let entropy = shaped(&resolved, factor, 0, duration, &mut self.s.counters.errors);
        let name = resolved.profile().name();
        self.active = Some(resolved);
        self.events.push(Event::ExplorationStarted {
            step,
            trigger,
            profile: name.clone(),
            entropy_factor: factor,
            duration,
            predicted_gain: ex.predicted_gain,
        });
        let mut d = decision(
            Action::InjectEntropy,
            Mode::Exploring,
            trigger.reason(),
            entropy,
        );
        d.exploration = Some(ExplorationInfo {
            profile: name,
            k: 0,
            duration,
            progress: 0.0,
        });
        d.predicted_gain = ex.predicted_gain;
        self.s.exploration = Some(ex);
        d
    }

    fn predict(&mut self, obs: &Observation<'_>, features: &Features) -> Prediction {
        let ctx = PredictionContext {
            observation: *obs,
            features,
            model: &self.model,
        };
        match self.predictor.predict(&ctx) {
            Prediction::Model(p) | Prediction::Reported(p) if !p.is_finite() => {
                self.s.counters.errors += 1;
                Prediction::None
            }
            p => p,
        }
    }

    fn exploring_step(&mut self, obs: &Observation<'_>, step: u64) -> Decision {
        let Some(ex) = self.s.exploration.as_mut() else {
            // Unreachable with a consistent state; recover into stable rather than panic.
            let mode = self.enter_stable();
            return decision(Action::Maintain, mode, Reason::InBand, 0.0);
        };
        push_capped(
            &mut self.s.after,
            self.config.gain_window,
            obs.values.performance(),
        );
        let k = ex.k;
        let baseline = self.s.baseline.unwrap_or(obs.values.aesthetic_score);
        let end = if k >= ex.duration {
            Some(OutcomeKind::Completed)
        } else if k >= self.config.prune_grace_steps
            && obs.values.aesthetic_score < baseline * self.config.prune_tolerance
        {
            Some(OutcomeKind::Pruned)
        } else {
            None
        };
        if end.is_none() {
            let entropy = match &self.active {
                Some(active) => shaped(
                    active,
                    ex.factor,
                    k,
                    ex.duration,
                    &mut self.s.counters.errors,
                ),
                None => ex.factor,
            };
            ex.k = k + 1;
            let mut d = decision(
                Action::ContinueExploration,
                Mode::Exploring,
                Reason::Exploring,
                entropy,
            );
            d.exploration = Some(ExplorationInfo {
                profile: ex.profile.name(),
                k,
                duration: ex.duration,
                progress: f64::from(k) / f64::from(ex.duration),
            });
            return d;
        }
        let (kind, reason) = match end {
            Some(OutcomeKind::Pruned) => (OutcomeKind::Pruned, Reason::Pruned),
            _ => (OutcomeKind::Completed, Reason::Completed),
        };
        let Some(ex) = self.s.exploration.take() else {
            return decision(Action::Maintain, Mode::Stable, Reason::InBand, 0.0);
        };
        let (info, outcome) = self.finish(ex, kind, k, step);
        let mode = self.begin_recovery();
        let mut d = decision(Action::EndExploration, mode, reason, 0.0);
        d.exploration = Some(info);
        d.outcome = Some(outcome);
        d
    }

    /// Accounts for an ended exploration: gain, counters, training, history, event.
    fn finish(
        &mut self,
        ex: Active,
        kind: OutcomeKind,
        k: u32,
        step: u64,
    ) -> (ExplorationInfo, Outcome) {
        let n = self.s.after.len().max(1) as f64;
        let final_performance = self.s.after.iter().sum::<f64>() / n;
        let gain = final_performance - ex.trigger_values.performance();
        self.s.after.clear();
        self.active = None;
        let c = &mut self.s.counters;
        match kind {
            OutcomeKind::Completed => c.completed += 1,
            OutcomeKind::Pruned => c.pruned += 1,
            OutcomeKind::Aborted => c.aborted += 1,
        }
        if gain > self.config.success_gain {
            c.successful += 1;
        }
        self.s.cumulative_gain += gain;
        if kind != OutcomeKind::Aborted && self.model.add_sample(ex.features, gain).is_err() {
            self.s.counters.errors += 1;
        }
        push_capped(&mut self.s.recent, self.config.recent_window, gain);
        let name = ex.profile.name();
        self.events.push(Event::ExplorationEnded {
            step,
            profile: name.clone(),
            outcome: kind,
            gain,
            duration: ex.duration,
            entropy_steps: k,
            predicted_gain: ex.predicted_gain,
            cumulative_gain: self.s.cumulative_gain,
        });
        push_capped(
            &mut self.s.history,
            self.config.history_capacity,
            ExplorationRecord {
                started_step: ex.started_step,
                ended_step: step,
                trigger: ex.trigger,
                profile: ex.profile,
                initial_state: ex.trigger_values,
                entropy_factor: ex.raw_factor,
                adjusted_factor: ex.factor,
                duration: ex.duration,
                entropy_steps: k,
                outcome: kind,
                creative_gain: gain,
                final_performance,
                predicted_gain: ex.predicted_gain,
                samples_seen: ex.samples_seen,
                features: ex.features,
            },
        );
        (
            ExplorationInfo {
                profile: name,
                k,
                duration: ex.duration,
                progress: f64::from(k) / f64::from(ex.duration),
            },
            Outcome {
                kind,
                gain,
                entropy_steps: k,
            },
        )
    }
}

/// The profile's factor, clamped to [0, 1]; a non-finite value is replaced by the base and
/// counted as an error of user code.
#[inline]
fn shaped(profile: &ResolvedProfile, base: f64, k: u32, duration: u32, errors: &mut u64) -> f64 {
    let raw = profile.factor(base, k, duration);
    if raw.is_finite() {
        raw.clamp(0.0, 1.0)
    } else {
        *errors += 1;
        base
    }
}

/// D = clamp(100 + floor(200·novelty), min, max) (SPEC §5).
pub(crate) fn duration_for(novelty: f64, min: u32, max: u32) -> u32 {
    let d = 100.0 + (200.0 * novelty).floor();
    (d as u32).clamp(min, max)
}

/// A uniform draw in [0, 1) from the top 53 bits.
fn unit_draw(rng: &mut Xoshiro256PlusPlus) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

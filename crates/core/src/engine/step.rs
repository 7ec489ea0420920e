//! One step of the loop: validation, the emergency check, and the rule of the mode the loop is
//! in (specification §4), writing into a decision the caller owns.

use std::collections::VecDeque;

use creative_feedback_profiles::ResolvedProfile;
use creative_feedback_quality::Features;
use rand_xoshiro::rand_core::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::parts::{LearningRef, Lesson, Trajectory};
use crate::config::Config;
use crate::decision::{
    Action, Decision, ExplorationInfo, Mode, Outcome, OutcomeKind, Reason, Trigger,
};
use crate::events::Event;
use crate::policy::{Prediction, PredictionContext, Selection, SelectionContext, Tag};
use crate::records::ExplorationRecord;
use crate::rules;
use crate::snapshot::{Active, Refusal};
use crate::state::{Observation, State};
use crate::validate::{validate, Findings, Rejected};

/// Sets the plain fields of a decision and clears the optional ones (specification §3).
#[inline]
fn set(d: &mut Decision, action: Action, mode: Mode, reason: Reason, entropy_factor: f64) {
    d.action = action;
    d.mode = mode;
    d.entropy_factor = entropy_factor;
    d.lambda_factor = action.lambda_factor(entropy_factor);
    d.reason = reason;
    // A continuing exploration updates the caller's info in place.
    if action != Action::ContinueExploration && d.exploration.is_some() {
        d.exploration = None;
    }
    d.outcome = None;
    d.predicted_gain = None;
}

fn push_capped<T>(ring: &mut VecDeque<T>, cap: u32, value: T) {
    if ring.len() >= cap as usize {
        ring.pop_front();
    }
    ring.push_back(value);
}

/// A uniform draw in [0, 1) from the top 53 bits.
fn unit_draw(rng: &mut Xoshiro256PlusPlus) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

fn emergency_reason(obs: &Observation<'_>) -> Reason {
    if obs.emergency_override {
        Reason::EmergencyOverride
    } else {
        Reason::EmergencyLambda
    }
}

/// One step's view of a loop: its config, its trajectory, and where its learning is.
pub(crate) struct Stepper<'a> {
    config: &'a Config,
    l: LearningRef<'a>,
    t: &'a mut Trajectory,
    /// Where ended explorations go when the learning learns them later.
    outbox: Option<&'a mut Vec<Lesson>>,
}

impl<'a> Stepper<'a> {
    #[inline]
    pub(crate) fn new(
        config: &'a Config,
        l: LearningRef<'a>,
        t: &'a mut Trajectory,
        outbox: Option<&'a mut Vec<Lesson>>,
    ) -> Self {
        Self {
            config,
            l,
            t,
            outbox,
        }
    }
}

impl Stepper<'_> {
    /// Validates, advances the step, decides, and records the mode change.
    #[inline]
    pub(crate) fn step(
        &mut self,
        state: &State,
        findings: &Findings,
        d: &mut Decision,
    ) -> Result<(), Rejected> {
        let mut warnings = Vec::new();
        let numbers = match validate(state, self.config.input_mode, findings, &mut warnings) {
            Ok(v) => v,
            Err(rejected) => {
                self.t.s.counters.rejected_inputs += 1;
                return Err(rejected);
            }
        };
        let obs = Observation::new(state, numbers);
        self.t.s.steps += 1;
        let step = self.t.s.steps;
        if !warnings.is_empty() {
            self.t.s.counters.input_corrections += warnings.len() as u64;
            self.t
                .events
                .extend(warnings.iter().map(|w| Event::InputCorrected {
                    step,
                    field: w.field.clone(),
                    message: w.message.clone(),
                }));
        }
        self.t.s.trend.push(
            self.config.trend_window,
            (obs.values.novelty, obs.values.aesthetic_score),
        );
        let from = self.t.s.mode;
        if from != Mode::Stable {
            self.t.s.refusal = None;
        }
        self.decide(&obs, step, d);
        if warnings.is_empty() {
            d.warnings.clear();
        } else {
            d.warnings = warnings;
        }
        self.t.s.mode = d.mode;
        if d.mode == from {
            self.t.s.steps_in_mode += 1;
        } else {
            self.t.s.steps_in_mode = 0;
            self.t.events.push(Event::ModeChanged {
                step,
                from,
                to: d.mode,
                cumulative_gain: self.t.s.cumulative_gain,
            });
        }
        Ok(())
    }

    /// The emergency entry check first, in every mode; then the rule of the current mode.
    #[inline]
    fn decide(&mut self, obs: &Observation<'_>, step: u64, d: &mut Decision) {
        let c = &self.config;
        if self.t.s.mode != Mode::Emergency
            && (obs.emergency_override || obs.values.lambda_max > c.emergency_lambda)
        {
            return self.enter_emergency(obs, step, d);
        }
        match self.t.s.mode {
            Mode::Emergency => self.emergency_step(obs, d),
            Mode::Stable => self.stable_step(obs, step, d),
            Mode::Exploring => self.exploring_step(obs, step, d),
            Mode::Recovering => {
                self.t.s.recovery_left = self.t.s.recovery_left.saturating_sub(1);
                let mode = if self.t.s.recovery_left == 0 {
                    self.enter_stable()
                } else {
                    Mode::Recovering
                };
                set(d, Action::Recover, mode, Reason::Recovering, 0.0);
            }
        }
    }

    fn enter_stable(&mut self) -> Mode {
        self.t.s.plateau = 0;
        Mode::Stable
    }

    /// Recovery lasts `recovery_steps` counting the step that enters it (specification §4,
    /// rule 5), so with 1 the loop goes straight back to stable.
    fn begin_recovery(&mut self) -> Mode {
        self.t.s.recovery_left = self.config.recovery_steps.saturating_sub(1);
        if self.t.s.recovery_left == 0 {
            self.enter_stable()
        } else {
            Mode::Recovering
        }
    }

    /// Rule 1: an active exploration is aborted, a recovery discarded.
    #[cold]
    fn enter_emergency(&mut self, obs: &Observation<'_>, step: u64, d: &mut Decision) {
        self.t.s.counters.emergency_stops += 1;
        self.t.s.recovery_left = 0;
        self.t.s.refusal = None;
        set(
            d,
            Action::EmergencyHalt,
            Mode::Emergency,
            emergency_reason(obs),
            0.0,
        );
        if let Some(ex) = self.t.s.exploration.take() {
            push_capped(
                &mut self.t.s.after,
                self.config.gain_window,
                obs.values.performance(),
            );
            let k = ex.k;
            self.finish(ex, OutcomeKind::Aborted, k, step, d);
        }
    }

    /// Rule 2: halt while the override or the instability lasts; the first clear step is the
    /// first of the recovery.
    fn emergency_step(&mut self, obs: &Observation<'_>, d: &mut Decision) {
        let c = &self.config;
        if obs.emergency_override
            || obs.values.lambda_max >= c.emergency_exit_ratio * c.emergency_lambda
        {
            set(
                d,
                Action::EmergencyHalt,
                Mode::Emergency,
                emergency_reason(obs),
                0.0,
            );
        } else {
            let mode = self.begin_recovery();
            set(d, Action::Recover, mode, Reason::EmergencyCleared, 0.0);
        }
    }

    /// Counts a refusal once per episode (specification §8).
    fn refuse(&mut self, refusal: Refusal) {
        if self.t.s.refusal != Some(refusal) {
            self.t.s.refusal = Some(refusal);
            match refusal {
                Refusal::LowStability => self.t.s.counters.refused_low_stability += 1,
                Refusal::LowPredictedGain => self.t.s.counters.refused_low_predicted_gain += 1,
            }
        }
    }

    /// Rule 3: the baseline, the triggers, the stability check; a trigger that passes starts
    /// an exploration.
    #[inline]
    fn stable_step(&mut self, obs: &Observation<'_>, step: u64, d: &mut Decision) {
        let v = obs.values;
        let c = &self.config;
        self.t.s.baseline = Some(rules::baseline(
            self.t.s.baseline,
            v.aesthetic_score,
            c.baseline_alpha,
        ));
        let Some(trigger) = rules::trigger(v.novelty, self.t.s.plateau, c) else {
            self.t.s.plateau += 1;
            self.t.s.refusal = None;
            return set(d, Action::Maintain, Mode::Stable, Reason::InBand, 0.0);
        };
        self.t.s.plateau = 0;
        if rules::stability(v.lambda_max, c.emergency_lambda) < c.stability_threshold {
            self.refuse(Refusal::LowStability);
            return set(d, Action::Maintain, Mode::Stable, Reason::LowStability, 0.0);
        }
        self.start_exploration(obs, trigger, step, d);
    }

    /// Specification §5, steps 1–6, on a trigger that passed the stability check.
    fn start_exploration(
        &mut self,
        obs: &Observation<'_>,
        trigger: Trigger,
        step: u64,
        d: &mut Decision,
    ) {
        let v = obs.values;
        let c = &self.config;
        let raw_factor = rules::raw_factor(v.novelty, v.aesthetic_score);
        let duration = rules::duration(v.novelty, c.min_exploration_steps, c.max_exploration_steps);
        let (samples_seen, features, prediction) = self.predict(obs, raw_factor, duration);
        if self.gate_refuses(prediction, d) {
            return;
        }
        self.t.s.refusal = None;

        let (resolved, tag) =
            self.select(obs, trigger, raw_factor, duration, prediction, &features);
        let factor = match prediction {
            Prediction::Model(p) => rules::adjusted_factor(raw_factor, p, &self.config.quality),
            _ => raw_factor,
        };
        let active = Active {
            trigger,
            profile: resolved.profile().clone(),
            tag,
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
        self.begin(active, resolved, d);
    }

    /// The exploration is under way: its first entropy step, its event, its state.
    fn begin(&mut self, ex: Active, resolved: ResolvedProfile, d: &mut Decision) {
        let entropy = rules::shaped(
            &resolved,
            ex.factor,
            0,
            ex.duration,
            &mut self.t.s.counters.errors,
        );
        let name = resolved.profile().name();
        self.t.events.push(Event::ExplorationStarted {
            step: ex.started_step,
            trigger: ex.trigger,
            profile: name.clone(),
            tag: ex.tag.clone(),
            entropy_factor: ex.factor,
            duration: ex.duration,
            predicted_gain: ex.predicted_gain,
        });
        set(
            d,
            Action::InjectEntropy,
            Mode::Exploring,
            ex.trigger.reason(),
            entropy,
        );
        d.exploration = Some(ExplorationInfo {
            profile: name,
            k: 0,
            duration: ex.duration,
            progress: 0.0,
        });
        d.predicted_gain = ex.predicted_gain;
        self.t.s.counters.explorations_started += 1;
        self.t.s.after.clear();
        self.t.s.exploration = Some(ex);
        self.t.active = Some(resolved);
    }

    /// The quality gate (specification §7): with a threshold set and a model prediction below
    /// it, the exploration is refused, except that the first refusal of an episode lets a
    /// share `gate_exploration_rate` through, on one seeded draw.
    fn gate_refuses(&mut self, prediction: Prediction, d: &mut Decision) -> bool {
        let (Some(min), Prediction::Model(p)) =
            (self.config.quality.min_predicted_gain, prediction)
        else {
            return false;
        };
        if p >= min {
            return false;
        }
        let let_through = self.t.s.refusal != Some(Refusal::LowPredictedGain)
            && unit_draw(&mut self.t.rng) < self.config.quality.gate_exploration_rate;
        if let_through {
            return false;
        }
        self.refuse(Refusal::LowPredictedGain);
        set(
            d,
            Action::Maintain,
            Mode::Stable,
            Reason::LowPredictedGain,
            0.0,
        );
        d.predicted_gain = Some(p);
        true
    }

    /// The model's sample count, the features and the prediction, read under one lock of
    /// the learning so that they agree with each other.
    fn predict(
        &mut self,
        obs: &Observation<'_>,
        raw_factor: f64,
        duration: u32,
    ) -> (u64, Features, Prediction) {
        let mut guard = self.l.lock();
        let l = &mut *guard;
        let samples_seen = l.model.samples_seen();
        let features = rules::features(
            &obs.values,
            raw_factor,
            duration,
            self.config.max_exploration_steps,
            samples_seen,
        );
        let ctx = PredictionContext {
            observation: *obs,
            features: &features,
            model: &l.model,
        };
        let prediction = match l.predictor.predict(&ctx) {
            Prediction::Model(p) | Prediction::Reported(p) if !p.is_finite() => {
                self.t.s.counters.errors += 1;
                Prediction::None
            }
            p => p,
        };
        (samples_seen, features, prediction)
    }

    /// The selector's choice, resolved against the registry; an unusable choice falls back to
    /// the default selector's (keeping the tag) and counts as an error.
    fn select(
        &mut self,
        obs: &Observation<'_>,
        trigger: Trigger,
        base_factor: f64,
        duration: u32,
        prediction: Prediction,
        features: &Features,
    ) -> (ResolvedProfile, Option<Tag>) {
        let mut guard = self.l.lock();
        let l = &mut *guard;
        let texts = self.outbox.is_some().then_some(&mut self.t.pending_texts);
        let learned = l.learned.as_mut().map(|learned| {
            learned.choose_with(
                obs,
                trigger,
                &l.default_selector,
                &mut self.t.rng,
                &mut self.t.pending,
                texts,
            )
        });
        let Selection { profile, tag } = match (&mut l.selector, learned) {
            (Some(selector), learned) => selector.select(&SelectionContext {
                observation: *obs,
                trigger,
                base_factor,
                duration,
                prediction,
                features,
                default: &l.default_selector,
                learned: learned.as_ref(),
            }),
            (None, Some(learned)) => learned.into(),
            (None, None) => l.default_selector.choose(obs).into(),
        };
        let resolved = match l.registry.resolve(profile) {
            Ok(r) => r,
            Err(_) => {
                self.t.s.counters.errors += 1;
                let fallback = l.default_selector.choose(obs);
                // The default selector's parameters are validated with the config, so this
                // cannot fail; fall back to the constant shape all the same.
                l.registry
                    .resolve(fallback)
                    .unwrap_or_else(|_| ResolvedProfile::constant())
            }
        };
        (resolved, tag)
    }

    /// Rule 4: continue, prune, or complete.
    #[inline]
    fn exploring_step(&mut self, obs: &Observation<'_>, step: u64, d: &mut Decision) {
        let Some(ex) = self.t.s.exploration.as_mut() else {
            // Unreachable with a consistent state; recover into stable rather than panic.
            let mode = self.enter_stable();
            return set(d, Action::Maintain, mode, Reason::InBand, 0.0);
        };
        push_capped(
            &mut self.t.s.after,
            self.config.gain_window,
            obs.values.performance(),
        );
        let k = ex.k;
        let baseline = self.t.s.baseline.unwrap_or(obs.values.aesthetic_score);
        let end = if k >= ex.duration {
            Some((OutcomeKind::Completed, Reason::Completed))
        } else if rules::prunes(k, obs.values.aesthetic_score, baseline, self.config) {
            Some((OutcomeKind::Pruned, Reason::Pruned))
        } else {
            None
        };
        let Some((kind, reason)) = end else {
            let entropy = match &self.t.active {
                Some(active) => rules::shaped(
                    active,
                    ex.factor,
                    k,
                    ex.duration,
                    &mut self.t.s.counters.errors,
                ),
                None => ex.factor,
            };
            ex.k = k + 1;
            let (duration, progress) = (ex.duration, f64::from(k) / f64::from(ex.duration));
            set(
                d,
                Action::ContinueExploration,
                Mode::Exploring,
                Reason::Exploring,
                entropy,
            );
            match &mut d.exploration {
                // Reuse the caller's info: no name to clone or drop on most steps.
                Some(info) if info.profile.as_str() == ex.profile.name_str() => {
                    info.k = k;
                    info.duration = duration;
                    info.progress = progress;
                }
                slot => {
                    *slot = Some(ExplorationInfo {
                        profile: ex.profile.name(),
                        k,
                        duration,
                        progress,
                    });
                }
            }
            return;
        };
        let Some(ex) = self.t.s.exploration.take() else {
            return set(d, Action::Maintain, Mode::Stable, Reason::InBand, 0.0);
        };
        let mode = self.begin_recovery();
        set(d, Action::EndExploration, mode, reason, 0.0);
        self.finish(ex, kind, k, step, d);
    }

    /// The counters, the cumulative gain, the model and the recent gains learn of an ended
    /// exploration (specification §7, §8); whether it was successful. The model learns in
    /// [`teach`](Self::teach), under the learning's lock.
    fn account(&mut self, kind: OutcomeKind, gain: f64) -> bool {
        let successful = gain > self.config.success_gain;
        let c = &mut self.t.s.counters;
        match kind {
            OutcomeKind::Completed => c.completed += 1,
            OutcomeKind::Pruned => c.pruned += 1,
            OutcomeKind::Aborted => c.aborted += 1,
        }
        if successful {
            c.successful += 1;
        }
        self.t.s.cumulative_gain += gain;
        push_capped(&mut self.t.s.recent, self.config.recent_window, gain);
        successful
    }

    /// The learning's one short section at an exploration's end: the model, the predictor's
    /// feedback, the learned selector, the custom selector's feedback, in that order.
    /// With an outbox, the lesson is kept for a learning that learns later, in a shared order
    /// (a fleet's log), and this section does not run here.
    fn teach(&mut self, record: &ExplorationRecord) {
        if let Some(outbox) = &mut self.outbox {
            outbox.push(Lesson {
                record: record.clone(),
                context: self.t.pending.take(),
                texts: std::mem::take(&mut self.t.pending_texts),
            });
            return;
        }
        let mut guard = self.l.lock();
        self.t.s.counters.errors += guard.apply(record, &mut self.t.pending);
    }

    /// Accounts for an ended exploration (specification §8) and hands it to the policies, in
    /// the order the policy module documents: gain and counters, the model, the predictor's
    /// feedback, the selector's feedback, the event, the history.
    fn finish(&mut self, ex: Active, kind: OutcomeKind, k: u32, step: u64, d: &mut Decision) {
        let (gain, final_performance) =
            rules::gain(self.t.s.after.iter(), ex.trigger_values.performance());
        self.t.s.after.clear();
        self.t.active = None;
        let successful = self.account(kind, gain);
        if let (Some(p), false) = (ex.predicted_gain, kind == OutcomeKind::Aborted) {
            self.t.s.calibration.score(p, gain);
        }
        let name = ex.profile.name();
        let record = ExplorationRecord {
            started_step: ex.started_step,
            ended_step: step,
            trigger: ex.trigger,
            profile: ex.profile,
            tag: ex.tag,
            initial_state: ex.trigger_values,
            entropy_factor: ex.raw_factor,
            adjusted_factor: ex.factor,
            duration: ex.duration,
            entropy_steps: k,
            outcome: kind,
            creative_gain: gain,
            successful,
            final_performance,
            predicted_gain: ex.predicted_gain,
            samples_seen: ex.samples_seen,
            features: ex.features,
        };
        self.teach(&record);
        self.t.events.push(Event::ExplorationEnded {
            step,
            profile: name.clone(),
            tag: record.tag.clone(),
            outcome: kind,
            gain,
            duration: ex.duration,
            entropy_steps: k,
            predicted_gain: ex.predicted_gain,
            cumulative_gain: self.t.s.cumulative_gain,
        });
        push_capped(&mut self.t.s.history, self.t.history_capacity, record);
        d.exploration = Some(ExplorationInfo {
            profile: name,
            k,
            duration: ex.duration,
            progress: f64::from(k) / f64::from(ex.duration),
        });
        d.outcome = Some(Outcome {
            kind,
            gain,
            entropy_steps: k,
        });
    }
}

//! The learned selector: a contextual bandit over the registered profiles that learns from
//! every ended exploration which profile pays in which context (`docs/learning.md`).
//!
//! Each profile is an arm with its own discounted ridge regression of gain on a context
//! vector; an exploration takes the arm with the highest upper confidence bound
//! `θ·x + exploration·√(xᵀA⁻¹x)`, plus a fading bonus for the default selector's choice.
//! It draws no random numbers: the same outcomes in the same order give the same choices.

mod arm;
mod config;

use creative_feedback_profiles::Profile;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::rand_core::Rng;

use crate::decision::Trigger;
use crate::policy::DefaultSelector;
use crate::records::ExplorationRecord;
use crate::state::{AttributeValue, Observation};
use crate::Error;

use arm::{Arm, Scratch};
pub use config::{
    ContextFeature, LearnedConfig, SelectorKind, Strategy, MAX_ATTRIBUTES, MAX_ATTRIBUTE_VALUES,
};

/// Recent gains enter the context in tenths, the scale of a successful exploration, so that
/// one ridge penalty suits every feature.
const GAIN_SCALE: f64 = 10.0;

/// What recent explorations returned: some contexts show only in outcomes.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
struct OutcomeMemory {
    /// Per profile, a moving average of its gains that fades as other profiles are used.
    gains: Vec<f64>,
    /// Moving average of entropy steps / planned steps (pruned explorations are short).
    completion: f64,
}

/// One arm's state, for reports and dashboards.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ArmStatus {
    /// The profile.
    pub profile: String,
    /// Explorations that used it.
    pub explorations: u64,
    /// Their mean gain (0 without any).
    pub mean_gain: f64,
    /// The discounted number of outcomes behind its estimate.
    pub effective_samples: f64,
    /// Its estimated gain in the latest context (the model's, plus the recent offset).
    pub estimate: f64,
    /// How much better than its model it did lately (part of `estimate`).
    pub recent_offset: f64,
    /// The half-width of that estimate (√(xᵀA⁻¹x)).
    pub uncertainty: f64,
}

/// Buffers kept between calls so that choosing and learning allocate nothing once warm. They
/// hold no state: two selectors with different buffers are equal.
#[derive(Debug, Clone, Default)]
struct Buffers {
    /// For the next context.
    spare: Vec<f64>,
    /// For refitting.
    scratch: Scratch,
    /// The custom profiles' arms as profiles (built-ins get their parameters per state).
    customs: Vec<(String, Profile)>,
}

impl PartialEq for Buffers {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// A contextual bandit choosing among the registered profiles (`[selector] kind = "learned"`).
///
/// The loop owns one when its config asks for it, prepares it at every exploration start
/// (whoever chooses), and teaches it every ended exploration, whichever selector chose it.
/// A custom selector reads its choice as [`SelectionContext::learned`](crate::SelectionContext)
/// and may fall back on it.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LearnedSelector {
    config: LearnedConfig,
    /// λ_max is divided by this in the context.
    emergency_lambda: f64,

    arms: Vec<Arm>,
    memory: OutcomeMemory,
    /// Per text attribute, its values in order of first sight.
    categories: Vec<Vec<String>>,
    /// The context of the exploration in progress; `None` between explorations.
    pending: Option<Vec<f64>>,
    #[cfg_attr(feature = "serde", serde(skip))]
    buffers: Buffers,
    /// The last context seen, for reports.
    last: Vec<f64>,
}

impl LearnedSelector {
    /// A selector with no data over these profile names (built-ins and registered customs).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when the settings cannot work or there are no profiles.
    pub fn new<'a>(
        config: LearnedConfig,
        emergency_lambda: f64,
        profiles: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, Error> {
        let mut check = crate::config::Check::new();
        config.check(&mut check);
        check.into_result()?;
        let names: Vec<&str> = profiles.into_iter().collect();
        let arm_count = names.len();
        let dim = context_dim(&config, arm_count);
        let arms: Vec<Arm> = names
            .into_iter()
            .map(|name| Arm::new(name.to_owned(), dim, config.regularization))
            .collect();
        if arms.is_empty() {
            return Err(Error::InvalidConfig {
                key: "selector.kind",
                reason: "a learned selector needs at least one profile".into(),
            });
        }
        Ok(Self {
            categories: vec![Vec::new(); config.attributes.len()],
            config,
            emergency_lambda,
            arms,
            memory: OutcomeMemory {
                gains: vec![0.0; arm_count],
                completion: 1.0,
            },
            pending: None,
            buffers: Buffers {
                spare: vec![0.0; dim],
                ..Buffers::default()
            },
            last: vec![0.0; dim],
        })
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &LearnedConfig {
        &self.config
    }

    /// The width of the context vector.
    #[must_use]
    pub fn context_dim(&self) -> usize {
        context_dim(&self.config, self.arms.len())
    }

    /// Every arm's state, in profile order, estimated in the latest context.
    #[must_use]
    pub fn arms(&self) -> Vec<ArmStatus> {
        self.arms
            .iter()
            .map(|arm| {
                let (estimate, uncertainty) = arm.estimate(&self.last);
                ArmStatus {
                    profile: arm.name.clone(),
                    explorations: arm.pulls,
                    mean_gain: if arm.pulls == 0 {
                        0.0
                    } else {
                        arm.gain_sum / arm.pulls as f64
                    },
                    effective_samples: arm.weight,
                    estimate: estimate + arm.offset(),
                    recent_offset: arm.offset(),
                    uncertainty,
                }
            })
            .collect()
    }

    /// Builds the context of an exploration starting now, keeps it for the outcome, and
    /// returns the arm with the highest score (its profile, with the default selector's
    /// parameters for built-ins). Thompson sampling draws one normal number per arm from
    /// `rng`. A loop calls this at every exploration start; call it yourself only to drive a
    /// selector outside a loop, with [`learn`](Self::learn) after each outcome.
    pub fn choose<R: Rng + ?Sized>(
        &mut self,
        obs: &Observation<'_>,
        trigger: Trigger,
        default: &DefaultSelector,
        rng: &mut R,
    ) -> Profile {
        let mut pending = self.pending.take();
        let profile = self.choose_with(obs, trigger, default, rng, &mut pending, None);
        self.pending = pending;
        profile
    }

    /// [`choose`](Self::choose), keeping the context in `pending`, which the caller hands
    /// back to [`learn_with`](Self::learn_with): so that one selector can serve many
    /// trajectories, each with an exploration of its own in progress. With `texts`, the
    /// learning happens elsewhere, in a shared order: a text value not seen yet gets no slot
    /// here (it would get one in this selector's order of sight), and every text attribute's
    /// value is kept in `texts` for the learnings to give it their slot, in the shared order.
    pub(crate) fn choose_with<R: Rng + ?Sized>(
        &mut self,
        obs: &Observation<'_>,
        trigger: Trigger,
        default: &DefaultSelector,
        rng: &mut R,
        pending: &mut Option<Vec<f64>>,
        texts: Option<&mut Vec<Option<String>>>,
    ) -> Profile {
        let mut x = pending
            .take()
            .unwrap_or_else(|| std::mem::take(&mut self.buffers.spare));
        let default_choice = default.choose(obs);
        // Learning elsewhere, the latest context is the latest learned, the same on every
        // learning; here it is the latest chosen.
        let report_here = texts.is_none();
        self.fill_context(obs, trigger, &default_choice, &mut x, texts);
        let default_name = default_choice.name_str();
        let mut best = (0, f64::NEG_INFINITY);
        // With no data, xᵀA⁻¹x = |x|²/λ; the local evidence is how far 1/(xᵀA⁻¹x) has grown.
        let no_data = self.config.regularization / x.iter().map(|v| v * v).sum::<f64>().max(1e-12);
        for (i, arm) in self.arms.iter().enumerate() {
            let (mean, width) = arm.estimate(&x);
            let prior = if arm.name == default_name {
                let evidence = (1.0 / (width * width).max(1e-12) - no_data).max(0.0);
                self.config.prior * self.config.prior_fade / (self.config.prior_fade + evidence)
            } else {
                0.0
            };
            let spread = match self.config.strategy {
                Strategy::Ucb => 1.0,
                Strategy::Thompson => StandardNormal.sample(rng),
            };
            let score = mean
                + arm.offset()
                + self.config.exploration * width * spread
                + self.config.recent_bonus / (1.0 + arm.recent_weight)
                + prior;
            if score > best.1 {
                best = (i, score);
            }
        }
        if report_here {
            self.last.copy_from_slice(&x);
        }
        *pending = Some(x);
        let name = self.arms[best.0].name.as_str();
        if name == default_name {
            return default_choice;
        }
        if let Some(profile) = default.profile_for(name, obs) {
            return profile;
        }
        match self.buffers.customs.iter().find(|(n, _)| n == name) {
            Some((_, profile)) => profile.clone(),
            None => {
                let profile = Profile::custom(name, crate::Params::new());
                self.buffers
                    .customs
                    .push((name.to_owned(), profile.clone()));
                profile
            }
        }
    }

    /// Learns from an ended exploration: every arm forgets a little, the arm of the record's
    /// profile adds the outcome with the context [`choose`](Self::choose) built, and the
    /// outcome features move towards it. A record with no context (an exploration resumed
    /// from a snapshot taken without this selector) only moves the outcome features. `false`
    /// when an arm could not be refitted (its previous estimate stays).
    pub fn learn(&mut self, record: &ExplorationRecord) -> bool {
        let mut pending = self.pending.take();
        self.learn_with(record, &mut pending)
    }

    /// [`learn`](Self::learn) with the context [`choose_with`](Self::choose_with) kept.
    pub(crate) fn learn_with(
        &mut self,
        record: &ExplorationRecord,
        pending: &mut Option<Vec<f64>>,
    ) -> bool {
        let gain = record.creative_gain;
        let mut ok = true;
        if let Some(x) = pending.take() {
            let (discount, regularization) = (self.config.discount, self.config.regularization);
            let name = record.profile.name_str();
            let recent_discount = self.config.recent_discount;
            for arm in &mut self.arms {
                arm.age_recent(recent_discount);
                arm.discount(discount, regularization);
                if arm.name == name && gain.is_finite() {
                    let (estimate, _) = arm.estimate(&x);
                    arm.add_recent(gain - estimate);
                    arm.add(&x, gain, 1.0);
                }
                ok &= arm.refit(&mut self.buffers.scratch);
            }
            self.buffers.spare = x;
        }
        if gain.is_finite() {
            let rate = self.config.outcome_memory;
            let completion = f64::from(record.entropy_steps) / f64::from(record.duration.max(1));
            let name = record.profile.name_str();
            for (g, arm) in self.memory.gains.iter_mut().zip(&self.arms) {
                let target = if arm.name == name { gain } else { 0.0 };
                *g += rate * (target - *g);
            }
            self.memory.completion += rate * (completion.min(1.0) - self.memory.completion);
        }
        ok
    }

    /// Moves the context of a snapshot's exploration in progress out of the selector (a loop
    /// keeps it with its trajectory).
    pub(crate) fn take_pending(&mut self) -> Option<Vec<f64>> {
        self.pending.take()
    }

    /// Puts a trajectory's context back, for a snapshot in the format-2 layout.
    pub(crate) fn set_pending(&mut self, pending: Option<Vec<f64>>) {
        self.pending = pending;
    }

    /// Checks a restored selector against the loop's config and profiles.
    pub(crate) fn check_restored<'a>(
        &mut self,
        config: &LearnedConfig,
        profiles: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), Error> {
        let names: Vec<&str> = profiles.into_iter().collect();
        let dim = context_dim(config, names.len());
        let arms: Vec<&str> = self.arms.iter().map(|a| a.name.as_str()).collect();
        if names != arms {
            return Err(Error::InvalidSnapshot(format!(
                "the learned selector has arms {arms:?} but the loop has profiles {names:?}; \
                 register the same custom profiles as when the snapshot was taken"
            )));
        }
        let consistent = self.arms.iter().all(|a| a.is_consistent(dim))
            && self.last.len() == dim
            && self.pending.as_ref().is_none_or(|p| p.len() == dim)
            && self.categories.len() == config.attributes.len()
            && self.memory.gains.len() == self.arms.len()
            && self.memory.gains.iter().all(|g| g.is_finite())
            && self.memory.completion.is_finite();
        if !consistent {
            return Err(Error::InvalidSnapshot(
                "the learned selector's matrices do not fit its context".into(),
            ));
        }
        // Settings that do not change the shape (exploration, prior, discount) may be retuned.
        self.config = config.clone();
        self.buffers.spare = vec![0.0; dim];
        Ok(())
    }

    fn fill_context(
        &mut self,
        obs: &Observation<'_>,
        trigger: Trigger,
        region: &Profile,
        x: &mut Vec<f64>,
        mut texts: Option<&mut Vec<Option<String>>>,
    ) {
        if let Some(texts) = texts.as_deref_mut() {
            texts.clear();
            texts.resize(self.config.attributes.len(), None);
        }
        let v = obs.values;
        let dim = self.context_dim();
        x.clear();
        x.push(1.0);
        let flag = |on: bool| f64::from(u8::from(on));
        for feature in &self.config.context {
            match feature {
                ContextFeature::Region => {
                    let name = region.name_str();
                    x.extend_from_slice(&[
                        flag(name == "exponential_decay"),
                        flag(name == "pulse"),
                        flag(name == "cosine_ramp"),
                    ]);
                }
                ContextFeature::Trigger => x.extend_from_slice(&[
                    flag(trigger == Trigger::Momentum),
                    flag(trigger == Trigger::Stagnation),
                ]),
                ContextFeature::Novelty => x.push(v.novelty),
                ContextFeature::AestheticScore => x.push(v.aesthetic_score),
                ContextFeature::Volatility => x.push(v.volatility),
                ContextFeature::LambdaRatio => {
                    x.push((v.lambda_max / self.emergency_lambda).min(2.0))
                }
                ContextFeature::RecentGains => x.extend(
                    self.memory
                        .gains
                        .iter()
                        .map(|g| (GAIN_SCALE * g).clamp(-10.0, 10.0)),
                ),
                ContextFeature::RecentCompletion => x.push(self.memory.completion),
            }
        }
        let at_attributes = x.len();
        x.resize(dim, 0.0);
        let slots = self.config.attribute_values as usize;
        for (i, key) in self.config.attributes.iter().enumerate() {
            let at = at_attributes + i * slots;
            match obs.attribute(key) {
                Some(AttributeValue::Number(n)) if n.is_finite() => x[at] = n.clamp(-1e6, 1e6),
                Some(AttributeValue::Bool(b)) => x[at] = flag(*b),
                Some(AttributeValue::Text(text)) => {
                    let register = match texts.as_deref_mut() {
                        Some(texts) => {
                            texts[i] = Some(text.clone());
                            false
                        }
                        None => true,
                    };
                    let seen = self.categories.get_mut(i);
                    if let Some(slot) = seen.and_then(|seen| slot(seen, slots, text, register)) {
                        x[at + slot] = 1.0;
                    }
                }
                _ => {}
            }
        }
    }

    /// The context of a lesson chosen elsewhere, as this selector learns it: the text
    /// attributes' values get their slots in this selector's order (the shared order of the
    /// lessons, so every learning gives the same slots) and the context's attribute blocks are
    /// written in them; `None` for a context that does not fit.
    pub(crate) fn lesson_context(
        &mut self,
        context: Option<Vec<f64>>,
        texts: &[Option<String>],
    ) -> Option<Vec<f64>> {
        let mut x = context.filter(|x| x.len() == self.context_dim())?;
        let slots = self.config.attribute_values as usize;
        let at_attributes = x.len() - self.config.attributes.len() * slots;
        for (i, text) in texts.iter().enumerate().take(self.config.attributes.len()) {
            let Some(text) = text else {
                continue;
            };
            let at = at_attributes + i * slots;
            x[at..at + slots].fill(0.0);
            let seen = self.categories.get_mut(i);
            if let Some(slot) = seen.and_then(|seen| slot(seen, slots, text, true)) {
                x[at + slot] = 1.0;
            }
        }
        self.last.copy_from_slice(&x);
        Some(x)
    }

    /// The names of the context vector's entries, in order (for reports).
    #[must_use]
    pub fn context_names(&self) -> Vec<String> {
        let mut names = vec!["intercept".to_owned()];
        for feature in &self.config.context {
            match feature {
                ContextFeature::Region => names.extend(
                    ["region_volatile", "region_low_novelty", "region_ramp_band"].map(String::from),
                ),
                ContextFeature::Trigger => {
                    names.extend(["trigger_momentum", "trigger_stagnation"].map(String::from));
                }
                ContextFeature::RecentGains => {
                    names.extend(self.arms.iter().map(|a| format!("recent_gain_{}", a.name)))
                }
                other => names.push(other.as_str().to_owned()),
            }
        }
        for (i, key) in self.config.attributes.iter().enumerate() {
            let seen = self.categories.get(i).map_or(&[][..], Vec::as_slice);
            for slot in 0..self.config.attribute_values as usize {
                names.push(match seen.get(slot) {
                    Some(value) => format!("{key}={value}"),
                    None if slot == 0 => key.clone(),
                    None => format!("{key}#{slot}"),
                });
            }
        }
        names
    }
}

/// The slot of a text value among an attribute's `slots`: its own, in order of first sight
/// (given one when `register` and there is room), else the last slot, shared by the overflow;
/// `None` for a value not seen yet when not registering.
fn slot(seen: &mut Vec<String>, slots: usize, text: &str, register: bool) -> Option<usize> {
    match seen.iter().position(|s| s == text) {
        Some(slot) => Some(slot),
        None if !register => None,
        None if seen.len() < slots => {
            seen.push(text.to_owned());
            Some(seen.len() - 1)
        }
        None => Some(slots - 1),
    }
}

fn context_dim(config: &LearnedConfig, arms: usize) -> usize {
    1 + config.context.iter().map(|f| f.width(arms)).sum::<usize>()
        + config.attributes.len() * config.attribute_values as usize
}

#[cfg(test)]
mod tests;

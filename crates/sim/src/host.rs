//! The synthetic host: its hidden contexts and its equations (see `docs/simulator.md`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use creative_feedback_core::{Action, Decision, State};
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::Error;

/// A hidden context of the host: how much entropy it tolerates and which profiles pay off.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Context {
    /// A name for reports.
    pub name: &'static str,
    /// Entropy above this damages aesthetic quality and raises instability.
    pub tolerance: f64,
    /// Where novelty drifts on its own.
    pub novelty_mean: f64,
    /// Where volatility settles without entropy.
    pub volatility_mean: f64,
    /// How much each built-in profile's entropy pays off here, in the order
    /// constant, cosine_ramp, exponential_decay, pulse (custom profiles pay 1.0).
    pub affinity: [f64; 4],
}

/// The four contexts of the default host.
#[must_use]
pub fn default_contexts() -> Vec<Context> {
    vec![
        Context {
            name: "open",
            tolerance: 0.8,
            novelty_mean: 0.45,
            volatility_mean: 0.2,
            affinity: [1.3, 1.0, 0.9, 0.8],
        },
        Context {
            name: "fragile",
            tolerance: 0.35,
            novelty_mean: 0.5,
            volatility_mean: 0.2,
            affinity: [0.6, 1.4, 1.0, 0.5],
        },
        Context {
            name: "stuck",
            tolerance: 0.6,
            novelty_mean: 0.15,
            volatility_mean: 0.2,
            affinity: [0.9, 0.8, 0.7, 1.5],
        },
        Context {
            name: "overheated",
            tolerance: 0.5,
            novelty_mean: 0.75,
            volatility_mean: 0.75,
            affinity: [0.6, 1.0, 1.5, 0.4],
        },
    ]
}

/// Settings of the synthetic host. Defaults are documented in `docs/simulator.md`.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct HostConfig {
    /// Seed of the host's generator.
    pub seed: u64,
    /// The hidden contexts.
    pub contexts: Vec<Context>,
    /// Chance per step that the hidden context changes (1/3000).
    pub switch_probability: f64,
    /// When set, the host reports the hidden context's name under this attribute (the
    /// `attribute` scenario); otherwise the context shows only through its effects.
    pub context_attribute: Option<&'static str>,
    /// The coefficients of the host's equations.
    pub dynamics: Dynamics,
}

/// The coefficients of the host's equations (see `docs/simulator.md`).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Dynamics {
    /// Mean reversion of novelty per step (0.02).
    pub novelty_reversion: f64,
    /// Noise of novelty per step (0.015).
    pub novelty_noise: f64,
    /// Novelty added per unit of entropy (0.004).
    pub novelty_gain: f64,
    /// Where aesthetic quality settles (0.6).
    pub aesthetic_mean: f64,
    /// Mean reversion of aesthetic quality per step (0.02).
    pub aesthetic_reversion: f64,
    /// Noise of aesthetic quality per step (0.02).
    pub aesthetic_noise: f64,
    /// Scale of the aesthetic response to entropy (0.1): per unit of entropy, aesthetic
    /// quality moves by `aesthetic_benefit · (affinity · (1 − a) − aesthetic_neutral)`.
    pub aesthetic_benefit: f64,
    /// The affinity-weighted room below which entropy lowers quality even within tolerance (0.4).
    pub aesthetic_neutral: f64,
    /// Aesthetic damage per unit of entropy above tolerance (0.05).
    pub aesthetic_damage: f64,
    /// Resting `lambda_max` (0.01).
    pub lambda_base: f64,
    /// `lambda_max` added per squared unit of entropy (0.05).
    pub lambda_entropy: f64,
    /// `lambda_max` added per unit of entropy above tolerance (0.06).
    pub lambda_excess: f64,
    /// Noise of `lambda_max` per step (0.003).
    pub lambda_noise: f64,
    /// Chance per step of an instability shock (0.0005).
    pub shock_probability: f64,
    /// Size of a shock, drawn uniformly from this range ([0.05, 0.12]).
    pub shock_size: [f64; 2],
}

impl Default for Dynamics {
    fn default() -> Self {
        Self {
            novelty_reversion: 0.02,
            novelty_noise: 0.015,
            novelty_gain: 0.004,
            aesthetic_mean: 0.6,
            aesthetic_reversion: 0.02,
            aesthetic_noise: 0.02,
            aesthetic_benefit: 0.1,
            aesthetic_neutral: 0.4,
            aesthetic_damage: 0.05,
            lambda_base: 0.01,
            lambda_entropy: 0.05,
            lambda_excess: 0.06,
            lambda_noise: 0.003,
            shock_probability: 0.0005,
            shock_size: [0.05, 0.12],
        }
    }
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            contexts: default_contexts(),
            switch_probability: 1.0 / 3000.0,
            context_attribute: None,
            dynamics: Dynamics::default(),
        }
    }
}

impl HostConfig {
    /// The default host with this seed.
    #[must_use]
    pub fn seeded(seed: u64) -> Self {
        Self {
            seed,
            ..Self::default()
        }
    }

    fn validate(&self) -> Result<(), Error> {
        if self.contexts.is_empty() {
            return Err(Error::InvalidHost("at least one context is needed".into()));
        }
        let d = &self.dynamics;
        let probabilities = [self.switch_probability, d.shock_probability];
        if probabilities.iter().any(|p| !(0.0..=1.0).contains(p)) {
            return Err(Error::InvalidHost(
                "probabilities must lie in [0, 1]".into(),
            ));
        }
        let numbers = [
            d.novelty_reversion,
            d.novelty_noise,
            d.novelty_gain,
            d.aesthetic_mean,
            d.aesthetic_reversion,
            d.aesthetic_noise,
            d.aesthetic_benefit,
            d.aesthetic_neutral,
            d.aesthetic_damage,
            d.lambda_base,
            d.lambda_entropy,
            d.lambda_excess,
            d.lambda_noise,
            d.shock_size[0],
            d.shock_size[1],
        ];
        let contexts_ok = self.contexts.iter().all(|c| {
            [c.tolerance, c.novelty_mean, c.volatility_mean]
                .iter()
                .chain(&c.affinity)
                .all(|v| v.is_finite() && *v >= 0.0)
        });
        if numbers.iter().any(|v| !(v.is_finite() && *v >= 0.0))
            || d.shock_size[0] > d.shock_size[1]
            || !contexts_ok
        {
            return Err(Error::InvalidHost(
                "every coefficient must be a finite number ≥ 0, and shock_size ordered".into(),
            ));
        }
        Ok(())
    }
}

/// The hidden truth at a step, for tests and reports; never read by the loop.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct HostTruth {
    /// Index of the current context.
    pub context: usize,
    /// Its name.
    pub name: &'static str,
    /// Its entropy tolerance.
    pub tolerance: f64,
    /// Its profile affinities (constant, cosine_ramp, exponential_decay, pulse).
    pub affinity: [f64; 4],
}

/// The synthetic host: novelty, aesthetic quality, volatility and instability that react to the
/// loop's decisions under a hidden context. Same seed, same run, bit for bit.
#[derive(Debug, Clone)]
pub struct Host {
    config: HostConfig,
    rng: Xoshiro256PlusPlus,
    context: usize,
    novelty: f64,
    aesthetic: f64,
    volatility: f64,
    lambda: f64,
    /// The current context for an oracle policy, shared with every [`ContextProbe`].
    probe: Arc<AtomicUsize>,
}

/// A window on the host's hidden context, for an oracle policy that is allowed to cheat
/// (a learning policy must not). Clones of the host share it.
#[derive(Debug, Clone)]
pub struct ContextProbe(Arc<AtomicUsize>);

impl ContextProbe {
    /// The index of the host's current context.
    #[must_use]
    pub fn context(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

fn affinity_index(profile: &str) -> Option<usize> {
    match profile {
        "constant" => Some(0),
        "cosine_ramp" => Some(1),
        "exponential_decay" => Some(2),
        "pulse" => Some(3),
        _ => None,
    }
}

impl Host {
    /// A host with these settings.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHost`] for settings that cannot work.
    pub fn new(config: HostConfig) -> Result<Self, Error> {
        config.validate()?;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(config.seed);
        let context = (rng.next_u64() % config.contexts.len() as u64) as usize;
        let c = &config.contexts[context];
        let (novelty, volatility, aesthetic, lambda) = (
            c.novelty_mean,
            c.volatility_mean,
            config.dynamics.aesthetic_mean,
            config.dynamics.lambda_base,
        );
        Ok(Self {
            config,
            rng,
            context,
            novelty,
            aesthetic,
            volatility,
            lambda,
            probe: Arc::new(AtomicUsize::new(context)),
        })
    }

    /// A probe that reads the hidden context as it changes (for the oracle policy).
    #[must_use]
    pub fn probe(&self) -> ContextProbe {
        ContextProbe(Arc::clone(&self.probe))
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// What the host reports this step.
    #[must_use]
    pub fn observe(&self) -> State {
        let state = State::new(self.novelty, self.aesthetic)
            .with_volatility(self.volatility)
            .with_lambda_max(self.lambda);
        match self.config.context_attribute {
            Some(key) => state.with_attribute(key, self.config.contexts[self.context].name),
            None => state,
        }
    }

    /// The hidden truth (for tests and reports only).
    #[must_use]
    pub fn truth(&self) -> HostTruth {
        let c = &self.config.contexts[self.context];
        HostTruth {
            context: self.context,
            name: c.name,
            tolerance: c.tolerance,
            affinity: c.affinity,
        }
    }

    fn normal(&mut self) -> f64 {
        StandardNormal.sample(&mut self.rng)
    }

    fn uniform(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Advances one step under the loop's decision.
    pub fn apply(&mut self, decision: &Decision) {
        if self.uniform() < self.config.switch_probability && self.config.contexts.len() > 1 {
            let others = self.config.contexts.len() as u64 - 1;
            let jump = 1 + (self.rng.next_u64() % others) as usize;
            self.context = (self.context + jump) % self.config.contexts.len();
            self.probe.store(self.context, Ordering::Relaxed);
        }
        let cfg_ctx = &self.config.contexts[self.context];
        let (tolerance, novelty_mean, volatility_mean) = (
            cfg_ctx.tolerance,
            cfg_ctx.novelty_mean,
            cfg_ctx.volatility_mean,
        );
        let e = if decision.action.is_entropy_step() {
            decision.entropy_factor
        } else {
            0.0
        };
        let affinity = decision
            .exploration
            .as_ref()
            .and_then(|x| affinity_index(&x.profile))
            .map_or(1.0, |i| cfg_ctx.affinity[i]);
        let excess = (e - tolerance).max(0.0);
        let c = self.config.dynamics;
        let (z1, z2, z3, z4) = (self.normal(), self.normal(), self.normal(), self.normal());

        self.novelty = (self.novelty
            + c.novelty_reversion * (novelty_mean - self.novelty)
            + c.novelty_noise * z1
            + c.novelty_gain * e)
            .clamp(0.0, 1.0);
        self.aesthetic = (self.aesthetic
            + c.aesthetic_reversion * (c.aesthetic_mean - self.aesthetic)
            + c.aesthetic_noise * z2
            + c.aesthetic_benefit * e * (affinity * (1.0 - self.aesthetic) - c.aesthetic_neutral)
            - c.aesthetic_damage * excess)
            .clamp(0.0, 1.0);
        self.volatility =
            (0.9 * self.volatility + 0.1 * (volatility_mean + 0.6 * e) + 0.02 * z3).clamp(0.0, 1.0);
        let target = c.lambda_base + c.lambda_entropy * e * e + c.lambda_excess * excess;
        let mut lambda = (0.9 * self.lambda + 0.1 * target + c.lambda_noise * z4).max(0.0);
        if matches!(decision.action, Action::EmergencyHalt | Action::Recover) {
            lambda *= decision.lambda_factor;
        }
        if self.uniform() < c.shock_probability {
            let u = self.uniform();
            lambda += c.shock_size[0] + u * (c.shock_size[1] - c.shock_size[0]);
        }
        self.lambda = lambda;
    }
}

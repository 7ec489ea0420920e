//! The settings of the learned selector (`[selector.learned]`, `docs/learning.md`).

use crate::config::Check;

/// Which built-in selector chooses profiles when no custom selector is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum SelectorKind {
    /// The fixed thresholds of the default selector (specification §6).
    #[default]
    Default,
    /// The contextual bandit that learns which profile pays ([`LearnedSelector`](crate::LearnedSelector)).
    Learned,
}

impl SelectorKind {
    /// The name used in configuration files.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Learned => "learned",
        }
    }
}

/// A part of the learned selector's context vector (`[selector.learned] context`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum ContextFeature {
    /// Which profile the default selector would take here (3 indicators: volatile, low
    /// novelty, ramp band; the rest is the baseline): the state's region, summarised.
    Region,
    /// What triggered the exploration (2 indicators: momentum, stagnation; plateau is the
    /// baseline).
    Trigger,
    /// Novelty at the trigger.
    Novelty,
    /// Aesthetic score at the trigger.
    AestheticScore,
    /// Volatility at the trigger.
    Volatility,
    /// `lambda_max / emergency_lambda` at the trigger.
    LambdaRatio,
    /// Per profile, a moving average of its recent gains (in tenths), fading as other
    /// profiles are used.
    RecentGains,
    /// A moving average of how much of their planned steps recent explorations ran (pruned
    /// ones run few).
    RecentCompletion,
}

impl ContextFeature {
    /// How many numbers the feature takes with `arms` profiles.
    #[must_use]
    pub fn width(self, arms: usize) -> usize {
        match self {
            Self::Region => 3,
            Self::Trigger => 2,
            Self::RecentGains => arms,
            _ => 1,
        }
    }

    /// The feature's name in configuration files.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Region => "region",
            Self::Trigger => "trigger",
            Self::Novelty => "novelty",
            Self::AestheticScore => "aesthetic_score",
            Self::Volatility => "volatility",
            Self::LambdaRatio => "lambda_ratio",
            Self::RecentGains => "recent_gains",
            Self::RecentCompletion => "recent_completion",
        }
    }
}

/// How the learned selector balances trying profiles against using the best estimate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Strategy {
    /// Thompson sampling: each arm's score is drawn from its estimate's distribution,
    /// `θ·x + exploration·√(xᵀA⁻¹x)·z` with `z` standard normal from the loop's seeded
    /// generator.
    #[default]
    Thompson,
    /// Upper confidence bound: `θ·x + exploration·√(xᵀA⁻¹x)`; draws nothing.
    Ucb,
}

/// Most attributes a learned selector may read: each widens every arm's model.
pub const MAX_ATTRIBUTES: usize = 8;

/// Most slots one text attribute may take.
pub const MAX_ATTRIBUTE_VALUES: u32 = 32;

/// Settings of the learned selector (`[selector.learned]`).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct LearnedConfig {
    /// `thompson` (default) or `ucb`.
    pub strategy: Strategy,
    /// Scale of the exploration term, in units of gain (0.03; ≥ 0): with Thompson sampling the
    /// spread of each score's draw, with UCB the weight of its bonus. Higher tries uncertain
    /// profiles more often; 0 always takes the best estimate.
    pub exploration: f64,
    /// Ridge regularisation of each arm's model (1; > 0).
    pub regularization: f64,
    /// Forgetting of the context model: every ended exploration multiplies the weight of all
    /// earlier ones by this (0.999; in (0, 1], 1 never forgets). A weight halves after
    /// ln ½ / ln discount explorations (about 690 at 0.999).
    pub discount: f64,
    /// Forgetting of the recent offsets, which track what the context model cannot see
    /// (0.5; in (0, 1)): each ended exploration multiplies their evidence by this.
    pub recent_discount: f64,
    /// Bonus, in units of gain, for a profile not tried lately: `recent_bonus / (1 + w)` with
    /// `w` its recent evidence (0.01; ≥ 0). It makes the selector look again at a profile
    /// once what it knew of the present context has faded.
    pub recent_bonus: f64,
    /// Bonus, in units of gain, for the default selector's choice (0.08; ≥ 0). It fades as
    /// that profile gathers evidence in contexts like the present one; 0 learns from scratch.
    pub prior: f64,
    /// Local evidence (in outcomes) at which the prior's bonus has halved (20; > 0).
    pub prior_fade: f64,
    /// How quickly the outcome features follow the latest exploration (0.5; in (0, 1]):
    /// each ended exploration moves them this share of the way to its own values.
    pub outcome_memory: f64,
    /// What the context vector holds besides an intercept and the attributes, in order
    /// (`["region", "trigger"]`); each feature at most once.
    pub context: Vec<ContextFeature>,
    /// Attributes of the state (at most 8) that enter the context: a number as it is, a flag
    /// as 1 or 0, a text value as one of `attribute_values` slots, assigned in order of first
    /// sight.
    pub attributes: Vec<String>,
    /// Slots per attribute (8; 1 to 32): distinct text values beyond this share the last.
    pub attribute_values: u32,
}

impl Default for LearnedConfig {
    fn default() -> Self {
        Self {
            strategy: Strategy::Thompson,
            exploration: 0.03,
            regularization: 1.0,
            discount: 0.999,
            recent_discount: 0.5,
            recent_bonus: 0.01,
            prior: 0.08,
            prior_fade: 20.0,
            outcome_memory: 0.5,
            context: vec![ContextFeature::Region, ContextFeature::Trigger],
            attributes: Vec::new(),
            attribute_values: 8,
        }
    }
}

impl LearnedConfig {
    pub(crate) fn check(&self, c: &mut Check) {
        c.rule(
            "selector.learned.exploration",
            self.exploration >= 0.0 && self.exploration <= 100.0,
            "must be a number in [0, 100]",
        );
        c.rule(
            "selector.learned.regularization",
            self.regularization > 0.0 && self.regularization <= 1e6,
            "must be a number in (0, 1e6]",
        );
        c.rule(
            "selector.learned.discount",
            self.discount > 0.0 && self.discount <= 1.0,
            "must be a number in (0, 1]",
        );
        c.rule(
            "selector.learned.recent_discount",
            self.recent_discount > 0.0 && self.recent_discount < 1.0,
            "must be a number in (0, 1)",
        );
        c.rule(
            "selector.learned.recent_bonus",
            self.recent_bonus >= 0.0 && self.recent_bonus <= 100.0,
            "must be a number in [0, 100]",
        );
        c.rule(
            "selector.learned.prior",
            self.prior >= 0.0 && self.prior <= 100.0,
            "must be a number in [0, 100]",
        );
        c.rule(
            "selector.learned.prior_fade",
            self.prior_fade > 0.0 && self.prior_fade <= 1e9,
            "must be a number in (0, 1e9]",
        );
        c.rule(
            "selector.learned.outcome_memory",
            self.outcome_memory > 0.0 && self.outcome_memory <= 1.0,
            "must be a number in (0, 1]",
        );
        c.rule(
            "selector.learned.attributes",
            self.attributes.len() <= MAX_ATTRIBUTES,
            &format!("must name at most {MAX_ATTRIBUTES} attributes"),
        );
        c.rule(
            "selector.learned.attributes",
            self.attributes
                .iter()
                .all(|a| !a.is_empty() && a.len() <= 64),
            "must name each attribute with 1 to 64 bytes",
        );
        c.rule(
            "selector.learned.attributes",
            self.attributes
                .iter()
                .enumerate()
                .all(|(i, a)| !self.attributes[..i].contains(a)),
            "must not name an attribute twice",
        );
        c.rule(
            "selector.learned.context",
            self.context
                .iter()
                .enumerate()
                .all(|(i, f)| !self.context[..i].contains(f)),
            "must not name a feature twice",
        );
        c.rule(
            "selector.learned.attribute_values",
            (1..=MAX_ATTRIBUTE_VALUES).contains(&self.attribute_values),
            &format!("must be a whole number from 1 to {MAX_ATTRIBUTE_VALUES}"),
        );
    }
}

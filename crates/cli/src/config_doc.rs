//! The configuration as commented TOML: every key with its meaning and valid range.

use std::fmt::Write as _;

use anyhow::Result;
use creative_feedback::Config;

/// Every key, by `table.key` (top-level keys without a table), with its meaning and range.
pub const KEY_DOCS: &[(&str, &str)] = &[
    ("stability_threshold", "Minimum stability 1 − lambda_max/emergency_lambda to start an exploration, in [0, 1]. Higher = more conservative."),
    ("max_exploration_steps", "Longest exploration, in entropy steps (≥ min_exploration_steps, ≤ 1000000)."),
    ("min_exploration_steps", "Shortest exploration, in entropy steps (≥ 1)."),
    ("recovery_steps", "Recovery after an exploration or emergency, counting the step that enters it (≥ 1)."),
    ("novelty_high", "Novelty above this triggers `momentum`, in [0, 1]."),
    ("novelty_low", "Novelty below this triggers `stagnation`, in [0, 1], below novelty_high."),
    ("plateau_steps", "Stable steps without a trigger before `plateau` fires (≥ 1), or false to turn it off."),
    ("emergency_lambda", "lambda_max above this is an emergency halt (> 0)."),
    ("emergency_exit_ratio", "An emergency clears once lambda_max < this × emergency_lambda, in (0, 1]."),
    ("baseline_alpha", "Weight of each stable step's aesthetic score in the baseline average, in (0, 1]."),
    ("prune_tolerance", "Prune an exploration when aesthetic score < baseline × this (≥ 0)."),
    ("prune_grace_steps", "Entropy steps before pruning may happen."),
    ("success_gain", "An ended exploration with gain above this is successful."),
    ("input_mode", "\"lenient\": clamp out-of-range input with a warning; \"strict\": reject it."),
    ("gain_window", "How many of the last observed states enter an exploration's gain (1 to 10000)."),
    ("recent_window", "How many ended explorations the recent statistics cover (1 to 100000)."),
    ("trend_window", "How many accepted steps the performance trend covers (2 to 1000000)."),
    ("history_capacity", "How many ended explorations the history keeps (1 to 100000)."),
    ("seed", "Seed of the loop's generator (the quality gate's exploration draw)."),
    ("health_min_explorations", "More than this many ended explorations with low cumulative gain is `degraded`."),
    ("health_min_gain", "Cumulative gain below which many explorations mean `degraded`."),
    ("quality.min_samples", "Samples before the fitted model predicts (a prior predicts until then)."),
    ("quality.regularization", "Ridge strength λ (> 0): larger is more stable and stays nearer the prior."),
    ("quality.window", "How many recent samples the fit uses (1 to 100000)."),
    ("quality.feature_weights", "Prior weights: novelty, aesthetic, volatility, factor, duration, experience[, intercept]."),
    ("quality.min_predicted_gain", "Quality gate: refuse explorations predicted below this, in [-1, 1]; false turns it off."),
    ("quality.gate_exploration_rate", "Share of gate-refusal episodes let through anyway, in [0, 1]."),
    ("quality.adjust_below", "Below this prediction the base factor is scaled by adjust_down."),
    ("quality.adjust_above", "Above this prediction the base factor is scaled by adjust_up (≥ adjust_below)."),
    ("quality.adjust_down", "Scale for poor predictions (> 0; 1 = none: scaling down lowered the gain, docs/quality-model.md)."),
    ("quality.adjust_up", "Scale for good predictions (> 0)."),
    ("quality.factor_min", "Lower clamp of the adjusted factor, in [0, 1]."),
    ("quality.factor_max", "Upper clamp of the adjusted factor, in [factor_min, 1]."),
    ("selector.kind", "\"default\": the fixed thresholds below; \"learned\": a bandit that learns which profile pays (docs/learning.md)."),
    ("selector.volatile_above", "Volatility above this picks exponential_decay, in [0, 1]."),
    ("selector.pulse_below", "Otherwise novelty below this picks pulse, in [0, 1]."),
    ("selector.ramp_band", "Otherwise novelty strictly inside [low, high] picks cosine_ramp; else constant."),
    ("selector.ramp_fraction", "ramp_fraction of the chosen cosine ramp, in (0, 0.5]."),
    ("selector.decay_rate_base", "Decay rate = base + slope × volatility (base ≥ 0)."),
    ("selector.decay_rate_slope", "Slope of the decay rate (base + slope ≥ 0)."),
    ("selector.pulse_frequency_base", "Pulse frequency = base + slope × (1 − novelty) (base > 0)."),
    ("selector.pulse_frequency_slope", "Slope of the pulse frequency (base + slope > 0)."),
    ("selector.learned.strategy", "\"thompson\" (draws each score) or \"ucb\" (adds a bonus; draws nothing)."),
    ("selector.learned.exploration", "Scale of the exploration term, in units of gain, in [0, 100]; 0 = always the best estimate."),
    ("selector.learned.regularization", "Ridge strength of each profile's model, in (0, 1e6]."),
    ("selector.learned.discount", "Forgetting of the context model per ended exploration, in (0, 1]; 1 never forgets."),
    ("selector.learned.recent_discount", "Forgetting of the recent offsets per ended exploration, in (0, 1)."),
    ("selector.learned.recent_bonus", "Bonus (gain units, ≥ 0) for a profile not tried lately, fading as it is tried."),
    ("selector.learned.prior", "Bonus (gain units, ≥ 0) for the default selector's choice, fading with evidence; 0 learns from scratch."),
    ("selector.learned.prior_fade", "Local evidence (outcomes) at which the prior's bonus has halved (> 0)."),
    ("selector.learned.outcome_memory", "How far each outcome moves the recent-outcome features, in (0, 1]."),
    ("selector.learned.context", "Context features besides the intercept: region, trigger, novelty, aesthetic_score, volatility, lambda_ratio, recent_gains, recent_completion."),
    ("selector.learned.attributes", "State attributes (at most 8) that enter the context: numbers, flags, or text values."),
    ("selector.learned.attribute_values", "Slots per attribute for distinct text values (1 to 32); extra values share the last."),
];

/// Keys that are absent by default, shown commented out with an example value.
const OPTIONAL_EXAMPLES: &[(&str, &str)] = &[(
    "quality.feature_weights",
    "[0.3, 0.4, -0.2, 0.5, 0.1, 0.05]",
)];

fn doc(key: &str) -> Option<&'static str> {
    KEY_DOCS.iter().find(|(k, _)| *k == key).map(|(_, d)| *d)
}

/// The config as TOML with a comment above every key.
pub fn commented_toml(config: &Config) -> Result<String> {
    let plain = toml::to_string(config)?;
    let mut out = String::from(
        "# creative-feedback configuration. Every key is optional; shown are the values in use.\n\
         # Unknown keys are errors. Reference: docs/configuration.md\n\n",
    );
    let mut table = String::new();
    let flush_optional = |out: &mut String, table: &str| {
        for (key, example) in OPTIONAL_EXAMPLES {
            let (t, k) = key.rsplit_once('.').unwrap_or(("", key));
            if t == table && !plain_has(&plain, t, k) {
                let _ = writeln!(out, "# {}\n# {k} = {example}", doc(key).unwrap_or(""));
            }
        }
    };
    for line in plain.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            flush_optional(&mut out, &table);
            table = name.to_owned();
            let _ = writeln!(out, "\n{line}");
            continue;
        }
        if let Some((key, _)) = line.split_once(" = ") {
            let full = if table.is_empty() {
                key.to_owned()
            } else {
                format!("{table}.{key}")
            };
            if let Some(d) = doc(&full) {
                let _ = writeln!(out, "# {d}");
            }
        }
        if !line.is_empty() {
            let _ = writeln!(out, "{line}");
        }
    }
    flush_optional(&mut out, &table);
    Ok(out)
}

fn plain_has(plain: &str, table: &str, key: &str) -> bool {
    let mut current = "";
    for line in plain.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name;
        } else if current == table && line.starts_with(&format!("{key} = ")) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_toml_parses_back_to_the_defaults_and_every_key_is_documented() {
        let text = commented_toml(&Config::default()).unwrap_or_default();
        let back: Result<Config, _> = toml::from_str(&text);
        assert_eq!(back.ok(), Some(Config::default()));
        let mut table = "";
        for line in text.lines() {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                table = name;
            } else if let Some((key, _)) = line.trim_start_matches("# ").split_once(" = ") {
                if !key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                    continue;
                }
                let full = if table.is_empty() {
                    key.to_owned()
                } else {
                    format!("{table}.{key}")
                };
                assert!(doc(&full).is_some(), "undocumented key {full}");
            }
        }
        for (key, _) in KEY_DOCS {
            let (t, k) = key.rsplit_once('.').unwrap_or(("", key));
            let shown = plain_has(&text, t, k) || text.contains(&format!("# {k} = "));
            assert!(shown, "documented key {key} is not printed");
        }
    }
}

#[cfg(test)]
mod doc_tests {
    use super::*;

    #[test]
    fn the_configuration_reference_matches_the_printed_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
        let doc = std::fs::read_to_string(path).unwrap_or_default();
        let printed = commented_toml(&Config::default()).unwrap_or_default();
        assert!(
            doc.contains(&format!("```toml\n{printed}```")),
            "docs/configuration.md is out of date: regenerate its block with `crefl config --print-default`"
        );
    }
}

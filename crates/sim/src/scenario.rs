//! Named hosts that tell learning from luck (`crefl simulate --scenario NAME`,
//! `docs/simulator.md`).

use std::fmt;
use std::str::FromStr;

use creative_feedback_core::LearnedConfig;

use crate::host::{Context, HostConfig};

/// The attribute under which the `attribute` scenario reports its context.
pub const DOMAIN_ATTRIBUTE: &str = "domain";

/// A simulated host to run against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Scenario {
    /// The default host: four contexts, two of which (`open`, `fragile`) look alike in the
    /// state and reward different profiles.
    #[default]
    Current,
    /// Four domains that look alike in the state (novelty 0.5, volatility 0.2) and each
    /// reward a different profile; the domain is reported as `attributes.domain`. The default
    /// selector picks `cosine_ramp` almost always, which pays in one domain of four.
    Attribute,
    /// The default host's contexts changing ten times as often (every 300 steps on average).
    Drifting,
}

impl Scenario {
    /// Every scenario, in report order.
    pub const ALL: [Self; 3] = [Self::Current, Self::Attribute, Self::Drifting];

    /// The scenario's name on the command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Attribute => "attribute",
            Self::Drifting => "drifting",
        }
    }

    /// One line saying what the scenario tests.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::Current => "the default host; open and fragile contexts look alike in the state",
            Self::Attribute => {
                "four domains alike in the state, told apart only by attributes.domain"
            }
            Self::Drifting => "the default host, its contexts changing ten times as often",
        }
    }

    /// The host of this scenario with this seed.
    #[must_use]
    pub fn host(self, seed: u64) -> HostConfig {
        let base = HostConfig::seeded(seed);
        match self {
            Self::Current => base,
            Self::Attribute => HostConfig {
                contexts: domain_contexts(),
                context_attribute: Some(DOMAIN_ATTRIBUTE),
                ..base
            },
            Self::Drifting => HostConfig {
                switch_probability: base.switch_probability * 10.0,
                ..base
            },
        }
    }

    /// The attributes a learned selector should read on this host.
    #[must_use]
    pub fn attributes(self) -> &'static [&'static str] {
        match self {
            Self::Attribute => &[DOMAIN_ATTRIBUTE],
            Self::Current | Self::Drifting => &[],
        }
    }

    /// Adds this host's [`attributes`](Self::attributes) to a learned selector's settings,
    /// keeping those already named.
    pub fn add_attributes(self, learned: &mut LearnedConfig) {
        for a in self.attributes() {
            if !learned.attributes.iter().any(|x| x == a) {
                learned.attributes.push((*a).to_owned());
            }
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| {
                format!("unknown scenario `{s}`; expected current, attribute or drifting")
            })
    }
}

/// The `attribute` scenario's domains: alike in novelty and volatility, each paying best with
/// a different profile (affinities in the order constant, cosine_ramp, exponential_decay,
/// pulse).
#[must_use]
pub fn domain_contexts() -> Vec<Context> {
    let domain = |name, tolerance, affinity| Context {
        name,
        tolerance,
        novelty_mean: 0.5,
        volatility_mean: 0.2,
        affinity,
    };
    vec![
        domain("poetry", 0.7, [0.7, 0.8, 0.7, 1.5]),
        domain("code", 0.6, [1.4, 0.7, 0.8, 0.6]),
        domain("dialogue", 0.55, [0.7, 0.8, 1.5, 0.6]),
        domain("design", 0.5, [0.8, 1.4, 0.7, 0.6]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::default_contexts;

    #[test]
    fn names_round_trip_and_unknown_names_are_explained() {
        for s in Scenario::ALL {
            assert_eq!(s.name().parse::<Scenario>(), Ok(s));
        }
        let err = "nope".parse::<Scenario>().unwrap_err();
        assert!(err.contains("current, attribute or drifting"), "{err}");
    }

    #[test]
    fn the_drifting_host_switches_ten_times_as_often() {
        let (d, c) = (Scenario::Drifting.host(1), Scenario::Current.host(1));
        assert!((d.switch_probability - 10.0 * c.switch_probability).abs() < 1e-15);
        assert_eq!(d.contexts, default_contexts());
    }
}

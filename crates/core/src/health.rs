//! The health verdict (specification §9).

use std::fmt;

/// Healthy or degraded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum HealthStatus {
    /// All is well.
    Healthy,
    /// Something needs attention; see the reason.
    Degraded,
}

/// Why the loop is degraded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum HealthReason {
    /// More than `health_min_explorations` ended with cumulative gain below `health_min_gain`.
    LowCumulativeGain,
    /// The loop is halted in emergency mode.
    Emergency,
    /// A metric sink is failing (reported by streaming adapters).
    SinkFailing(String),
}

impl fmt::Display for HealthReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LowCumulativeGain => {
                f.write_str("Low cumulative gain despite multiple explorations")
            }
            Self::Emergency => f.write_str("Emergency halt in progress"),
            Self::SinkFailing(sink) => write!(f, "Metric sink `{sink}` is failing"),
        }
    }
}

/// The health verdict (specification §9).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Health {
    /// Healthy or degraded.
    pub status: HealthStatus,
    /// Why degraded.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub reason: Option<HealthReason>,
}

impl Health {
    /// A healthy verdict.
    #[must_use]
    pub fn healthy() -> Self {
        Self {
            status: HealthStatus::Healthy,
            reason: None,
        }
    }

    /// A degraded verdict.
    #[must_use]
    pub fn degraded(reason: HealthReason) -> Self {
        Self {
            status: HealthStatus::Degraded,
            reason: Some(reason),
        }
    }
}

//! Structured logs of the loop's transitions: the guide's structlog handler.

use async_trait::async_trait;
use creative_feedback_core::{Event, OutcomeKind, Tag};

use crate::dispatcher::Sink;
use crate::message::{Message, Payload};
use crate::SinkError;

/// Emits `tracing` events under the target `creative_feedback`:
///
/// - `creative_mode_transition` (`from_mode`, `to_mode`, `cumulative_gain`), info;
/// - `creative_exploration_started` (`profile`, `predicted_gain`, `entropy_factor`, `duration`,
///   `trigger`), info;
/// - `creative_exploration_completed` (`actual_gain`, `duration`, `profile`, `outcome`,
///   `entropy_steps`), info (warn when aborted);
/// - `creative_input_corrected` (`field`, `correction`), warn;
/// - `creative_metrics_snapshot` (`mode`, `steps`, `cumulative_gain`, `success_rate`), debug.
///
/// Install a subscriber in the executable (e.g. `tracing_subscriber::fmt().json()`) to see them.
#[derive(Debug, Clone, Default)]
pub struct TracingSink;

#[async_trait]
impl Sink for TracingSink {
    fn name(&self) -> &str {
        "tracing"
    }

    async fn send(&mut self, message: &Message) -> Result<(), SinkError> {
        log(message);
        Ok(())
    }
}

/// Logs one message as the tracing sink does (usable without a dispatcher).
pub fn log(message: &Message) {
    match &message.payload {
        Payload::Event(Event::ModeChanged {
            from,
            to,
            cumulative_gain,
            step,
        }) => {
            tracing::info!(target: "creative_feedback", message = "creative_mode_transition",
                from_mode = from.as_str(), to_mode = to.as_str(), cumulative_gain, step);
        }
        Payload::Event(Event::ExplorationStarted {
            profile,
            predicted_gain,
            entropy_factor,
            duration,
            trigger,
            step,
            tag,
        }) => {
            tracing::info!(target: "creative_feedback", message = "creative_exploration_started",
                profile = profile.as_str(), predicted_gain, entropy_factor, duration,
                trigger = trigger.as_str(), step, tag = tag.as_ref().map(Tag::as_str));
        }
        Payload::Event(Event::ExplorationEnded {
            profile,
            outcome,
            gain,
            duration,
            entropy_steps,
            step,
            tag,
            ..
        }) => {
            let tag = tag.as_ref().map(Tag::as_str);
            if *outcome == OutcomeKind::Aborted {
                tracing::warn!(target: "creative_feedback", message = "creative_exploration_completed",
                    actual_gain = gain, duration, profile = profile.as_str(),
                    outcome = outcome.as_str(), entropy_steps, step, tag);
            } else {
                tracing::info!(target: "creative_feedback", message = "creative_exploration_completed",
                    actual_gain = gain, duration, profile = profile.as_str(),
                    outcome = outcome.as_str(), entropy_steps, step, tag);
            }
        }
        Payload::Event(Event::InputCorrected {
            field,
            message: correction,
            step,
        }) => {
            tracing::warn!(target: "creative_feedback", message = "creative_input_corrected",
                field = field.as_str(), correction = correction.as_str(), step);
        }
        Payload::Snapshot(m) => {
            tracing::debug!(target: "creative_feedback", message = "creative_metrics_snapshot",
                mode = m.mode.as_str(), steps = m.steps, cumulative_gain = m.cumulative_gain,
                success_rate = m.success_rate);
        }
    }
}

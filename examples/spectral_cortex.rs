//! The guide's §1: a host that asks the loop what to do each step and applies the answer.
//!
//! `SpectralCortex` stands for any generative system: it reports novelty, an aesthetic score,
//! its volatility, the largest eigenvalue of its dynamics and its phase; it scales its sampling
//! temperature by the entropy factor and its dynamics by the lambda factor.

use creative_feedback::sim::{Host, HostConfig};
use creative_feedback::{Action, Coherence, Config, CreativeLoop, Decision, State};

/// A stand-in for the host system, driven here by the seeded simulator.
struct SpectralCortex {
    feedback: CreativeLoop,
    dynamics: Host,
    temperature: f64,
}

impl SpectralCortex {
    fn new() -> anyhow::Result<Self> {
        let feedback = CreativeLoop::new(Config {
            stability_threshold: 0.8,   // higher = more conservative
            max_exploration_steps: 200, // maximum exploration duration
            recovery_steps: 30,         // recovery period after exploration
            ..Config::default()
        })?;
        Ok(Self {
            feedback,
            dynamics: Host::new(HostConfig::seeded(42))?,
            temperature: 0.7,
        })
    }

    /// One processing step: observe, ask the loop, apply.
    fn process(&mut self) -> anyhow::Result<Decision> {
        let spectral = self.dynamics.observe();
        let creative_state = State {
            coherence: Coherence::Local,
            ..spectral
        };
        let creative_action = self.feedback.update(&creative_state)?;
        if creative_action.action.is_entropy_step() {
            self.apply_creative_entropy(&creative_action);
        } else {
            self.temperature = 0.7;
        }
        self.dynamics.apply(&creative_action);
        Ok(creative_action)
    }

    fn apply_creative_entropy(&mut self, action: &Decision) {
        self.temperature = 0.7 + action.entropy_factor;
    }
}

fn main() -> anyhow::Result<()> {
    let mut cortex = SpectralCortex::new()?;
    let mut injections = 0;
    for _ in 0..3_000 {
        let decision = cortex.process()?;
        if decision.action == Action::InjectEntropy {
            injections += 1;
            if let Some(e) = &decision.exploration {
                println!(
                    "inject: profile {} for {} steps, factor {:.3}, temperature now {:.2}",
                    e.profile, e.duration, decision.entropy_factor, cortex.temperature
                );
            }
        }
        // Events are plain data; a real host hands them to its metrics pipeline.
        cortex.feedback.drain_events().for_each(drop);
    }
    let m = cortex.feedback.metrics();
    println!(
        "\n{injections} injections; mode {}, cumulative gain {:.3}, success rate {:.0}%",
        m.mode,
        m.cumulative_gain,
        100.0 * m.success_rate
    );
    Ok(())
}

//! The guide's §2 "Custom entropy profiles": the `sinusoidal` profile, registered by name at
//! run time, with its own parameters, chosen by a selector.

use std::f64::consts::PI;

use creative_feedback::{
    Action, Config, CreativeLoop, Params, Profile, ProfileSelector, Selection, SelectionContext,
    State,
};

/// Smooth sinusoidal variation: `b·(1 + a·sin(2πf·t))`.
fn sinusoidal_profile(base_factor: f64, step: u32, total_steps: u32, params: &Params) -> f64 {
    let amplitude = params.get_or("amplitude", 0.3);
    let frequency = params.get_or("frequency", 2.0);
    let t = f64::from(step) / f64::from(total_steps);
    base_factor * (1.0 + amplitude * (2.0 * PI * frequency * t).sin())
}

/// Uses the sinusoidal profile for momentum triggers, the default elsewhere.
struct SinusoidalOnMomentum;

impl ProfileSelector for SinusoidalOnMomentum {
    fn select(&mut self, ctx: &SelectionContext<'_>) -> Selection {
        if ctx.observation.values.novelty > 0.7 {
            Profile::custom(
                "sinusoidal",
                Params::new().with("amplitude", 0.5).with("frequency", 3.0),
            )
            .into()
        } else {
            ctx.default_choice().into()
        }
    }
}

fn main() -> anyhow::Result<()> {
    let mut feedback = CreativeLoop::builder(Config {
        max_exploration_steps: 24,
        ..Config::default()
    })
    .profile("sinusoidal", sinusoidal_profile)?
    .selector(SinusoidalOnMomentum)
    .build()?;
    println!(
        "registered profiles: {}",
        feedback.registry().names().collect::<Vec<_>>().join(", ")
    );
    let mut step = feedback.update(&State::new(0.9, 0.6))?;
    while step.action != Action::EndExploration {
        if let Some(e) = &step.exploration {
            let bar = "#".repeat((step.entropy_factor * 50.0).round() as usize);
            println!(
                "{:>9} k={:>2}/{} factor {:.3} {bar}",
                e.profile.to_string(),
                e.k,
                e.duration,
                step.entropy_factor
            );
        }
        step = feedback.update(&State::new(0.75, 0.62))?;
    }
    println!("ended: {:?}", step.outcome);
    Ok(())
}

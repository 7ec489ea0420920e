//! The guide's §7 "Debug mode": at each injection, print the state, the selected profile, the
//! entropy factor, the duration and the predicted gain.

use creative_feedback::sim::{Host, HostConfig};
use creative_feedback::{Action, Config, CreativeLoop};

fn main() -> anyhow::Result<()> {
    let mut config = Config::default();
    config.quality.min_samples = 10;
    let mut feedback = CreativeLoop::new(config)?;
    let mut host = Host::new(HostConfig::seeded(1))?;
    let mut shown = 0;
    for _ in 0..200_000 {
        let state = host.observe();
        let result = feedback.update(&state)?;
        host.apply(&result);
        feedback.drain_events().for_each(drop);
        if result.action != Action::InjectEntropy {
            continue;
        }
        shown += 1;
        // Show the first few and then every tenth, once the model predicts.
        if shown > 5 && (shown % 10 != 0 || result.predicted_gain.is_none()) {
            continue;
        }
        let current = feedback.current_exploration();
        println!("[DEBUG] Entropy Injection (step {}):", feedback.steps());
        println!(
            "  State: novelty {:.3}, aesthetic {:.3}, volatility {:.3}, lambda_max {:.4}",
            state.novelty.unwrap_or_default(),
            state.aesthetic_score.unwrap_or_default(),
            state.volatility.unwrap_or_default(),
            state.lambda_max.unwrap_or_default()
        );
        if let Some(c) = &current {
            println!("  Selected Profile: {} ({:?})", c.profile, c.trigger);
            println!(
                "  Factor: {:.3} (base; {:.3} at k = 0)",
                c.entropy_factor, result.entropy_factor
            );
            println!("  Duration: {}", c.duration);
        }
        match result.predicted_gain {
            Some(p) => println!("  Predicted Gain: {p:.3}"),
            None => println!("  Predicted Gain: (model not trained yet)"),
        }
        if shown >= 60 {
            break;
        }
    }
    Ok(())
}

//! The guide's §3 "Online learning configuration": start predicting sooner, regularize more,
//! and seed the model with domain knowledge; then watch predictions meet outcomes.

use creative_feedback::sim::{Host, HostConfig};
use creative_feedback::{Config, CreativeLoop, Event};

fn main() -> anyhow::Result<()> {
    let mut config = Config::default();
    config.quality.min_samples = 10; // start predicting sooner
    config.quality.regularization = 0.1; // more stable
    config.quality.feature_weights = Some(vec![
        0.3,  // novelty weight
        0.4,  // aesthetic weight
        -0.2, // volatility weight (negative = penalize)
        0.5,  // factor weight
        0.1,  // duration weight
        0.05, // experience weight
    ]); // initialize with domain knowledge
    let mut feedback = CreativeLoop::new(config)?;
    let mut host = Host::new(HostConfig::seeded(5))?;

    let (mut errors, mut ended) = (Vec::new(), 0);
    for step in 0..40_000 {
        let decision = feedback.update(&host.observe())?;
        host.apply(&decision);
        for event in feedback.drain_events() {
            if let Event::ExplorationEnded {
                gain,
                predicted_gain: Some(p),
                ..
            } = event
            {
                ended += 1;
                errors.push((gain - p).abs());
                if ended % 25 == 0 {
                    let recent = &errors[errors.len() - 25..];
                    println!(
                        "step {step:>6}: {ended:>3} explorations, mean |gain − prediction| over the last 25: {:.4}",
                        recent.iter().sum::<f64>() / 25.0
                    );
                }
            }
        }
        if step == 20_000 {
            // Tune online: the model refits at once.
            let mut quality = feedback.config().quality.clone();
            quality.regularization = 0.01;
            quality.window = 200;
            feedback.set_quality_config(quality)?;
            println!("step {step:>6}: regularization 0.1 → 0.01, window 500 → 200");
        }
    }
    let q = feedback.metrics().quality;
    println!(
        "model: {} samples, trained {}, weights {:?}",
        q.samples_seen,
        q.trained,
        q.weights.map(|w| (w * 1000.0).round() / 1000.0)
    );
    Ok(())
}

//! The guide's §3 "Pre-training from historical data": past explorations, one JSON record per
//! line, go through the same sample path as live learning.

use creative_feedback::sim::{run, Host, HostConfig, RunOptions};
use creative_feedback::{Config, CreativeLoop, FEATURE_NAMES};

fn main() -> anyhow::Result<()> {
    // Historical explorations: here recorded from a simulated run, as
    // `crefl simulate --export-history FILE.jsonl` writes them.
    let mut recorder = CreativeLoop::new(Config::default())?;
    let mut host = Host::new(HostConfig::seeded(9))?;
    let recorded = run(
        &mut recorder,
        &mut host,
        60_000,
        RunOptions {
            trace_every: 0,
            keep_history: true,
        },
        |_| {},
    );
    let mut history = String::new();
    for record in &recorded.history {
        history.push_str(&serde_json::to_string(record)?);
        history.push('\n');
    }
    // A hand-written record in the guide's shape, and a broken one that is reported.
    history.push_str(r#"{"initial_state": {"novelty": 0.8, "aesthetic_score": 0.6}, "entropy_factor": 0.5, "duration": 150, "creative_gain": 0.12, "final_performance": 0.82}"#);
    history.push('\n');
    history.push_str(r#"{"initial_state": {"novelty": 0.8}, "entropy_factor": 1.5, "duration": 150, "creative_gain": 0.12}"#);
    history.push('\n');

    let mut feedback = CreativeLoop::new(Config::default())?;
    let report = feedback.pretrain_jsonl(&history);
    println!("Pre-trained on {} historical explorations", report.used);
    for skipped in &report.skipped {
        let reasons: Vec<String> = skipped.reasons.iter().map(ToString::to_string).collect();
        println!("  skipped line {}: {}", skipped.line, reasons.join("; "));
    }
    let model = feedback.model();
    println!(
        "model trained: {} ({} samples)",
        model.is_trained(),
        model.samples_seen()
    );
    for (name, w) in FEATURE_NAMES.iter().zip(model.weights()) {
        println!("  {name:<16}{w:+.4}");
    }
    // The pre-trained model predicts from the first exploration on.
    let decision = feedback.update(&creative_feedback::State::new(0.15, 0.6))?;
    println!(
        "first injection: predicted gain {:?}",
        decision.predicted_gain
    );
    // Loop counters are untouched by pre-training.
    assert_eq!(feedback.counters().explorations_started, 1);
    Ok(())
}

//! The guide's §7 "Health check endpoint": the verdict and the fields the endpoint returns,
//! computed without any I/O (the `crefl serve` sidecar serves the same at /health/creativity).

use creative_feedback::sim::{run, Host, HostConfig, RunOptions};
use creative_feedback::{Config, CreativeLoop, HealthStatus};
use serde_json::json;

fn main() -> anyhow::Result<()> {
    let mut feedback = CreativeLoop::new(Config::default())?;
    let mut host = Host::new(HostConfig::seeded(2))?;
    run(
        &mut feedback,
        &mut host,
        30_000,
        RunOptions::default(),
        |_| {},
    );

    let metrics = feedback.metrics();
    let health = feedback.health();
    let last = feedback.history().last().map(|r| {
        json!({"profile": r.profile.name().to_string(), "gain": r.creative_gain, "duration": r.duration})
    });
    let body = json!({
        "status": if health.status == HealthStatus::Healthy { "healthy" } else { "degraded" },
        "reason": health.reason.map(|r| r.to_string()),
        "mode": metrics.mode,
        "cumulative_gain": metrics.cumulative_gain,
        "exploration_count": metrics.counters.ended(),
        "quality_model_trained": metrics.quality.trained,
        "last_exploration": last,
    });
    println!("{}", serde_json::to_string_pretty(&body)?);
    Ok(())
}

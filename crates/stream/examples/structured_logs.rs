//! The guide's §4 "Logging integration": the loop's transitions as structured JSON logs
//! (`creative_mode_transition`, `creative_exploration_started`, `creative_exploration_completed`).

use std::time::Duration;

use creative_feedback_core::{Config, CreativeLoop};
use creative_feedback_sim::{Host, HostConfig};
use creative_feedback_stream::{Dispatcher, TracingSink};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The executable installs the subscriber; libraries only emit.
    tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_current_span(false)
        .init();

    let mut dispatcher = Dispatcher::builder()
        .interval_steps(100)?
        .sink(TracingSink)
        .build()?;
    let mut feedback = CreativeLoop::new(Config::default())?;
    let mut host = Host::new(HostConfig::seeded(3))?;
    for _ in 0..2_000 {
        let decision = feedback.update(&host.observe())?;
        host.apply(&decision);
        dispatcher.dispatch(&mut feedback);
    }
    let stats = dispatcher.shutdown(Duration::from_secs(2)).await;
    eprintln!(
        "{} messages logged, {} dropped",
        stats[0].sent,
        stats[0].dropped()
    );
    Ok(())
}

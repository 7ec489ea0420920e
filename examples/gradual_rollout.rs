//! The guide's §6 "Gradual rollout", without its flaw: one sticky decision per user (Unleash's
//! bucketing), used for both the profile and the prediction, with the percentage raised at run
//! time from another thread.

use std::thread;

use creative_feedback::rollout::Rollout;
use creative_feedback::sim::{Host, HostConfig};
use creative_feedback::{Action, Config, CreativeLoop};

fn main() -> anyhow::Result<()> {
    let rollout = Rollout::new("creative-enhancements", 10)?; // enhancement_percentage = 0.1
    let mut feedback = rollout
        .install(CreativeLoop::builder(Config::default()))
        .build()?;
    let mut host = Host::new(HostConfig::seeded(4))?;

    for (phase, percent) in [(0, 10u32), (1, 50), (2, 100), (3, 0)] {
        // An operator raises the percentage from elsewhere; the loop never takes a lock.
        let handle = rollout.handle();
        thread::spawn(move || handle.set_percent(percent))
            .join()
            .map_err(|_| anyhow::anyhow!("operator thread panicked"))??;
        let (mut enhanced, mut plain) = (0, 0);
        for step in 0..60_000u64 {
            let user = format!("user-{}", (phase * 60_000 + step) / 300);
            let state = host.observe().with_attribute("user_id", user.as_str());
            let decision = feedback.update(&state)?;
            host.apply(&decision);
            feedback.drain_events().for_each(drop);
            if decision.action == Action::InjectEntropy {
                let inside = rollout.is_enabled_for(&user);
                let profile = decision
                    .exploration
                    .as_ref()
                    .map(|e| e.profile.to_string())
                    .unwrap_or_default();
                // Outside the rollout: the constant profile and the reported 0.3.
                if !inside {
                    assert_eq!(profile, "constant");
                    assert_eq!(decision.predicted_gain, Some(0.3));
                    plain += 1;
                } else {
                    enhanced += 1;
                }
            }
        }
        println!("rollout at {percent:>3}%: {enhanced:>3} enhanced explorations, {plain:>3} plain");
    }
    Ok(())
}

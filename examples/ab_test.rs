//! The guide's §6 "A/B testing profiles", without its flaws: users are assigned by sticky hashing
//! (the same user always lands in the same arm, no per-user dict), and the report compares the
//! arms with Welch's t-test.

use creative_feedback::rollout::{Arm, ArmPolicy, Comparison, Experiment};
use creative_feedback::sim::{Host, HostConfig};
use creative_feedback::{Config, CreativeLoop};

fn main() -> anyhow::Result<()> {
    let experiment = Experiment::new(
        "creative-profiles-ab",
        vec![
            Arm::new("control", 50, ArmPolicy::Constant), // ['constant']
            Arm::new("treatment", 50, ArmPolicy::Adaptive), // cosine_ramp, exponential_decay, pulse…
        ],
    )?;
    let mut feedback = experiment
        .install(CreativeLoop::builder(Config::default()))
        .build()?;
    let mut host = Host::new(HostConfig::seeded(8))?;

    for step in 0..200_000u64 {
        let user = format!("user-{}", step / 400); // a new conversation every 400 steps
        let state = host.observe().with_attribute("user_id", user.as_str());
        let decision = feedback.update(&state)?;
        host.apply(&decision);
        // The experiment learns each outcome from the loop's feedback, by the arm's tag.
        feedback.drain_events().for_each(drop);
    }
    println!("user-7 is in {}, always", experiment.arm_for("user-7").name);

    let report = experiment.report();
    for arm in &report.arms {
        println!(
            "{:<10} explorations {:>4}  mean gain {:+.4}  success rate {:.1}%",
            arm.arm.name,
            arm.stats.explorations,
            arm.stats.mean_gain.unwrap_or(0.0),
            100.0 * arm.stats.success_rate.unwrap_or(0.0)
        );
    }
    for c in &report.comparisons {
        match &c.comparison {
            Comparison::Welch {
                difference,
                ci_low,
                ci_high,
                p_value,
                ..
            } => println!(
                "{} − {}: {difference:+.4} (95% CI {ci_low:+.4} … {ci_high:+.4}), p = {p_value:.4}",
                c.arm, c.control
            ),
            Comparison::InsufficientData { reason } => {
                println!("{}: insufficient data ({reason})", c.arm)
            }
        }
    }
    Ok(())
}

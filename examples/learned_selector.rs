//! Learning which profile pays: the learned selector (`[selector] kind = "learned"`) on a
//! simulated host whose four domains look alike in the state and each reward a different
//! profile, told apart only by `attributes.domain`. The default table gets three of them
//! wrong; the learned selector finds out from the outcomes, and a custom rule can still wrap
//! it (the guide's "customise, fall back to super").

use creative_feedback::sim::{self, Host, RunOptions, Scenario, DOMAIN_ATTRIBUTE};
use creative_feedback::{
    Config, CreativeLoop, Profile, ProfileSelector, Selection, SelectionContext, SelectorKind,
};

/// Pulses when the host says it is stuck; otherwise the learned choice.
struct StuckFirst;

impl ProfileSelector for StuckFirst {
    fn select(&mut self, ctx: &SelectionContext<'_>) -> Selection {
        if ctx.observation.flag("stuck") {
            Profile::Pulse { frequency: 3.0 }.into()
        } else {
            ctx.fallback_choice().into()
        }
    }
}

fn run(kind: SelectorKind, seed: u64) -> anyhow::Result<(f64, CreativeLoop)> {
    let mut config = Config {
        seed,
        ..Config::default()
    };
    config.selector.kind = kind;
    config.selector.learned.attributes = vec![DOMAIN_ATTRIBUTE.to_owned()];
    let mut feedback = CreativeLoop::builder(config).selector(StuckFirst).build()?;
    let mut host = Host::new(Scenario::Attribute.host(seed))?;
    let out = sim::run(
        &mut feedback,
        &mut host,
        100_000,
        RunOptions::default(),
        |_| {},
    );
    Ok((out.summary.cumulative_gain, feedback))
}

fn main() -> anyhow::Result<()> {
    let (mut default_total, mut learned_total) = (0.0, 0.0);
    let mut last = None;
    for seed in 1..=4 {
        default_total += run(SelectorKind::Default, seed)?.0;
        let (gain, feedback) = run(SelectorKind::Learned, seed)?;
        learned_total += gain;
        last = Some(feedback);
    }
    println!("cumulative gain per run on the attribute scenario (4 seeds × 100,000 steps):");
    println!("  default selector {:8.3}", default_total / 4.0);
    println!("  learned selector {:8.3}", learned_total / 4.0);
    let feedback = last.ok_or_else(|| anyhow::anyhow!("no run"))?;
    let learned = feedback
        .learned_selector()
        .ok_or_else(|| anyhow::anyhow!("the loop has no learned selector"))?;
    println!("what it learned (last seed), estimates in the latest context:");
    for arm in learned.arms() {
        println!(
            "  {:<18} chosen {:4}  mean gain {:+.4}  estimate {:+.4} ± {:.3}",
            arm.profile, arm.explorations, arm.mean_gain, arm.estimate, arm.uncertainty
        );
    }
    println!("context: {}", learned.context_names().join(", "));
    anyhow::ensure!(
        learned_total > default_total,
        "the learned selector should beat the default table here"
    );
    Ok(())
}

//! The simulated host: determinism, reactions to entropy, and the hidden truth.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use creative_feedback_core::{Action, Config, CreativeLoop, Decision, Mode, Reason};
use creative_feedback_sim::*;

fn decision(action: Action, entropy: f64) -> Decision {
    Decision {
        action,
        mode: Mode::Exploring,
        entropy_factor: entropy,
        lambda_factor: action.lambda_factor(entropy),
        reason: Reason::Exploring,
        exploration: None,
        outcome: None,
        predicted_gain: None,
        warnings: Vec::new(),
    }
}

#[test]
fn same_seed_same_run_bit_for_bit() {
    let go = |seed| {
        let mut l = CreativeLoop::new(Config::default()).unwrap();
        let mut h = Host::new(HostConfig::seeded(seed)).unwrap();
        run(
            &mut l,
            &mut h,
            20_000,
            RunOptions {
                trace_every: 7,
                keep_history: true,
            },
            |_| {},
        )
    };
    let (a, b) = (go(3), go(3));
    assert_eq!(a, b);
    assert_ne!(a.summary, go(4).summary);
    println!("{:#?}", a.summary);
}

#[test]
fn entropy_raises_novelty_instability_and_volatility() {
    let mut quiet = Host::new(HostConfig::seeded(1)).unwrap();
    let mut loud = quiet.clone();
    let (mut n_q, mut n_l, mut l_q, mut l_l) = (0.0, 0.0, 0.0, 0.0);
    for _ in 0..500 {
        quiet.apply(&decision(Action::Maintain, 0.0));
        loud.apply(&decision(Action::ContinueExploration, 0.9));
        let (q, l) = (quiet.observe(), loud.observe());
        n_q += q.novelty.unwrap();
        n_l += l.novelty.unwrap();
        l_q += q.lambda_max.unwrap();
        l_l += l.lambda_max.unwrap();
    }
    assert!(n_l > n_q + 50.0, "novelty {n_l} vs {n_q}");
    assert!(l_l > 2.0 * l_q, "lambda {l_l} vs {l_q}");
}

#[test]
fn entropy_beyond_tolerance_hurts_quality() {
    let config = HostConfig {
        contexts: vec![default_contexts().remove(1)], // fragile: tolerance 0.35
        ..HostConfig::seeded(2)
    };
    let mut gentle = Host::new(config).unwrap();
    let mut harsh = gentle.clone();
    assert_eq!(gentle.truth().name, "fragile");
    for _ in 0..200 {
        gentle.apply(&decision(Action::ContinueExploration, 0.3));
        harsh.apply(&decision(Action::ContinueExploration, 0.9));
    }
    assert!(
        gentle.observe().aesthetic_score.unwrap() > harsh.observe().aesthetic_score.unwrap() + 0.15
    );
}

#[test]
fn invalid_hosts_are_refused() {
    assert!(Host::new(HostConfig {
        contexts: vec![],
        ..HostConfig::default()
    })
    .is_err());
    assert!(Host::new(HostConfig {
        switch_probability: 2.0,
        ..HostConfig::default()
    })
    .is_err());
}

#[test]
fn comparison_runs_every_policy_on_the_same_seeds() {
    let c = compare(&Config::default(), &[1, 2, 3, 4, 5, 6, 7, 8], 50_000).unwrap();
    // The same seeds give the same results, bit for bit; other seeds give others.
    let again = compare(&Config::default(), &[1, 2, 3, 4, 5, 6, 7, 8], 50_000).unwrap();
    assert_eq!(c, again);
    let other = compare(&Config::default(), &[9, 10, 11, 12, 13, 14, 15, 16], 50_000).unwrap();
    assert_ne!(
        c.results[0].cumulative_gains,
        other.results[0].cumulative_gains
    );
    assert_eq!(c.results.len(), 3);
    for r in &c.results {
        assert_eq!(r.cumulative_gains.len(), 8);
        assert!(r.ci95.is_finite() && r.mean_cumulative_gain.is_finite());
        println!(
            "{:?} mean {:.3} ± {:.3}, low-value {:.3}, n {} mean gain {:.4} emerg {}",
            r.policy,
            r.mean_cumulative_gain,
            r.ci95,
            r.low_value_share,
            r.explorations,
            r.mean_gain,
            r.emergencies
        );
    }
}

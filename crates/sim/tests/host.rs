//! The simulated host: determinism, reactions to entropy, and the hidden truth.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use creative_feedback_core::{
    Action, AttributeValue, Config, CreativeLoop, Decision, Mode, Reason,
};
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
    let seeds = [1, 2, 3, 4, 5, 6];
    let run = |seeds: &[u64]| {
        compare(
            &Config::default(),
            Scenario::Current,
            &Policy::ALL,
            seeds,
            30_000,
        )
        .unwrap()
    };
    let c = run(&seeds);
    // The same seeds give the same results, bit for bit; other seeds give others.
    assert_eq!(c, run(&seeds));
    let other = run(&[9, 10, 11, 12, 13, 14]);
    assert_ne!(
        c.results[0].cumulative_gains,
        other.results[0].cumulative_gains
    );
    assert_eq!(c.results.len(), Policy::ALL.len());
    for r in &c.results {
        assert_eq!(r.cumulative_gains.len(), seeds.len());
        assert!(r.ci95.is_finite() && r.mean_cumulative_gain.is_finite());
        assert_eq!(
            r.model_r2.is_some(),
            r.policy.with_model(),
            "{:?}",
            r.policy
        );
    }
    for oracle in [Policy::Oracle, Policy::OracleWithModel] {
        let r = c.results.iter().find(|r| r.policy == oracle).unwrap();
        assert_eq!(r.share_of_oracle, Some(1.0));
    }
}

#[test]
fn the_oracle_measures_which_profile_pays_in_each_context() {
    let table =
        OracleTable::measure(Scenario::Current, &Config::default(), &[1, 2, 3, 4], 50_000).unwrap();
    let best: Vec<&str> = table.best.iter().map(|&p| ORACLE_PROFILES[p]).collect();
    assert_eq!(table.contexts, ["open", "fragile", "stuck", "overheated"]);
    assert_eq!(
        best,
        ["constant", "cosine_ramp", "pulse", "exponential_decay"]
    );
    assert!(table.explorations.iter().flatten().all(|&n| n > 0));
}

#[test]
fn the_probe_follows_the_hidden_context_and_the_attribute_host_reports_it() {
    let mut host = Host::new(Scenario::Attribute.host(3)).unwrap();
    let probe = host.probe();
    let mut seen = std::collections::BTreeSet::new();
    let decision = Decision::default();
    for _ in 0..20_000 {
        host.apply(&decision);
        let truth = host.truth();
        assert_eq!(probe.context(), truth.context);
        let state = host.observe();
        assert_eq!(
            state.attributes.get(DOMAIN_ATTRIBUTE),
            Some(&AttributeValue::Text(truth.name.to_owned()))
        );
        seen.insert(truth.name);
    }
    assert!(seen.len() > 1, "{seen:?}");
    assert!(Host::new(Scenario::Current.host(3))
        .unwrap()
        .observe()
        .attributes
        .is_empty());
}

#[test]
fn the_learned_selector_finds_what_the_default_table_gets_wrong() {
    // Four domains alike in the state: the default table takes cosine_ramp, which pays in
    // one of them; the learned selector reads attributes.domain and learns the rest.
    let c = compare(
        &Config::default(),
        Scenario::Attribute,
        &[Policy::Adaptive, Policy::Learned],
        &[1, 2, 3, 4],
        60_000,
    )
    .unwrap();
    let (adaptive, learned) = (&c.results[0], &c.results[1]);
    assert!(
        learned.mean_cumulative_gain > adaptive.mean_cumulative_gain + 4.0,
        "{} vs {}",
        learned.mean_cumulative_gain,
        adaptive.mean_cumulative_gain
    );
}

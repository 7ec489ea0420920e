//! Compatibility with the Unleash client specification, and bucketing properties.
//!
//! The cases are copied as data from the public repository `Unleash/client-specification`:
//! `specifications/03-gradual-rollout-user-id-strategy.json`,
//! `specifications/10-flexible-rollout-strategy.json` (default stickiness hashes the user or
//! session id the same way) and `specifications/08-variants.json` (variants are hashed with the
//! toggle name as group id; these cases were computed with seed 0, the normalisation clients used
//! before the dedicated variant seed 86028157, so they are checked with `variant_with_seed(.., 0)`).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use creative_feedback_rollout::{
    bucket, in_rollout, normalized, variant, variant_with_seed, VARIANT_SEED,
};
use proptest::prelude::*;

/// (group id, user or session id, percentage, expected)
const ROLLOUT_CASES: &[(&str, &str, u32, bool)] = &[
    // 03-gradual-rollout-user-id-strategy
    ("AB12A", "123", 100, true),
    ("AB12A", "122", 50, true),
    ("AB12A", "155", 50, false),
    ("AB12A", "122", 0, false),
    // 10-flexible-rollout-strategy
    ("Feature.flexibleRollout.10", "174", 10, true),
    ("Feature.flexibleRollout.10", "499", 10, false),
    ("Feature.flexibleRollout.userId.55", "25", 55, true),
    ("Feature.flexibleRollout.sessionId.42", "147", 42, true),
    ("Feature.flexibleRollout.100", "anyone", 100, true),
];

/// (toggle name, user id, variant weights, expected variant index)
const VARIANT_CASES: &[(&str, &str, &[u32], usize)] = &[
    ("Feature.Variants.B", "2", &[1, 1], 0),
    ("Feature.Variants.B", "0", &[1, 1], 1),
    ("Feature.Variants.C", "315", &[33, 33, 33], 0),
    ("Feature.Variants.C", "320", &[33, 33, 33], 1),
    ("Feature.Variants.C", "729", &[33, 33, 33], 2),
    ("Feature.Variants.D", "367", &[1, 49, 50], 0),
    ("Feature.Variants.D", "31", &[1, 49, 50], 1),
    ("Feature.Variants.D", "19", &[1, 49, 50], 2),
    ("Feature.Variants.override.D", "82", &[33, 33, 34], 1),
];

#[test]
fn gradual_and_flexible_rollout_cases() {
    for &(group, user, percent, expected) in ROLLOUT_CASES {
        assert_eq!(
            in_rollout(group, user, percent),
            expected,
            "{group}:{user} at {percent}% (bucket {})",
            bucket(group, user)
        );
    }
}

#[test]
fn variant_cases() {
    for &(toggle, user, weights, expected) in VARIANT_CASES {
        assert_eq!(
            variant_with_seed(toggle, user, weights, 0),
            Some(expected),
            "{toggle} for user {user}"
        );
    }
}

#[test]
fn the_variant_seed_normalises_to_the_total_weight() {
    // variant() is the same walk over the weights with seed 86028157.
    for &(toggle, user, weights, _) in VARIANT_CASES {
        let total: u32 = weights.iter().sum();
        let target = normalized(toggle, user, VARIANT_SEED, total);
        assert!((1..=total).contains(&target));
        let mut running = 0;
        let expected = weights.iter().position(|w| {
            running += w;
            running >= target
        });
        assert_eq!(variant(toggle, user, weights), expected);
    }
    // 100,000 users over weights 1:3 land within a point of 25% / 75%.
    let first = (0..100_000)
        .filter(|i| variant("ab", &format!("u{i}"), &[1, 3]) == Some(0))
        .count();
    assert!((24_000..26_000).contains(&first), "{first}");
}

proptest! {
    #[test]
    fn the_same_user_always_gets_the_same_bucket(group in "[a-zA-Z0-9._-]{1,20}", user in "\\PC{0,40}") {
        let b = bucket(&group, &user);
        prop_assert!((1..=100).contains(&b));
        // Unleash's normalisation, computed here from the hash itself: `"{group}:{user}"` as
        // UTF-8, murmur3 x86 32-bit with seed 0, modulo 100, plus 1.
        let key = format!("{group}:{user}");
        prop_assert_eq!(b, mur3::murmurhash3_x86_32(key.as_bytes(), 0) % 100 + 1);
        // Sticky: the same ids in fresh strings give the same bucket.
        prop_assert_eq!(b, bucket(&group.clone(), &user.clone()));
    }

    #[test]
    fn raising_the_percentage_never_removes_a_user(user in "\\PC{0,30}", p in 0u32..=100, q in 0u32..=100) {
        let (low, high) = (p.min(q), p.max(q));
        if in_rollout("g", &user, low) {
            prop_assert!(in_rollout("g", &user, high));
        }
    }
}

#[test]
fn buckets_are_uniform_over_many_ids() {
    let n = 100_000u32;
    let mut counts = [0u32; 100];
    for i in 0..n {
        let user = format!("user-{i}");
        counts[(bucket("creative-enhancements", &user) - 1) as usize] += 1;
    }
    let expected = f64::from(n) / 100.0;
    let chi2: f64 = counts
        .iter()
        .map(|&c| (f64::from(c) - expected).powi(2) / expected)
        .sum();
    // 99 degrees of freedom: P(χ² > 148.23) = 0.001.
    assert!(
        chi2 < 148.23,
        "chi-square {chi2:.1} rejects uniformity at p = 0.001"
    );
    for p in [1u32, 5, 10, 25, 50, 75, 90, 99] {
        let inside: u32 = counts[..p as usize].iter().sum();
        let share = 100.0 * f64::from(inside) / f64::from(n);
        assert!(
            (share - f64::from(p)).abs() <= 1.0,
            "{p}%: {share:.2}% inside"
        );
    }
}

//! `crefl replay` gives byte-identical output on a long seeded state stream.
//!
//! The digest below was recorded from the loop before its internals were restructured and its
//! `update` path made faster; any change to a decision, a number's printed form, a warning or an
//! error line changes it. If a change of behaviour is intended, say so in the changelog and
//! record the new digest printed by the failing assertion.
//!
//! History: recorded before the core was restructured and `update_into` added, and unchanged by
//! them; changed once since, on purpose, when a duplicate key's error began to give the byte
//! offset of the repeated key instead of the object's (the lines and decisions are the same).
//! When the quality gate became on by default and `adjust_down` 1, the digest was kept under a
//! config that pins the earlier defaults (so the rules themselves are shown unchanged), and the
//! new defaults and the learned selector got digests of their own.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::process::Command;

/// Lines written, lines with a decision, and the FNV-1a 64 digest of the whole output, under
/// the defaults before the gate was turned on.
const EXPECTED: (usize, usize, u64) = (200_000, 198_795, 16_985_852_414_016_797_578);

/// The earlier defaults of the keys whose defaults changed.
const EARLIER_DEFAULTS: &str = "[quality]\nmin_predicted_gain = false\nadjust_down = 0.7\n";

/// The same under today's defaults.
const EXPECTED_DEFAULTS: (usize, usize, u64) = (200_000, 198_795, 666_190_756_211_825_851);

/// The same with the learned selector.
const EXPECTED_LEARNED: (usize, usize, u64) = (200_000, 198_795, 15_344_852_850_103_778_916);

/// A small, self-contained generator, so the stream does not move when the simulator does.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// 200,000 lines: a wandering host (every rule gets exercised: triggers, prunes, completions,
/// emergencies, clamps, missing fields, attributes) with invalid lines mixed in.
fn stream() -> String {
    let mut rng = SplitMix(20_261_128);
    let (mut novelty, mut aesthetic, mut lambda) = (0.5_f64, 0.6_f64, 0.0_f64);
    let mut out = String::with_capacity(200_000 * 90);
    for i in 0..200_000u32 {
        novelty = (novelty + (rng.unit() - 0.5) * 0.12).clamp(-0.05, 1.05);
        aesthetic = (aesthetic + (rng.unit() - 0.5) * 0.08).clamp(0.0, 1.0);
        lambda = if rng.unit() < 0.002 {
            0.1
        } else {
            (lambda * 0.9 + rng.unit() * 0.004).max(0.0)
        };
        let volatility = rng.unit() * 0.9;
        let line = match i % 997 {
            13 => "{\"novelty\": NaN, \"aesthetic_score\": 0.5}".to_owned(),
            101 => "{\"novelty\": \"high\"}".to_owned(),
            211 => "not json at all".to_owned(),
            307 => "[1, 2, 3]".to_owned(),
            401 => "{\"novelty\": 0.5, \"novelty\": 0.6}".to_owned(),
            503 => "{\"aesthetic_score\": 0.7}".to_owned(),
            601 => format!("{{\"novelty\": {novelty}, \"aesthetic_score\": {aesthetic}, \"lambda_max\": Infinity}}"),
            701 => format!("{{\"novelty\": {novelty}, \"aesthetic_score\": {aesthetic}, \"emergency_override\": true}}"),
            809 => format!("{{\"novelty\": {novelty}, \"aesthetic_score\": {aesthetic}, \"user_id\": \"u{i}\", \"extra\": [1]}}"),
            907 => format!("{{\"novelty\": {novelty}, \"aesthetic_score\": {aesthetic}, \"attributes\": {{\"temperature\": \"x\", \"t\": [1]}}}}"),
            _ => {
                let mut s = String::new();
                write!(
                    s,
                    "{{\"novelty\": {novelty}, \"aesthetic_score\": {aesthetic}, \"volatility\": {volatility}, \"lambda_max\": {lambda}"
                )
                .unwrap();
                if i % 7 == 0 {
                    write!(s, ", \"coherence\": \"global\", \"user_id\": \"u{}\"", i % 13).unwrap();
                }
                s.push('}');
                s
            }
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn replay(config: &str) -> (usize, usize, u64) {
    let dir = tempfile::tempdir().unwrap();
    let states = dir.path().join("states.jsonl");
    let decisions = dir.path().join("decisions.jsonl");
    let config_path = dir.path().join("crefl.toml");
    std::fs::write(&states, stream()).unwrap();
    std::fs::write(&config_path, config).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_crefl"))
        .args(["replay", "--skip-invalid", "--config"])
        .arg(&config_path)
        .arg("--states")
        .arg(&states)
        .arg("--out")
        .arg(&decisions)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = std::fs::read(&decisions).unwrap();
    let lines = out.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count();
    let with_decision = out
        .split(|b| *b == b'\n')
        .filter(|l| l.starts_with(b"{\"action\""))
        .count();
    (lines, with_decision, fnv1a(&out))
}

#[test]
fn replay_output_is_byte_identical_on_a_long_seeded_stream() {
    assert_eq!(
        replay(EARLIER_DEFAULTS),
        EXPECTED,
        "replay output changed: (lines, decisions, digest)"
    );
    assert_eq!(
        replay(""),
        EXPECTED_DEFAULTS,
        "replay output under the defaults changed: (lines, decisions, digest)"
    );
}

#[test]
fn replay_with_the_learned_selector_is_byte_identical_on_a_long_seeded_stream() {
    assert_eq!(
        replay("[selector]\nkind = \"learned\"\n"),
        EXPECTED_LEARNED,
        "replay output with the learned selector changed: (lines, decisions, digest)"
    );
}

//! `cargo xtask bench`: runs the criterion benches and rewrites the figures table in
//! `docs/performance.md` (between the `bench-table` markers).

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::{cargo_in, run as run_cmd};

const START: &str = "<!-- bench-table:start -->";
const END: &str = "<!-- bench-table:end -->";

/// (package, bench target, criterion id, target figure)
const BENCHES: &[(&str, &str, &str, &str)] = &[
    (
        "creative-feedback-core",
        "update",
        "update/mixed_stream",
        "≤ 30 ns (aim ≤ 25 ns)",
    ),
    (
        "creative-feedback-core",
        "update",
        "update/mixed_stream_owned_decision",
        "reference: `update` returning a new decision",
    ),
    (
        "creative-feedback-core",
        "learned",
        "learned/choose/default_context",
        "≤ 1 µs per exploration start",
    ),
    (
        "creative-feedback-core",
        "learned",
        "learned/choose/with_attribute",
        "≤ 1 µs per exploration start",
    ),
    (
        "creative-feedback-core",
        "learned",
        "learned/choose_and_learn/default_context",
        "reference: once per exploration",
    ),
    (
        "creative-feedback-quality",
        "quality",
        "quality/predict",
        "≤ 5 ns",
    ),
    (
        "creative-feedback-quality",
        "quality",
        "quality/add_sample_refit_window_500",
        "≤ 2 µs",
    ),
    (
        "creative-feedback-profiles",
        "profiles",
        "profiles/factor/constant",
        "≤ 10 ns",
    ),
    (
        "creative-feedback-profiles",
        "profiles",
        "profiles/factor/cosine_ramp",
        "≤ 10 ns",
    ),
    (
        "creative-feedback-profiles",
        "profiles",
        "profiles/factor/exponential_decay",
        "≤ 10 ns",
    ),
    (
        "creative-feedback-profiles",
        "profiles",
        "profiles/factor/pulse",
        "≤ 10 ns",
    ),
    (
        "creative-feedback-stream",
        "stream",
        "stream/handoff_event_null_sink",
        "≥ 1,000,000 events/s (≤ 1 µs)",
    ),
    (
        "creative-feedback-stream",
        "stream",
        "stream/update_bare",
        "reference for the next row",
    ),
    (
        "creative-feedback-stream",
        "stream",
        "stream/update_and_dispatch_interval_10",
        "≤ 2× bare update",
    ),
    (
        "creative-feedback-stream",
        "stream",
        "stream/update_and_dispatch_hanging_and_slow_sinks",
        "within 20% of the row above",
    ),
    (
        "creative-feedback-rollout",
        "rollout",
        "rollout/bucket_typical_id",
        "≤ 50 ns",
    ),
    (
        "creative-feedback-rollout",
        "rollout",
        "rollout/update_bare",
        "reference for the next row",
    ),
    (
        "creative-feedback-rollout",
        "rollout",
        "rollout/update_rollout_50",
        "≤ 1.5× bare update",
    ),
    (
        "creative-feedback-sessions",
        "pool",
        "pool/update_one_of_10k_sessions",
        "reference: one update, 10,000 resident sessions in turn",
    ),
    (
        "creative-feedback-sessions",
        "pool",
        "pool/threads/1_updating_2000",
        "reference for the next row",
    ),
    (
        "creative-feedback-sessions",
        "pool",
        "pool/threads/2_updating_2000",
        "no slower than one thread",
    ),
    (
        "creative-feedback-sessions",
        "pool",
        "pool/update_with_eviction_and_reload",
        "reference: an eviction and a reload per update",
    ),
];

fn format_ns(ns: f64) -> String {
    if ns >= 1_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else {
        format!("{ns:.1} ns")
    }
}

/// The median estimate criterion saved for a benchmark, in nanoseconds.
fn median_ns(root: &Path, id: &str) -> Result<f64> {
    // Criterion keeps `group/name` under `group/`, with the name's own slashes made `_`.
    let (group, name) = id.split_once('/').unwrap_or((id, ""));
    let path = root
        .join("target/criterion")
        .join(group)
        .join(name.replace('/', "_"))
        .join("new/estimates.json");
    let text =
        fs::read_to_string(&path).with_context(|| format!("no results at {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    v["median"]["point_estimate"]
        .as_f64()
        .with_context(|| format!("{}: no median", path.display()))
}

fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    format!("{cpu}, {cores} cores")
}

/// Replaces the text between the markers.
pub fn replace_table(doc: &str, table: &str) -> Result<String> {
    let (Some(a), Some(b)) = (doc.find(START), doc.find(END)) else {
        bail!("docs/performance.md has no {START} … {END} markers");
    };
    Ok(format!("{}{START}\n{table}{}", &doc[..a], &doc[b..]))
}

/// Runs the benches (criterion arguments after `--` are passed on) and rewrites the table;
/// `--table-only` rewrites it from the results of the last run.
pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let extra: Vec<&str> = args
        .iter()
        .skip_while(|a| *a != "--")
        .skip(1)
        .map(String::as_str)
        .collect();
    let table_only = args
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--table-only");
    let mut targets: Vec<(&str, &str)> = BENCHES.iter().map(|(p, b, _, _)| (*p, *b)).collect();
    targets.dedup();
    for (package, bench) in targets.iter().filter(|_| !table_only) {
        let mut cmd = cargo_in(root);
        cmd.args([
            "bench",
            "--package",
            package,
            "--bench",
            bench,
            "--all-features",
            "--",
        ]);
        cmd.args(&extra);
        run_cmd(cmd)?;
    }
    let date = crate::release_date();
    let mut table = String::from("| benchmark | median | target | command |\n|---|---|---|---|\n");
    for (package, bench, id, target) in BENCHES {
        let ns = median_ns(root, id)?;
        table.push_str(&format!(
            "| `{id}` | {} | {target} | `cargo bench -p {package} --bench {bench}` |\n",
            format_ns(ns)
        ));
    }
    table.push_str(&format!(
        "\nMeasured {date} on {}, by `cargo xtask bench`.\n",
        machine()
    ));
    let path = root.join("docs/performance.md");
    let doc = fs::read_to_string(&path)?;
    fs::write(&path, replace_table(&doc, &table)?)?;
    eprintln!("{}", table);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_replaced_between_the_markers() {
        let doc = format!("# P\n\nbefore\n{START}\nold\n{END}\nafter\n");
        let new = replace_table(&doc, "| new |\n").unwrap_or_default();
        assert_eq!(
            new,
            format!("# P\n\nbefore\n{START}\n| new |\n{END}\nafter\n")
        );
        assert!(replace_table("no markers", "x").is_err());
        let real =
            fs::read_to_string(crate::root().join("docs/performance.md")).unwrap_or_default();
        assert!(
            replace_table(&real, "x").is_ok(),
            "docs/performance.md lost its markers"
        );
        assert_eq!(format_ns(1_234.0), "1.23 µs");
        assert_eq!(format_ns(41.25), "41.2 ns");
    }
}

//! Project automation, run as `cargo xtask <command>` (an alias in `.cargo/config.toml`).
//!
//! - `ci`: formatting, clippy with warnings denied, the test suite, and every example.
//! - `examples`: runs every example (the workspace's and the crates' own).
//! - `tidy`: manifest and documentation checks (also run by `cargo test`).
//! - `features [--each]`: checks that every combination of the facade's features compiles
//!   (`--each`: only none, each alone, and all).
//! - `bench [--table-only] [-- CRITERION ARGS]`: runs the criterion benches and rewrites the
//!   table in `docs/performance.md`.
//! - `release VERSION [--dry-run] [--skip-build]`: bumps the lockstep version, moves the
//!   changelogs' `Unreleased` sections, packages every publishable crate in dependency order,
//!   builds each crate alone, and tags the release.

#![cfg_attr(test, allow(clippy::panic, clippy::unwrap_used, clippy::expect_used))]

mod bench;
mod python;
mod release;
mod tidy;

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Today's date, YYYY-MM-DD (UTC).
pub fn release_date() -> String {
    release::today()
}

/// The workspace root: the parent of this crate's folder.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `cargo`, as the one that runs us, in `dir`.
pub fn cargo_in(dir: &Path) -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(dir);
    cmd
}

fn cargo() -> Command {
    cargo_in(&root())
}

/// Runs a command, failing with its status.
pub fn run(mut cmd: Command) -> Result<()> {
    eprintln!("$ {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// Examples that live in a crate because they need its optional features.
const CRATE_EXAMPLES: &[(&str, &str)] = &[
    ("creative-feedback-stream", "structured_logs"),
    ("creative-feedback-stream", "prometheus_export"),
    ("creative-feedback-stream", "websocket_stream"),
];

/// The example names declared in `examples/Cargo.toml`, in order.
fn example_names(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_example = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_example = line == "[[example]]";
        } else if in_example {
            if let Some(value) = line
                .strip_prefix("name")
                .map(str::trim)
                .and_then(|l| l.strip_prefix('='))
            {
                names.push(value.trim().trim_matches('"').to_owned());
            }
        }
    }
    names
}

fn examples() -> Result<()> {
    let manifest = std::fs::read_to_string(root().join("examples/Cargo.toml"))
        .context("cannot read examples/Cargo.toml")?;
    let names = example_names(&manifest);
    if names.is_empty() {
        bail!("examples/Cargo.toml declares no example");
    }
    for name in names {
        let mut cmd = cargo();
        cmd.args([
            "run",
            "--quiet",
            "--package",
            "creative-feedback-examples",
            "--example",
            &name,
        ]);
        cmd.stdout(std::process::Stdio::null());
        run(cmd)?;
    }
    for (package, example) in CRATE_EXAMPLES {
        let mut cmd = cargo();
        cmd.args([
            "run",
            "--quiet",
            "--package",
            package,
            "--all-features",
            "--example",
            example,
        ]);
        cmd.stdout(std::process::Stdio::null());
        cmd.stderr(std::process::Stdio::null());
        run(cmd)?;
    }
    // The load generator against a server of its own, for a few seconds: it fails on any
    // failed update.
    let mut load = cargo();
    load.args([
        "run",
        "--quiet",
        "--release",
        "--package",
        "creative-feedback-server",
        "--example",
        "load",
        "--",
        "self",
        "3",
        "8",
    ]);
    run(load)?;
    Ok(())
}

/// The facade's optional features (from its manifest), in declaration order.
fn facade_features() -> Result<Vec<String>> {
    let manifest = std::fs::read_to_string(root().join("crates/creative-feedback/Cargo.toml"))?;
    Ok(tidy::manifest_features(&manifest))
}

/// The facade's feature combinations checked: none, each alone, each pair and all (`--each`:
/// none, each alone and all). Pairs catch most interactions at a fraction of the powerset.
fn feature_masks(n: usize, each: bool) -> Vec<u32> {
    let all = (1u32 << n) - 1;
    let mut masks: Vec<u32> = std::iter::once(0).chain((0..n).map(|i| 1 << i)).collect();
    if !each {
        for i in 0..n {
            for j in i + 1..n {
                masks.push((1 << i) | (1 << j));
            }
        }
    }
    if !masks.contains(&all) {
        masks.push(all);
    }
    masks
}

/// Checks that the facade compiles with each feature combination of [`feature_masks`].
fn features(args: &[String]) -> Result<()> {
    let all = facade_features()?;
    let n = all.len();
    if n > 16 {
        bail!("{n} features are more than this check handles; use cargo-hack");
    }
    let masks = feature_masks(n, args.iter().any(|a| a == "--each"));
    for mask in &masks {
        let chosen: Vec<&str> = (0..n)
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| all[i].as_str())
            .collect();
        let mut cmd = cargo();
        cmd.args([
            "check",
            "--quiet",
            "--package",
            "creative-feedback",
            "--no-default-features",
        ]);
        if !chosen.is_empty() {
            cmd.args(["--features", &chosen.join(",")]);
        }
        run(cmd).with_context(|| format!("features [{}] do not compile", chosen.join(", ")))?;
    }
    eprintln!(
        "{} combinations of [{}] (none, each, each pair, all) compile",
        masks.len(),
        all.join(", ")
    );
    Ok(())
}

/// The files mutation testing covers: the core's rules, the quality model, the profiles.
const MUTATED: &[&str] = &[
    "crates/core/src/rules.rs",
    "crates/core/src/engine/step.rs",
    "crates/core/src/learned/mod.rs",
    "crates/core/src/learned/arm.rs",
    "crates/quality/src/model.rs",
    "crates/profiles/src/profile.rs",
    "crates/profiles/src/registry.rs",
    "crates/sessions/src/pool/mod.rs",
    "crates/sessions/src/pool/evict.rs",
    "crates/sessions/src/shard.rs",
];

/// `cargo xtask mutants`: cargo-mutants over [`MUTATED`] (about ten minutes on two cores; not
/// part of CI). Extra arguments go to cargo-mutants.
fn mutants(args: &[String]) -> Result<()> {
    let mut probe = cargo();
    probe
        .args(["mutants", "--version"])
        .stdout(std::process::Stdio::null());
    if !probe.status().is_ok_and(|s| s.success()) {
        bail!("cargo-mutants is not installed: cargo install cargo-mutants --locked");
    }
    let mut cmd = cargo();
    cmd.args(["mutants", "--all-features", "--no-shuffle"]);
    for file in MUTATED {
        cmd.args(["-f", file]);
    }
    cmd.args(args);
    run(cmd).context("mutants survived (see mutants.out/missed.txt), or cargo-mutants failed")
}

/// One step of the CI list, announced so a failure's place is plain in the log.
fn step(title: &str, f: impl FnOnce() -> Result<()>) -> Result<()> {
    eprintln!("== {title}");
    f().with_context(|| format!("CI step failed: {title}"))
}

fn cargo_args(args: &[&str]) -> Result<()> {
    let mut cmd = cargo();
    cmd.args(args);
    run(cmd)
}

/// Everything CI checks, in one list: `.ci/run` installs what the tests need and calls this.
fn ci() -> Result<()> {
    step("formatting", || {
        cargo_args(&["fmt", "--all", "--", "--check"])
    })?;
    step(
        "clippy (all targets, all features, warnings denied)",
        || {
            cargo_args(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--all-features",
                "--",
                "-D",
                "warnings",
            ])
        },
    )?;
    step("tests (the README's test command)", || {
        cargo_args(&["test", "--workspace"])
    })?;
    step("examples", examples)?;
    step("manifests and docs (tidy)", || tidy::check(&root()))?;
    step("feature combinations", || features(&[]))?;
    step("the server without its redis feature", || {
        cargo_args(&[
            "check",
            "--quiet",
            "-p",
            "creative-feedback-server",
            "--all-targets",
        ])
    })?;
    step("API docs (warnings denied)", || {
        let mut cmd = cargo();
        cmd.env("RUSTDOCFLAGS", "-D warnings").args([
            "doc",
            "--workspace",
            "--all-features",
            "--no-deps",
            "--quiet",
        ]);
        run(cmd)
    })?;
    step("the README's main command", || {
        let mut cmd = cargo();
        cmd.args([
            "run",
            "--release",
            "--quiet",
            "-p",
            "crefl",
            "--",
            "simulate",
            "--steps",
            "20000",
        ])
        .stdout(std::process::Stdio::null());
        run(cmd)
    })?;
    step(
        "the Python package (its crate's checks, the wheel in a virtual environment, pytest)",
        || python::check(&root()),
    )?;
    eprintln!("CI passed");
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("examples") => examples(),
        Some("tidy") => tidy::check(&root()),
        Some("features") => features(&args[1..]),
        Some("bench") => bench::run(&root(), &args[1..]),
        Some("release") => release::run(&root(), &args[1..]),
        Some("mutants") => mutants(&args[1..]),
        Some("python") => python::check(&root()),
        _ => {
            eprintln!(
                "usage: cargo xtask <ci | examples | tidy | features | bench | mutants | python | release VERSION [--dry-run] [--skip-build]>"
            );
            bail!("unknown or missing task {:?}", args.first())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_example_is_found() {
        let manifest =
            std::fs::read_to_string(root().join("examples/Cargo.toml")).unwrap_or_default();
        let names = example_names(&manifest);
        assert!(names.contains(&"spectral_cortex".to_owned()), "{names:?}");
        for name in &names {
            assert!(
                root().join("examples").join(format!("{name}.rs")).exists(),
                "{name}.rs is missing"
            );
        }
        for (package, example) in CRATE_EXAMPLES {
            let dir = package.trim_start_matches("creative-feedback-");
            let file = root()
                .join("crates")
                .join(dir)
                .join("examples")
                .join(format!("{example}.rs"));
            assert!(file.exists(), "{} is missing", file.display());
        }
    }

    #[test]
    fn feature_checks_are_pairwise() {
        let masks = feature_masks(6, false);
        assert_eq!(masks.len(), 1 + 6 + 15 + 1);
        assert!(masks.contains(&0b11_1111) && masks.contains(&0b10_0001));
        assert_eq!(feature_masks(6, true).len(), 1 + 6 + 1);
    }

    #[test]
    fn tidy_passes() {
        if let Err(e) = tidy::check(&root()) {
            panic!("cargo xtask tidy: {e:#}");
        }
    }
}

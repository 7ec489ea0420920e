//! Project automation, run as `cargo xtask <command>` (an alias in `.cargo/config.toml`).
//!
//! - `ci`: formatting, clippy with warnings denied, the test suite, and every example.
//! - `examples`: runs every example declared in `examples/Cargo.toml`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn cargo() -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

fn run(mut cmd: Command) -> Result<()> {
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
    // Crate examples that need features (declared with required-features).
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
    Ok(())
}

fn ci() -> Result<()> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    run(fmt)?;
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ]);
    run(clippy)?;
    let mut test = cargo();
    test.args(["test", "--workspace"]);
    run(test)?;
    examples()
}

fn main() -> Result<()> {
    let task = env::args().nth(1);
    match task.as_deref() {
        Some("ci") => ci(),
        Some("examples") => examples(),
        _ => {
            eprintln!("usage: cargo xtask <ci|examples>");
            bail!("unknown or missing task {task:?}")
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
    }
}

//! `cargo xtask python`: the Python package's checks. Its crate (`python/`, a workspace of its
//! own) is formatted and clippy-clean; then a virtual environment gets maturin, pytest, NumPy
//! and the guide's integrations (prometheus-client, structlog, Flask) from PyPI, the wheel is
//! built and installed into it as a user would (`pip install ./python`), and pytest runs the
//! package's tests against the `crefl` built in release.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Result};

use crate::{cargo_in, run};

pub fn check(root: &Path) -> Result<()> {
    let manifest = root.join("python/Cargo.toml");
    let manifest = manifest.to_string_lossy();
    let mut fmt = cargo_in(root);
    fmt.args(["fmt", "--manifest-path", &manifest, "--", "--check"]);
    run(fmt)?;
    let mut clippy = cargo_in(root);
    clippy.args([
        "clippy",
        "--quiet",
        "--manifest-path",
        &manifest,
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    run(clippy)?;

    let venv = root.join("target/python-venv");
    let python = venv.join("bin/python");
    if !python.is_file() {
        let mut create = Command::new("python3");
        create.args(["-m", "venv"]).arg(&venv);
        run(create)?;
    }
    let mut tools = Command::new(&python);
    tools.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "maturin>=1.16,<2",
        "pytest>=7",
        "numpy>=1.21",
        // The guide's own integrations, which its blocks (python/tests/test_guide.py) use.
        "prometheus-client",
        "structlog",
        "flask",
    ]);
    run(tools)?;
    // maturin's build hook runs `maturin` from the PATH: the environment's, as if activated.
    let mut dirs = vec![venv.join("bin")];
    dirs.extend(
        std::env::var_os("PATH").map_or_else(Vec::new, |p| std::env::split_paths(&p).collect()),
    );
    let path = std::env::join_paths(dirs)?;
    let mut wheel = Command::new(&python);
    wheel
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--force-reinstall",
            "--no-deps",
            "--no-build-isolation",
        ])
        .arg(root.join("python"))
        .env("PATH", path);
    run(wheel)?;

    let crefl = root.join("target/release/crefl");
    if !crefl.is_file() {
        bail!(
            "{} is not built: cargo build --release -p crefl",
            crefl.display()
        );
    }
    let mut pytest = Command::new(&python);
    pytest
        .args(["-m", "pytest", "-q"])
        .arg(root.join("python/tests"))
        .env("CREFL_BIN", &crefl)
        .current_dir(root);
    run(pytest)
}

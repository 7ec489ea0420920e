//! The deployment files in deploy/ hold what operators rely on: the systemd unit passes
//! `systemd-analyze verify` against the real binary (where systemd is installed), and the
//! Dockerfile builds in stages, runs as a non-root user, and checks readiness.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy");

#[test]
fn the_systemd_unit_verifies() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze is not installed here; the unit is not verified");
        return;
    }
    let unit = std::fs::read_to_string(format!("{DEPLOY}/systemd/crefl.service")).unwrap();
    for hardening in [
        "DynamicUser=yes",
        "StateDirectory=crefl",
        "ProtectSystem=strict",
    ] {
        assert!(unit.contains(hardening), "{hardening}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crefl.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/crefl", env!("CARGO_BIN_EXE_crefl")),
    )
    .unwrap();
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn the_dockerfile_is_multi_stage_non_root_and_checks_readiness() {
    let text = std::fs::read_to_string(format!("{DEPLOY}/docker/Dockerfile")).unwrap();
    let from = text.lines().filter(|l| l.starts_with("FROM ")).count();
    assert!(from >= 2, "multi-stage: {from} FROM lines");
    let user = text
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER line");
    assert!(user.trim() != "root" && user.trim() != "0");
    assert!(text.contains("HEALTHCHECK") && text.contains("/readyz"));
    assert!(text.contains("STOPSIGNAL SIGTERM"));
}

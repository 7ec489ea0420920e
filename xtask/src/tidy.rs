//! `cargo xtask tidy`: checks that keep manifests, docs and CI from drifting apart.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::CRATE_EXAMPLES;

/// The `[features]` section's keys, `default` excluded, in order.
pub fn manifest_features(manifest: &str) -> Vec<String> {
    section(manifest, "features")
        .into_iter()
        .filter_map(|line| line.split_once('=').map(|(k, _)| k.trim().to_owned()))
        .filter(|k| k != "default" && !k.starts_with('#'))
        .collect()
}

/// The `default = [...]` features.
fn default_features(manifest: &str) -> Vec<String> {
    section(manifest, "features")
        .into_iter()
        .find_map(|line| line.trim().strip_prefix("default").map(str::to_owned))
        .map(|rest| {
            rest.split(['[', ']', ',', '=', '"'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Each feature of the `[features]` section with what it enables (arrays may span lines).
pub fn feature_entries(manifest: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut open = false;
    for line in section(manifest, "features") {
        let rest = if open {
            line
        } else {
            let Some((name, rest)) = line.split_once('=') else {
                continue;
            };
            out.push((name.trim().to_owned(), Vec::new()));
            rest
        };
        open = !rest.contains(']');
        if let Some((_, values)) = out.last_mut() {
            values.extend(
                rest.split(['[', ']', ','])
                    .map(|v| v.trim().trim_matches('"'))
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned),
            );
        }
    }
    out
}

/// The Rust sources of a crate folder (src, tests, benches, examples).
fn sources(dir: &Path) -> String {
    let mut text = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && !path.ends_with("target") {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                text.push_str(&fs::read_to_string(&path).unwrap_or_default());
            }
        }
    }
    text
}

/// Features that gate nothing: no dependency or other crate's feature enabled, and no
/// `feature = "…"` in the crate's code.
pub fn idle_features(manifest: &str, code: &str) -> Vec<String> {
    feature_entries(manifest)
        .into_iter()
        .filter(|(name, _)| name != "default")
        .filter(|(name, values)| {
            let forwards = values
                .iter()
                .any(|v| v.starts_with("dep:") || v.contains('/'));
            let in_code = code.contains(&format!("feature = \"{name}\""));
            !forwards && !in_code
        })
        .map(|(name, _)| name)
        .collect()
}

/// The lines of a `[name]` section (comments dropped).
fn section<'a>(manifest: &'a str, name: &str) -> Vec<&'a str> {
    let header = format!("[{name}]");
    let mut inside = false;
    let mut lines = Vec::new();
    for line in manifest.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t == header;
            continue;
        }
        if inside && !t.is_empty() && !t.starts_with('#') {
            lines.push(t);
        }
    }
    lines
}

/// The crates under `crates/`, as (folder, manifest text).
pub fn crates(root: &Path) -> Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(root.join("crates")).context("cannot list crates/")? {
        let dir = entry?.path();
        let manifest = dir.join("Cargo.toml");
        if manifest.is_file() {
            out.push((dir, fs::read_to_string(&manifest)?));
        }
    }
    out.sort();
    Ok(out)
}

/// The package name of a manifest.
pub fn package_name(manifest: &str) -> Option<String> {
    section(manifest, "package").into_iter().find_map(|l| {
        l.strip_prefix("name")
            .and_then(|r| r.trim().strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').to_owned())
    })
}

fn publishable(manifest: &str) -> bool {
    !section(manifest, "package")
        .iter()
        .any(|l| l.replace(' ', "") == "publish=false")
}

/// Every check; the error lists every problem found.
pub fn check(root: &Path) -> Result<()> {
    let mut problems = Vec::new();

    // 1. Internal path dependencies carry a version (else `cargo publish` refuses them).
    let workspace = fs::read_to_string(root.join("Cargo.toml"))?;
    for line in section(&workspace, "workspace.dependencies") {
        if line.contains("path =") && !line.contains("version =") {
            problems.push(format!(
                "Cargo.toml: internal dependency without a version: {line}"
            ));
        }
    }
    let mut manifests = crates(root)?;
    for extra in ["examples", "tests", "xtask"] {
        let path = root.join(extra).join("Cargo.toml");
        manifests.push((root.join(extra), fs::read_to_string(&path)?));
    }
    for (dir, manifest) in &manifests {
        for line in manifest.lines() {
            if line.contains("path =")
                && line.contains("creative-feedback")
                && !line.contains("version =")
            {
                problems.push(format!(
                    "{}: path dependency without a version: {}",
                    dir.display(),
                    line.trim()
                ));
            }
        }
    }

    // 2. Every publishable crate is complete.
    for (dir, manifest) in crates(root)? {
        if !publishable(&manifest) {
            continue;
        }
        let name = package_name(&manifest).unwrap_or_else(|| dir.display().to_string());
        for file in ["README.md", "CHANGELOG.md"] {
            if !dir.join(file).is_file() {
                problems.push(format!("{name}: {file} is missing"));
            }
        }
        let package = section(&manifest, "package");
        for key in ["description", "license", "repository", "keywords"] {
            if !package.iter().any(|l| l.starts_with(key)) {
                problems.push(format!("{name}: [package] has no {key}"));
            }
        }
        let changelog = fs::read_to_string(dir.join("CHANGELOG.md")).unwrap_or_default();
        if !changelog.contains("## Unreleased")
            && !changelog.contains("## [")
            && !changelog.contains("## 0.")
        {
            problems.push(format!("{name}: CHANGELOG.md has no sections"));
        }
    }

    // 3. Every example is run by CI.
    let ci = fs::read_to_string(root.join(".ci/run")).unwrap_or_default();
    if !ci.contains("xtask examples") && !ci.contains("xtask ci") {
        problems.push(".ci/run does not run `cargo xtask examples`".to_owned());
    }
    for (dir, _) in crates(root)? {
        let Ok(entries) = fs::read_dir(dir.join("examples")) else {
            continue;
        };
        let package = format!(
            "creative-feedback-{}",
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(stem) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
                continue;
            };
            let listed = CRATE_EXAMPLES
                .iter()
                .any(|(p, e)| *p == package && *e == stem);
            let is_tool = stem == "load"; // run by `examples` against a server of its own
            if !listed && !is_tool {
                problems.push(format!(
                    "{}: not run by CI (add it to CRATE_EXAMPLES)",
                    path.display()
                ));
            }
        }
    }

    // 4. The facade's feature table matches its manifest.
    let facade = fs::read_to_string(root.join("crates/creative-feedback/Cargo.toml"))?;
    let docs = fs::read_to_string(root.join("crates/creative-feedback/src/lib.rs"))?;
    let mut documented = Vec::new();
    let mut documented_default = Vec::new();
    for line in docs.lines() {
        let Some(row) = line.strip_prefix("//! | `") else {
            continue;
        };
        let Some((name, rest)) = row.split_once('`') else {
            continue;
        };
        documented.push(name.to_owned());
        if rest.trim_start_matches(['|', ' ']).starts_with("yes") {
            documented_default.push(name.to_owned());
        }
    }
    let mut declared = manifest_features(&facade);
    declared.sort();
    documented.sort();
    if declared != documented {
        problems.push(format!(
            "the facade's feature table lists {documented:?} but Cargo.toml declares {declared:?}"
        ));
    }
    let mut defaults = default_features(&facade);
    defaults.sort();
    documented_default.sort();
    if defaults != documented_default {
        problems.push(format!(
            "the facade's feature table marks {documented_default:?} as default but Cargo.toml says {defaults:?}"
        ));
    }

    // 5. Every feature gates a dependency or code.
    for (dir, manifest) in crates(root)? {
        let name = package_name(&manifest).unwrap_or_else(|| dir.display().to_string());
        for feature in idle_features(&manifest, &sources(&dir)) {
            problems.push(format!(
                "{name}: feature `{feature}` gates nothing (no dependency, no forwarded feature, no cfg in the code): remove it or make it gate something"
            ));
        }
    }

    if problems.is_empty() {
        eprintln!("tidy: all checks pass");
        Ok(())
    } else {
        bail!(
            "tidy found {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
[package]
name = "x"
publish = false

[features]
default = ["a", "b"]
## doc
a = []
b = ["dep:c"]
c = []
"#;

    #[test]
    fn a_feature_that_gates_nothing_is_found() {
        let manifest = "[features]\ndefault = []\nidle = []\nfwd = [\n    \"dep:x\",\n    \"y/z\",\n]\nused = []\n";
        assert_eq!(
            feature_entries(manifest)[2],
            ("fwd".to_owned(), vec!["dep:x".to_owned(), "y/z".to_owned()])
        );
        let code = "#[cfg(feature = \"used\")]\nfn f() {}";
        assert_eq!(idle_features(manifest, code), ["idle"]);
    }

    #[test]
    fn features_are_read_from_the_manifest() {
        assert_eq!(manifest_features(MANIFEST), ["a", "b", "c"]);
        assert_eq!(default_features(MANIFEST), ["a", "b"]);
        assert_eq!(package_name(MANIFEST).as_deref(), Some("x"));
        assert!(!publishable(MANIFEST));
    }
}

//! `cargo xtask release VERSION [--dry-run] [--skip-build]`.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use crate::tidy::{crates, package_name};
use crate::{cargo_in, run as run_cmd};

/// A semantic version: major.minor.patch with an optional pre-release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    numbers: [u64; 3],
    pre: Option<String>,
}

impl Version {
    /// Parses `1.2.3` or `1.2.3-rc.1`.
    pub fn parse(text: &str) -> Result<Self> {
        let (core, pre) = match text.split_once('-') {
            Some((c, p)) if !p.is_empty() => (c, Some(p.to_owned())),
            Some(_) => bail!("`{text}` has an empty pre-release"),
            None => (text, None),
        };
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() != 3 {
            bail!("`{text}` is not a semantic version (MAJOR.MINOR.PATCH)");
        }
        let mut numbers = [0u64; 3];
        for (n, p) in numbers.iter_mut().zip(&parts) {
            if p.is_empty()
                || (p.len() > 1 && p.starts_with('0'))
                || !p.bytes().all(|b| b.is_ascii_digit())
            {
                bail!("`{text}` is not a semantic version: `{p}` is not a number without leading zeros");
            }
            *n = p.parse().with_context(|| format!("`{p}` is too large"))?;
        }
        Ok(Self { numbers, pre })
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c] = self.numbers;
        write!(f, "{a}.{b}.{c}")?;
        if let Some(p) = &self.pre {
            write!(f, "-{p}")?;
        }
        Ok(())
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.numbers
            .cmp(&other.numbers)
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => compare_pre(a, b),
            })
    }
}

fn compare_pre(a: &str, b: &str) -> Ordering {
    for (x, y) in a.split('.').zip(b.split('.')) {
        let o = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(m), Ok(n)) => m.cmp(&n),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            (Err(_), Err(_)) => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.split('.').count().cmp(&b.split('.').count())
}

/// Today's date (UTC) as YYYY-MM-DD, from the days since the epoch.
pub fn today() -> String {
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The workspace's lockstep version.
fn current_version(manifest: &str) -> Result<Version> {
    let mut in_package = false;
    for line in manifest.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            in_package = t == "[workspace.package]";
        } else if in_package {
            if let Some(v) = t
                .strip_prefix("version")
                .and_then(|r| r.trim().strip_prefix('='))
            {
                return Version::parse(v.trim().trim_matches('"'));
            }
        }
    }
    bail!("Cargo.toml has no version in [workspace.package]")
}

/// The root manifest with the lockstep version and every internal dependency's version bumped.
pub fn bump_manifest(manifest: &str, from: &Version, to: &Version) -> String {
    let (old, new) = (
        format!("version = \"{from}\""),
        format!("version = \"{to}\""),
    );
    let mut section = "";
    let mut out = String::with_capacity(manifest.len());
    for line in manifest.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            section = if t == "[workspace.package]" {
                "package"
            } else if t == "[workspace.dependencies]" {
                "deps"
            } else {
                ""
            };
        }
        let bumped = match section {
            "package" if t.starts_with("version") => line.replace(&old, &new),
            "deps" if t.contains("path = \"crates/") => line.replace(&old, &new),
            _ => line.to_owned(),
        };
        out.push_str(&bumped);
        out.push('\n');
    }
    out
}

/// The changelog with its `Unreleased` entries moved under `## VERSION — DATE`, leaving an
/// empty `Unreleased` section on top.
pub fn move_unreleased(changelog: &str, version: &Version, date: &str) -> Result<String> {
    if !changelog.contains("## Unreleased") {
        bail!("no `## Unreleased` section");
    }
    Ok(changelog.replacen(
        "## Unreleased",
        &format!("## Unreleased\n\n## {version} — {date}"),
        1,
    ))
}

/// Publishable crates, dependencies before dependents.
pub fn publish_order(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut deps: BTreeMap<String, (PathBuf, Vec<String>)> = BTreeMap::new();
    for (dir, manifest) in crates(root)? {
        if manifest.replace(' ', "").contains("publish=false") {
            continue;
        }
        let Some(name) = package_name(&manifest) else {
            continue;
        };
        let mut internal = Vec::new();
        let mut in_deps = false;
        for line in manifest.lines() {
            let t = line.trim();
            if t.starts_with('[') {
                in_deps = t == "[dependencies]";
            } else if in_deps && t.starts_with("creative-feedback") {
                let dep = t.split(['.', ' ', '=']).next().unwrap_or("").to_owned();
                internal.push(dep);
            }
        }
        deps.insert(name, (dir, internal));
    }
    let mut order: Vec<(String, PathBuf)> = Vec::new();
    while order.len() < deps.len() {
        let before = order.len();
        for (name, (dir, needs)) in &deps {
            let placed = |n: &String| order.iter().any(|(o, _)| o == n);
            if !placed(name) && needs.iter().all(|d| placed(d) || !deps.contains_key(d)) {
                order.push((name.clone(), dir.clone()));
            }
        }
        if order.len() == before {
            bail!("internal dependencies form a cycle");
        }
    }
    Ok(order)
}

fn git(root: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(root)
        .output()
        .context("cannot run git")?;
    if !out.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The release: see the module docs. With `--dry-run` every file is restored at the end and no
/// commit or tag is made.
pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let dry_run = args.iter().any(|a| a == "--dry-run");
    let skip_build = args.iter().any(|a| a == "--skip-build");
    let Some(version) = args.iter().find(|a| !a.starts_with("--")) else {
        bail!("usage: cargo xtask release VERSION [--dry-run] [--skip-build]");
    };
    let to = Version::parse(version)?;
    if !git(root, &["status", "--porcelain"])?.trim().is_empty() {
        bail!("the working tree has uncommitted changes: commit or stash them before a release");
    }
    let manifest_path = root.join("Cargo.toml");
    let manifest = fs::read_to_string(&manifest_path)?;
    let from = current_version(&manifest)?;
    if to <= from {
        bail!("{to} is not an increase over the current version {from}");
    }

    let date = today();
    let mut originals: Vec<(PathBuf, String)> = vec![(manifest_path.clone(), manifest.clone())];
    // Builds rewrite the lock file with the new versions; a dry run must restore it too.
    let lock_path = root.join("Cargo.lock");
    if let Ok(lock) = fs::read_to_string(&lock_path) {
        originals.push((lock_path, lock));
    }
    fs::write(&manifest_path, bump_manifest(&manifest, &from, &to))?;
    for (dir, _) in crates(root)? {
        let path = dir.join("CHANGELOG.md");
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let moved =
            move_unreleased(&text, &to, &date).with_context(|| path.display().to_string())?;
        fs::write(&path, moved)?;
        originals.push((path, text));
    }
    eprintln!("version {from} → {to} ({date})");

    let order = publish_order(root)?;
    eprintln!(
        "publish order: {}",
        order
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(" → ")
    );
    let result = (|| -> Result<()> {
        if skip_build {
            return Ok(());
        }
        let mut package = cargo_in(root);
        package.args(["package", "--allow-dirty", "--no-verify"]);
        for (name, _) in &order {
            package.args(["--package", name]);
        }
        run_cmd(package)?;
        for (name, _) in &order {
            let mut default = cargo_in(root);
            default.args(["build", "--quiet", "--package", name]);
            run_cmd(default)?;
            let mut bare = cargo_in(root);
            bare.args([
                "build",
                "--quiet",
                "--package",
                name,
                "--no-default-features",
            ]);
            run_cmd(bare)?;
        }
        Ok(())
    })();

    if dry_run || result.is_err() {
        for (path, text) in &originals {
            fs::write(path, text)?;
        }
        result?;
        eprintln!("dry run: nothing committed or tagged; files restored");
        return Ok(());
    }
    git(
        root,
        &["commit", "--quiet", "-am", &format!("Release {to}")],
    )?;
    git(
        root,
        &[
            "tag",
            "-a",
            &format!("v{to}"),
            "-m",
            &format!("Release {to}"),
        ],
    )?;
    eprintln!(
        "committed and tagged v{to}; publish in the order above with `cargo publish -p NAME`"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order_as_semver() {
        let v = |s: &str| Version::parse(s).unwrap_or_else(|e| panic!("{e}"));
        assert!(v("0.1.0") < v("0.1.1"));
        assert!(v("0.9.9") < v("0.10.0"));
        assert!(v("1.0.0-rc.1") < v("1.0.0"));
        assert!(v("1.0.0-alpha") < v("1.0.0-alpha.1"));
        assert!(v("1.0.0-rc.2") < v("1.0.0-rc.10"));
        for bad in ["1.0", "1.0.0.0", "01.0.0", "a.b.c", "1.0.0-", ""] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(v("2.3.4-beta.1").to_string(), "2.3.4-beta.1");
    }

    #[test]
    fn today_is_a_date() {
        let d = today();
        assert_eq!(d.len(), 10);
        assert!(d.starts_with("20"));
    }

    /// Copies the tracked files of the workspace into a fresh git repository.
    fn copy_workspace() -> tempfile::TempDir {
        let root = crate::root();
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let files = git(&root, &["ls-files"]).unwrap_or_default();
        for file in files.lines() {
            let to = dir.path().join(file);
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
            }
            if fs::copy(root.join(file), &to).is_err() {
                continue; // deleted but not yet committed
            }
        }
        for args in [
            &["init", "--quiet"][..],
            &["-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"],
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "--quiet",
                "-m",
                "copy",
            ],
        ] {
            git(dir.path(), args).unwrap_or_else(|e| panic!("{e}"));
        }
        dir
    }

    #[test]
    fn release_on_a_copy_of_the_workspace() {
        let copy = copy_workspace();
        let root = copy.path();
        let manifest = fs::read_to_string(root.join("Cargo.toml")).unwrap_or_default();
        let current = current_version(&manifest).unwrap_or_else(|e| panic!("{e}"));
        let next = Version {
            numbers: [current.numbers[0], current.numbers[1] + 1, 0],
            pre: None,
        };
        let args = |extra: &[&str]| -> Vec<String> {
            std::iter::once(next.to_string())
                .chain(extra.iter().map(|s| (*s).to_owned()))
                .collect()
        };

        // Not an increase.
        assert!(run(
            root,
            &[
                current.to_string(),
                "--dry-run".into(),
                "--skip-build".into()
            ]
        )
        .is_err());
        // A dirty tree.
        fs::write(root.join("scratch.txt"), "x").unwrap_or_else(|e| panic!("{e}"));
        let err = run(root, &args(&["--dry-run", "--skip-build"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("uncommitted"), "{err}");
        fs::remove_file(root.join("scratch.txt")).unwrap_or_else(|e| panic!("{e}"));

        // A dry run changes nothing.
        run(root, &args(&["--dry-run", "--skip-build"])).unwrap_or_else(|e| panic!("{e}"));
        assert!(git(root, &["status", "--porcelain"])
            .unwrap_or_default()
            .trim()
            .is_empty());
        assert!(git(root, &["tag"]).unwrap_or_default().trim().is_empty());

        // The release itself.
        run(root, &args(&["--skip-build"])).unwrap_or_else(|e| panic!("{e}"));
        let bumped = fs::read_to_string(root.join("Cargo.toml")).unwrap_or_default();
        assert_eq!(
            current_version(&bumped).unwrap_or_else(|e| panic!("{e}")),
            next
        );
        let internal: Vec<&str> = bumped
            .lines()
            .filter(|l| l.contains("path = \"crates/"))
            .collect();
        assert!(!internal.is_empty());
        assert!(
            internal
                .iter()
                .all(|l| l.contains(&format!("version = \"{next}\""))),
            "{internal:?}"
        );
        let changelog =
            fs::read_to_string(root.join("crates/core/CHANGELOG.md")).unwrap_or_default();
        assert!(changelog.contains(&format!("## {next} — ")), "{changelog}");
        assert!(changelog.find("## Unreleased") < changelog.find(&format!("## {next}")));
        assert_eq!(
            git(root, &["tag"]).unwrap_or_default().trim(),
            format!("v{next}")
        );
        assert!(git(root, &["status", "--porcelain"])
            .unwrap_or_default()
            .trim()
            .is_empty());
    }

    #[test]
    fn publish_order_puts_dependencies_first() {
        let order = publish_order(&crate::root()).unwrap_or_else(|e| panic!("{e}"));
        let pos = |n: &str| order.iter().position(|(o, _)| o == n).unwrap_or(usize::MAX);
        assert!(pos("creative-feedback-profiles") < pos("creative-feedback-core"));
        assert!(pos("creative-feedback-quality") < pos("creative-feedback-core"));
        assert!(pos("creative-feedback-core") < pos("creative-feedback-stream"));
        assert!(pos("creative-feedback-stream") < pos("creative-feedback-server"));
        assert!(pos("creative-feedback-server") < pos("crefl"));
        assert!(pos("creative-feedback") < pos("crefl"));
    }
}

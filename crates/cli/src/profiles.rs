//! `crefl profiles`: every registered profile's shape.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use creative_feedback::profiles::{Params, Profile, ProfileRegistry};

use crate::common::write_atomic;
use crate::plot;

#[derive(Debug, Args)]
pub struct ProfilesArgs {
    /// Draw the shapes to an SVG file instead of printing a table.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Base factor the shapes are drawn for.
    #[arg(long, default_value_t = 0.6)]
    pub base: f64,
    /// Entropy steps of the drawn exploration (1 to 1000000, the largest
    /// `max_exploration_steps`).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub duration: u32,
    /// Print every profile's parameters and its factor at every step as JSON.
    #[arg(long, conflicts_with = "plot")]
    pub json: bool,
}

/// The registered profiles with the parameters the default selector typically gives them.
fn shapes(registry: &ProfileRegistry) -> Vec<Profile> {
    registry
        .names()
        .filter_map(|name| Profile::from_parts(name, &Params::new()).ok())
        .map(|p| match p {
            Profile::CosineRamp { .. } => Profile::CosineRamp {
                ramp_fraction: 0.25,
            },
            other => other,
        })
        .collect()
}

pub fn run(args: &ProfilesArgs) -> Result<ExitCode> {
    if !(args.base > 0.0 && args.base <= 1.0) {
        anyhow::bail!("--base must be a number in (0, 1], got {}", args.base);
    }
    let registry = ProfileRegistry::new();
    let mut curves = Vec::new();
    for profile in shapes(&registry) {
        let label = describe(&profile);
        let resolved = registry.resolve(profile)?;
        let points: Vec<(f64, f64)> = (0..=args.duration)
            .map(|k| {
                let p = f64::from(k) / f64::from(args.duration);
                (
                    p,
                    resolved.factor(args.base, k, args.duration).clamp(0.0, 1.0),
                )
            })
            .collect();
        curves.push((label, points));
    }
    if args.json {
        let profiles: Vec<serde_json::Value> = shapes(&registry)
            .iter()
            .zip(&curves)
            .map(|(profile, (_, points))| {
                let params: serde_json::Map<String, serde_json::Value> = profile
                    .params()
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.into()))
                    .collect();
                let factors: Vec<f64> = points.iter().map(|p| p.1).collect();
                serde_json::json!({ "name": profile.name_str(), "params": params, "factors": factors })
            })
            .collect();
        let out = serde_json::json!({
            "base": args.base,
            "duration": args.duration,
            "profiles": profiles,
        });
        println!("{out}");
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(path) = &args.plot {
        write_atomic(path, plot::profiles(&curves, args.base)?.as_bytes())?;
        println!("{} profiles drawn to {}", curves.len(), path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    let columns = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0];
    let _ = write!(
        out,
        "{:<38}",
        format!("factor at progress (base {})", args.base)
    );
    for c in columns {
        let _ = write!(out, "{c:>7}");
    }
    out.push('\n');
    for (label, points) in &curves {
        let _ = write!(out, "{label:<38}");
        for c in columns {
            let k = (c * f64::from(args.duration)).round() as usize;
            let v = points.get(k).map_or(0.0, |p| p.1);
            let _ = write!(out, "{v:>7.3}");
        }
        out.push('\n');
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn describe(profile: &Profile) -> String {
    let params: Vec<String> = profile
        .params()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if params.is_empty() {
        profile.name().to_string()
    } else {
        format!("{} ({})", profile.name(), params.join(", "))
    }
}

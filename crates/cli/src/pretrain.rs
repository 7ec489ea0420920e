//! `crefl pretrain`: fit the quality model from past explorations.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use creative_feedback::FEATURE_NAMES;

use crate::common::{builder, write_atomic};
use crate::LoopArgs;

#[derive(Debug, Args)]
pub struct PretrainArgs {
    #[command(flatten)]
    pub common: LoopArgs,
    /// Past explorations, one JSON record per line (as written by `simulate --export-history`).
    #[arg(long, value_name = "FILE.jsonl")]
    pub history: PathBuf,
    /// Where to write the fitted model.
    #[arg(long, value_name = "MODEL.json")]
    pub out: PathBuf,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &PretrainArgs) -> Result<ExitCode> {
    let mut feedback = builder(&args.common)?.build()?;
    let text = fs::read_to_string(&args.history)
        .with_context(|| format!("cannot read history file {}", args.history.display()))?;
    let before = feedback.model().samples_seen();
    let report = feedback.pretrain_jsonl(&text);
    for skipped in &report.skipped {
        let reasons: Vec<String> = skipped.reasons.iter().map(ToString::to_string).collect();
        eprintln!("skipped line {}: {}", skipped.line, reasons.join("; "));
    }
    if report.used == 0 {
        anyhow::bail!(
            "no usable record in {} ({} skipped); nothing was written",
            args.history.display(),
            report.skipped.len()
        );
    }
    let model = feedback.model();
    write_atomic(&args.out, serde_json::to_string(model)?.as_bytes())?;
    if args.json {
        let weights: serde_json::Map<String, serde_json::Value> = FEATURE_NAMES
            .iter()
            .zip(model.fitted_weights())
            .map(|(name, w)| ((*name).to_owned(), (*w).into()))
            .collect();
        let skipped: Vec<serde_json::Value> = report
            .skipped
            .iter()
            .map(|s| serde_json::json!({ "line": s.line, "reasons": s.reasons }))
            .collect();
        let out = serde_json::json!({
            "used": report.used,
            "skipped": skipped,
            "samples_seen": model.samples_seen(),
            "samples_before": before,
            "trained": model.is_trained(),
            "weights": weights,
            "model": args.out,
        });
        println!("{out}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "pre-trained on {} records ({} skipped); the model has seen {} samples ({} before) and {}",
        report.used,
        report.skipped.len(),
        model.samples_seen(),
        before,
        if model.is_trained() {
            "is trained".to_owned()
        } else {
            format!("needs {} to be trained", model.config().min_samples)
        }
    );
    println!("fitted weights:");
    for (name, w) in FEATURE_NAMES.iter().zip(model.fitted_weights()) {
        println!("  {name:<16}{w:+.6}");
    }
    println!("model written to {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

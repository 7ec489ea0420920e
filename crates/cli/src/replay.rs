//! `crefl replay`: recorded states in, decisions out, one JSON object per line.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use creative_feedback::{FieldError, ReadState};
use serde::Serialize;

use crate::common::{builder, metrics_exporter, write_metrics};
use crate::LoopArgs;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub common: LoopArgs,
    /// States, one JSON object per line (standard input when absent).
    #[arg(long, value_name = "FILE.jsonl")]
    pub states: Option<PathBuf>,
    /// Where to write decisions, one per line (standard output when absent).
    #[arg(long, value_name = "FILE.jsonl")]
    pub out: Option<PathBuf>,
    /// Write the final Prometheus exposition to this file (node_exporter's textfile format).
    #[arg(long, value_name = "FILE.prom")]
    pub metrics_out: Option<PathBuf>,
    /// Keep going past invalid lines: each gets an error object in the output instead of a
    /// decision, and is counted.
    #[arg(long)]
    pub skip_invalid: bool,
}

/// The output line for a line that gave no decision.
#[derive(Serialize)]
struct LineError<'a> {
    error: &'a str,
    line: usize,
    fields: &'a [FieldError],
}

pub fn run(args: &ReplayArgs) -> Result<ExitCode> {
    let mut feedback = builder(&args.common)?.build()?;
    let input: Box<dyn BufRead> = match &args.states {
        Some(path) => {
            Box::new(BufReader::new(File::open(path).with_context(|| {
                format!("cannot open states file {}", path.display())
            })?))
        }
        None => Box::new(BufReader::new(io::stdin().lock())),
    };
    let output: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(io::stdout().lock()),
    };
    let mut out = BufWriter::new(output);
    let exporter = metrics_exporter(args.metrics_out.as_deref())?;
    let (mut lines, mut decisions, mut invalid) = (0usize, 0u64, 0u64);
    let mut failure = None;
    for (i, line) in input.split(b'\n').enumerate() {
        let number = i + 1;
        let bytes = line.context("cannot read the states")?;
        // Text that is not UTF-8 is refused, as the sidecar refuses it, never decoded lossily.
        let text = std::str::from_utf8(&bytes).map(str::trim);
        if text.is_ok_and(str::is_empty) {
            continue;
        }
        lines += 1;
        let result = text
            .map_err(|_| "the line is not UTF-8 text".to_owned())
            .and_then(|text| ReadState::from_json(text).map_err(|e| e.to_string()))
            .map_err(|e| ("invalid JSON", vec![FieldError::new("line", e)]))
            .and_then(|read| {
                feedback
                    .update_read(&read)
                    .map_err(|r| ("invalid state", r.fields))
            });
        match result {
            Ok(decision) => {
                decisions += 1;
                serde_json::to_writer(&mut out, &decision)?;
                out.write_all(b"\n")?;
                for event in feedback.drain_events() {
                    if let Some(e) = &exporter {
                        e.record_event(&event);
                    }
                }
            }
            Err((error, fields)) => {
                invalid += 1;
                let detail: Vec<String> = fields.iter().map(ToString::to_string).collect();
                if !args.skip_invalid {
                    failure = Some(format!("line {number}: {error}: {}", detail.join("; ")));
                    break;
                }
                serde_json::to_writer(
                    &mut out,
                    &LineError {
                        error,
                        line: number,
                        fields: &fields,
                    },
                )?;
                out.write_all(b"\n")?;
            }
        }
    }
    out.flush().context("cannot write the decisions")?;
    write_metrics(exporter.as_ref(), &feedback, args.metrics_out.as_deref())?;
    let c = feedback.counters();
    eprintln!(
        "replayed {}: {}, {invalid} invalid{}; {} ({} completed, {} pruned, {} aborted), \
         cumulative gain {:.4}, final mode {}",
        crate::common::count(lines as u64, "state"),
        crate::common::count(decisions, "decision"),
        if args.skip_invalid { " (skipped)" } else { "" },
        crate::common::count(c.explorations_started, "exploration"),
        c.completed,
        c.pruned,
        c.aborted,
        feedback.cumulative_gain(),
        feedback.mode()
    );
    if let Some(message) = failure {
        eprintln!("error: {message} (use --skip-invalid to continue past invalid lines)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

//! Historical exploration records for pre-training (SPEC §7, the guide's §3).

use creative_feedback_quality::Features;

use crate::config::{Config, InputMode};
use crate::json::{parse, state_from, Json, ReadError};
use crate::state::{validate, FieldError, Rejected, State};
use crate::CreativeLoop;

/// One past exploration: its initial state, base entropy factor (before adjustment), duration,
/// creative gain and, optionally, how many samples the model had seen then.
///
/// In JSON Lines, one object per line:
/// `{"initial_state": {"novelty": 0.8, "aesthetic_score": 0.6}, "entropy_factor": 0.5,
/// "duration": 150, "creative_gain": 0.12}`. Other keys (as written by `--export-history`)
/// are ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRecord {
    /// The state that triggered the exploration (validated as in strict mode).
    pub initial_state: State,
    /// The base entropy factor before the quality adjustment, in [0, 1].
    pub entropy_factor: f64,
    /// The exploration's duration in entropy steps (≥ 1, taken as given).
    pub duration: u32,
    /// The observed creative gain, in [−1, 1].
    pub creative_gain: f64,
    /// Samples the model had seen when the exploration started; `None` uses the model's count
    /// when the record is added.
    pub samples_seen: Option<u64>,
}

/// A record that was not used, with its line number (1-based) and every reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRecord {
    /// The line in the file.
    pub line: usize,
    /// Why, field by field.
    pub reasons: Vec<FieldError>,
}

/// What [`CreativeLoop::pretrain_jsonl`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PretrainReport {
    /// Records given to the model.
    pub used: usize,
    /// Records skipped, with reasons.
    pub skipped: Vec<SkippedRecord>,
}

fn check_record(record: &HistoryRecord) -> Vec<FieldError> {
    let mut errors = match validate(&record.initial_state, InputMode::Strict) {
        Ok(_) => Vec::new(),
        Err(rejected) => rejected
            .fields
            .into_iter()
            .map(|f| FieldError::new(format!("initial_state.{}", f.field), f.message))
            .collect(),
    };
    if !(0.0..=1.0).contains(&record.entropy_factor) {
        errors.push(FieldError::new(
            "entropy_factor",
            format!("{} is not a number in [0, 1]", record.entropy_factor),
        ));
    }
    if record.duration == 0 {
        errors.push(FieldError::new("duration", "must be at least 1"));
    }
    if !(-1.0..=1.0).contains(&record.creative_gain) {
        errors.push(FieldError::new(
            "creative_gain",
            format!("{} is not a number in [-1, 1]", record.creative_gain),
        ));
    }
    errors
}

/// The features of a record, as live explorations compute them.
pub(crate) fn features(
    record: &HistoryRecord,
    config: &Config,
    samples_seen_now: u64,
) -> Result<Features, Rejected> {
    let errors = check_record(record);
    if !errors.is_empty() {
        return Err(Rejected::new(errors));
    }
    let (obs, _) = validate(&record.initial_state, InputMode::Strict)?;
    let seen = record.samples_seen.unwrap_or(samples_seen_now);
    Ok([
        obs.novelty,
        obs.aesthetic_score,
        obs.volatility,
        record.entropy_factor,
        f64::from(record.duration) / f64::from(config.max_exploration_steps),
        seen.min(100) as f64 / 100.0,
        1.0,
    ])
}

impl HistoryRecord {
    /// Reads one record from a JSON object.
    ///
    /// # Errors
    ///
    /// The fields that are missing or of the wrong type; [`ReadError`] text for malformed JSON
    /// is reported under the field `line`.
    pub fn from_json(text: &str) -> Result<Self, Vec<FieldError>> {
        let value =
            parse(text).map_err(|e: ReadError| vec![FieldError::new("line", e.to_string())])?;
        let Json::Obj(entries) = &value else {
            return Err(vec![FieldError::new(
                "line",
                "a record must be a JSON object",
            )]);
        };
        let get = |key: &str| entries.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        let mut errors = Vec::new();
        let mut number = |key: &str| match get(key) {
            Some(Json::Num(n)) => Some(*n),
            Some(other) => {
                errors.push(FieldError::new(
                    key,
                    format!("expected a number, got {other}"),
                ));
                None
            }
            None => {
                errors.push(FieldError::new(key, "missing"));
                None
            }
        };
        let entropy_factor = number("entropy_factor");
        let duration = number("duration");
        let creative_gain = number("creative_gain");
        let samples_seen = match get("samples_seen") {
            None | Some(Json::Null) => None,
            Some(Json::Num(n)) if *n >= 0.0 && n.fract() == 0.0 && *n < 9.0e15 => Some(*n as u64),
            Some(_) => {
                errors.push(FieldError::new(
                    "samples_seen",
                    "expected a whole number ≥ 0",
                ));
                None
            }
        };
        let duration = match duration {
            Some(d) if d >= 0.0 && d.fract() == 0.0 && d <= f64::from(u32::MAX) => Some(d as u32),
            Some(_) => {
                errors.push(FieldError::new("duration", "expected a whole number ≥ 1"));
                None
            }
            None => None,
        };
        let initial_state = match get("initial_state") {
            Some(v @ Json::Obj(_)) => state_from(v).ok(),
            Some(other) => {
                errors.push(FieldError::new(
                    "initial_state",
                    format!("expected an object, got {other}"),
                ));
                None
            }
            None => {
                errors.push(FieldError::new("initial_state", "missing"));
                None
            }
        };
        match (initial_state, entropy_factor, duration, creative_gain) {
            (Some(initial_state), Some(entropy_factor), Some(duration), Some(creative_gain))
                if errors.is_empty() =>
            {
                Ok(Self {
                    initial_state,
                    entropy_factor,
                    duration,
                    creative_gain,
                    samples_seen,
                })
            }
            _ => Err(errors),
        }
    }
}

impl CreativeLoop {
    /// Pre-trains the quality model from JSON Lines text (one record per line; blank lines are
    /// skipped). Records that break the rules are skipped and reported with their line number.
    pub fn pretrain_jsonl(&mut self, text: &str) -> PretrainReport {
        let mut report = PretrainReport::default();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let result = HistoryRecord::from_json(line)
                .and_then(|record| self.pretrain(&record).map_err(|r| r.fields));
            match result {
                Ok(()) => report.used += 1,
                Err(reasons) => report.skipped.push(SkippedRecord {
                    line: i + 1,
                    reasons,
                }),
            }
        }
        report
    }
}

//! Historical exploration records for pre-training (specification §7).

use creative_feedback_quality::Features;

use crate::config::{Config, InputMode};
use crate::json::{parse, state_from, Json, ReadError};
use crate::rules;
use crate::state::{Observation, State};
use crate::validate::{validate, FieldError, Findings, Rejected};

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

/// What [`CreativeLoop::pretrain_jsonl`](crate::CreativeLoop::pretrain_jsonl) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PretrainReport {
    /// Records given to the model.
    pub used: usize,
    /// Records skipped, with reasons.
    pub skipped: Vec<SkippedRecord>,
}

fn check_record(record: &HistoryRecord) -> Vec<FieldError> {
    let mut errors = match validate(
        &record.initial_state,
        InputMode::Strict,
        Findings::NONE,
        &mut Vec::new(),
    ) {
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

impl HistoryRecord {
    /// The record's features, as live explorations compute them.
    pub(crate) fn features(
        &self,
        config: &Config,
        samples_seen_now: u64,
    ) -> Result<Features, Rejected> {
        let errors = check_record(self);
        if !errors.is_empty() {
            return Err(Rejected::new(errors));
        }
        let n = validate(
            &self.initial_state,
            InputMode::Strict,
            Findings::NONE,
            &mut Vec::new(),
        )?;
        let values = Observation::new(&self.initial_state, n).values;
        Ok(rules::features(
            &values,
            self.entropy_factor,
            self.duration,
            config.max_exploration_steps,
            self.samples_seen.unwrap_or(samples_seen_now),
        ))
    }

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
            Some(v @ Json::Obj(_)) => state_from(v).ok().map(|read| {
                errors.extend(
                    read.findings
                        .errors
                        .into_iter()
                        .map(|f| FieldError::new(format!("initial_state.{}", f.field), f.message)),
                );
                read.state
            }),
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

/// The records of JSON Lines text with their line numbers (1-based); blank lines are skipped.
pub(crate) fn read_jsonl(
    text: &str,
) -> impl Iterator<Item = (usize, Result<HistoryRecord, Vec<FieldError>>)> + '_ {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| (i + 1, HistoryRecord::from_json(line)))
}

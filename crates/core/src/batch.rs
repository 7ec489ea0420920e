//! Many states at once, as arrays (the `ndarray` feature): the shape array libraries (and
//! NumPy, through the Python package) hand over.
//!
//! A batch is exactly the same loop stepped row by row: `update_many` decides what `update`
//! would have for each row, in order, and a rejected row leaves the loop as it was.

use ndarray::{Array1, ArrayView1, ArrayView2};

use crate::history::{HistoryRecord, PretrainReport, SkippedRecord};
use crate::validate::FieldError;
use crate::{Action, CreativeLoop, Decision, Error, Mode, State};

/// The columns of a batch of states, in order. A `NaN` is an absent value (the loop's default
/// for it applies, with a warning, as for a JSON state without the key).
pub const STATE_COLUMNS: [&str; 4] = ["novelty", "aesthetic_score", "volatility", "lambda_max"];

/// What [`CreativeLoop::update_many`] decided, one entry per row of the batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchDecisions {
    /// Whether the row was accepted; a rejected row changed nothing (the other fields hold
    /// their blanks: `u8::MAX` codes and `NaN`).
    pub accepted: Array1<bool>,
    /// The action, as its index in [`Action::ALL`].
    pub action: Array1<u8>,
    /// The mode after the step, as its index in [`Mode::ALL`].
    pub mode: Array1<u8>,
    /// The entropy factor.
    pub entropy_factor: Array1<f64>,
    /// The factor for the host's own dynamics.
    pub lambda_factor: Array1<f64>,
    /// The predicted gain where the decision has one, `NaN` elsewhere.
    pub predicted_gain: Array1<f64>,
    /// The creative gain of the exploration ending at the row, `NaN` elsewhere.
    pub creative_gain: Array1<f64>,
}

impl BatchDecisions {
    /// Rows in the batch.
    #[must_use]
    pub fn len(&self) -> usize {
        self.accepted.len()
    }

    /// Whether the batch was empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.accepted.is_empty()
    }

    /// Rows rejected.
    #[must_use]
    pub fn rejected(&self) -> usize {
        self.accepted.iter().filter(|a| !**a).count()
    }
}

fn code<T: PartialEq>(all: &[T], value: &T) -> u8 {
    all.iter()
        .position(|v| v == value)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(u8::MAX)
}

fn value(v: f64) -> Option<f64> {
    (!v.is_nan()).then_some(v)
}

/// A row of [`STATE_COLUMNS`] as a state (`NaN`: absent).
fn row_state(row: ArrayView1<'_, f64>) -> State {
    State {
        novelty: value(row[0]),
        aesthetic_score: value(row[1]),
        volatility: value(row[2]),
        lambda_max: value(row[3]),
        ..State::default()
    }
}

fn shape_error(what: String) -> Error {
    Error::InvalidConfig {
        key: "batch",
        reason: what,
    }
}

impl CreativeLoop {
    /// Steps the loop once per row of `states` (columns [`STATE_COLUMNS`]) and returns every
    /// decision as arrays: the same decisions, in the same order, as calling
    /// [`update`](Self::update) row by row.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] (key `batch`) when `states` does not have 4 columns; nothing
    /// is stepped then. An invalid row is not an error: it is marked in `accepted`.
    ///
    /// ```
    /// use creative_feedback_core::{Action, Config, CreativeLoop};
    /// use ndarray::array;
    ///
    /// let mut feedback = CreativeLoop::new(Config::default())?;
    /// let states = array![[0.5, 0.6, 0.1, 0.0], [0.9, 0.6, 0.1, 0.0], [f64::INFINITY, 0.6, 0.1, 0.0]];
    /// let decisions = feedback.update_many(states.view())?;
    /// assert_eq!(Action::ALL[usize::from(decisions.action[1])], Action::InjectEntropy);
    /// assert!(!decisions.accepted[2]); // novelty must be in [0, 1]
    /// # Ok::<(), creative_feedback_core::Error>(())
    /// ```
    pub fn update_many(&mut self, states: ArrayView2<'_, f64>) -> Result<BatchDecisions, Error> {
        if states.ncols() != STATE_COLUMNS.len() {
            return Err(shape_error(format!(
                "states have {} columns; give {} ({})",
                states.ncols(),
                STATE_COLUMNS.len(),
                STATE_COLUMNS.join(", ")
            )));
        }
        let n = states.nrows();
        let mut out = BatchDecisions {
            accepted: Array1::from_elem(n, false),
            action: Array1::from_elem(n, u8::MAX),
            mode: Array1::from_elem(n, u8::MAX),
            entropy_factor: Array1::from_elem(n, f64::NAN),
            lambda_factor: Array1::from_elem(n, f64::NAN),
            predicted_gain: Array1::from_elem(n, f64::NAN),
            creative_gain: Array1::from_elem(n, f64::NAN),
        };
        let mut decision = Decision::default();
        for (i, row) in states.rows().into_iter().enumerate() {
            let state = row_state(row);
            if self.update_into(&state, &mut decision).is_err() {
                continue;
            }
            out.accepted[i] = true;
            out.action[i] = code(Action::ALL, &decision.action);
            out.mode[i] = code(Mode::ALL, &decision.mode);
            out.entropy_factor[i] = decision.entropy_factor;
            out.lambda_factor[i] = decision.lambda_factor;
            out.predicted_gain[i] = decision.predicted_gain.unwrap_or(f64::NAN);
            out.creative_gain[i] = decision.outcome.as_ref().map_or(f64::NAN, |o| o.gain);
        }
        Ok(out)
    }

    /// Pre-trains the quality model from arrays of past explorations, one per row: the
    /// state that started each (columns [`STATE_COLUMNS`]), its base entropy factor, its
    /// duration in steps and its creative gain, exactly as
    /// [`pretrain`](Self::pretrain) would from records. Rows that break the rules are
    /// skipped and reported (their `line` is the row's number, from 1).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] (key `batch`) when the shapes disagree; nothing is learned
    /// then.
    pub fn pretrain_arrays(
        &mut self,
        states: ArrayView2<'_, f64>,
        entropy_factors: ArrayView1<'_, f64>,
        durations: ArrayView1<'_, f64>,
        gains: ArrayView1<'_, f64>,
    ) -> Result<PretrainReport, Error> {
        let n = states.nrows();
        if states.ncols() != STATE_COLUMNS.len()
            || entropy_factors.len() != n
            || durations.len() != n
            || gains.len() != n
        {
            return Err(shape_error(format!(
                "states are {n}×{} (4 columns: {}); entropy factors, durations and gains must have {n} entries each, not {}, {} and {}",
                states.ncols(),
                STATE_COLUMNS.join(", "),
                entropy_factors.len(),
                durations.len(),
                gains.len()
            )));
        }
        let mut report = PretrainReport::default();
        for (i, row) in states.rows().into_iter().enumerate() {
            let line = i + 1;
            let d = durations[i];
            if !(d.is_finite() && d >= 1.0 && d.fract() == 0.0 && d <= f64::from(u32::MAX)) {
                report.skipped.push(SkippedRecord {
                    line,
                    reasons: vec![FieldError::new(
                        "duration",
                        format!("must be a whole number of steps ≥ 1, got {d}"),
                    )],
                });
                continue;
            }
            let record = HistoryRecord {
                initial_state: row_state(row),
                entropy_factor: entropy_factors[i],
                // Checked above: a whole number in u32's range.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                duration: d as u32,
                creative_gain: gains[i],
                samples_seen: None,
            };
            match self.pretrain(&record) {
                Ok(()) => report.used += 1,
                Err(rejected) => report.skipped.push(SkippedRecord {
                    line,
                    reasons: rejected.fields,
                }),
            }
        }
        Ok(report)
    }
}

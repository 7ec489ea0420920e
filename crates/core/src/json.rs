//! Reading states and history records from JSON text (specification §2).
//!
//! The reader accepts strict JSON plus what Python's `json` module writes by default: the tokens
//! `NaN`, `Infinity` and `-Infinity`, and numbers too large for a double (read as ±∞), so that such
//! values meet the loop's validation rules instead of failing as unparseable. Duplicate keys are
//! an error. No general-purpose JSON crate reads this dialect, hence this small reader.

use std::fmt;

use crate::state::{AttributeValue, Coherence, State};
use crate::validate::{FieldError, Findings, InputWarning};

/// Text that could not be read as a state or record: not JSON, a duplicate key, or not an object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at byte {offset})")]
pub struct ReadError {
    /// What is wrong.
    pub message: String,
    /// Byte offset in the text where it was found.
    pub offset: usize,
}

/// A parsed JSON value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn kind(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "a boolean",
            Self::Num(_) => "a number",
            Self::Str(_) => "a string",
            Self::Arr(_) => "an array",
            Self::Obj(_) => "an object",
        }
    }
}

const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err<T>(&self, message: impl Into<String>) -> Result<T, ReadError> {
        Err(ReadError {
            message: message.into(),
            offset: self.i,
        })
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        if self.b[self.i..].starts_with(token.as_bytes()) {
            self.i += token.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, ReadError> {
        if depth > MAX_DEPTH {
            return self.err("nesting deeper than 64 levels");
        }
        self.ws();
        match self.b.get(self.i) {
            None => self.err("unexpected end of text"),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Json::Str),
            Some(b't') if self.eat("true") => Ok(Json::Bool(true)),
            Some(b'f') if self.eat("false") => Ok(Json::Bool(false)),
            Some(b'n') if self.eat("null") => Ok(Json::Null),
            Some(b'N') if self.eat("NaN") => Ok(Json::Num(f64::NAN)),
            Some(b'I') if self.eat("Infinity") => Ok(Json::Num(f64::INFINITY)),
            Some(b'-') if self.eat("-Infinity") => Ok(Json::Num(f64::NEG_INFINITY)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => self.err("expected a JSON value"),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Json, ReadError> {
        let start = self.i;
        if self.b[self.i] == b'-' {
            self.i += 1;
        }
        match self.b.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return self.err("invalid number"),
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return self.err("invalid number: digits expected after '.'");
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return self.err("invalid number: digits expected in the exponent");
            }
        }
        let text = std::str::from_utf8(&self.b[start..self.i]).unwrap_or("");
        // Rust's parser rounds correctly and yields ±∞ past the double range (e.g. 1e400).
        match text.parse::<f64>() {
            Ok(v) => Ok(Json::Num(v)),
            Err(_) => self.err("invalid number"),
        }
    }

    fn hex4(&mut self) -> Result<u32, ReadError> {
        let Some(chunk) = self.b.get(self.i..self.i + 4) else {
            return self.err("truncated \\u escape");
        };
        let text = std::str::from_utf8(chunk).unwrap_or("");
        match u32::from_str_radix(text, 16) {
            Ok(v) if text.bytes().all(|b| b.is_ascii_hexdigit()) => {
                self.i += 4;
                Ok(v)
            }
            _ => self.err("invalid \\u escape"),
        }
    }

    fn string(&mut self) -> Result<String, ReadError> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let start = self.i;
            while let Some(&b) = self.b.get(self.i) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.i += 1;
            }
            match std::str::from_utf8(&self.b[start..self.i]) {
                Ok(s) => out.push_str(s),
                Err(_) => return self.err("invalid UTF-8 in a string"),
            }
            match self.b.get(self.i) {
                None => return self.err("unterminated string"),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let Some(&esc) = self.b.get(self.i) else {
                        return self.err("unterminated string");
                    };
                    self.i += 1;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if !self.eat("\\u") {
                                    return self.err("unpaired surrogate in \\u escape");
                                }
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return self.err("unpaired surrogate in \\u escape");
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            match char::from_u32(code) {
                                Some(ch) => out.push(ch),
                                None => return self.err("invalid \\u escape"),
                            }
                        }
                        _ => return self.err("invalid escape in a string"),
                    }
                }
                Some(_) => return self.err("control character in a string"),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, ReadError> {
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.eat("]") {
            return Ok(Json::Arr(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.ws();
            if self.eat(",") {
                continue;
            }
            if self.eat("]") {
                return Ok(Json::Arr(items));
            }
            return self.err("expected ',' or ']' in an array");
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, ReadError> {
        self.i += 1;
        let mut entries: Vec<(String, Json)> = Vec::new();
        self.ws();
        if !self.eat("}") {
            loop {
                self.ws();
                if self.b.get(self.i) != Some(&b'"') {
                    return self.err("expected a string key in an object");
                }
                let at = self.i;
                let key = self.string()?;
                // States have a handful of keys: a linear look-up is the cheapest check.
                if entries.iter().any(|(k, _)| *k == key) {
                    return Err(ReadError {
                        message: format!("duplicate key \"{key}\""),
                        offset: at,
                    });
                }
                self.ws();
                if !self.eat(":") {
                    return self.err("expected ':' after an object key");
                }
                let value = self.value(depth + 1)?;
                entries.push((key, value));
                self.ws();
                if self.eat(",") {
                    continue;
                }
                if self.eat("}") {
                    break;
                }
                return self.err("expected ',' or '}' in an object");
            }
        }
        Ok(Json::Obj(entries))
    }
}

/// Parses one JSON document (with the Python extensions above).
pub(crate) fn parse(text: &str) -> Result<Json, ReadError> {
    let mut p = Parser {
        b: text.as_bytes(),
        i: 0,
    };
    let v = p.value(0)?;
    p.ws();
    if p.i != p.b.len() {
        return p.err("unexpected text after the JSON value");
    }
    Ok(v)
}

fn number_field(key: &str, v: &Json, errors: &mut Vec<FieldError>) -> Option<f64> {
    match v {
        Json::Null => None,
        Json::Num(n) => Some(*n),
        other => {
            errors.push(FieldError::new(
                key,
                format!("expected a number, got {}", other.kind()),
            ));
            None
        }
    }
}

fn scalar_attribute(v: &Json) -> Option<AttributeValue> {
    match v {
        Json::Bool(b) => Some(AttributeValue::Bool(*b)),
        Json::Num(n) => Some(AttributeValue::Number(*n)),
        Json::Str(s) => Some(AttributeValue::Text(s.clone())),
        _ => None,
    }
}

/// A state read from text, with what the reader found beside it.
///
/// Hand it to [`CreativeLoop::update_read`](crate::CreativeLoop::update_read), which rejects
/// the state naming the reader's type errors and its own findings together, and counts the
/// reader's corrections with its own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadState {
    /// The state, with every field that could be read.
    pub state: State,
    /// Type errors and corrections found while reading.
    pub findings: Findings,
}

impl ReadState {
    /// Reads a state from one JSON object, e.g.
    /// `{"novelty": 0.8, "aesthetic_score": 0.6, "user_id": "u1"}`.
    ///
    /// Unknown top-level keys with scalar values become attributes (an explicit `attributes`
    /// entry wins); unknown keys holding arrays or objects are ignored with a warning; `null`
    /// means absent. Type errors do not fail here: they are kept in the
    /// [`findings`](Self::findings) so that the loop rejects the state naming every offending
    /// field at once, and counts it.
    ///
    /// ```
    /// use creative_feedback_core::ReadState;
    /// let read = ReadState::from_json(r#"{"novelty": "high", "aesthetic_score": 0.5}"#)?;
    /// assert_eq!(read.findings.errors[0].field, "novelty");
    /// # Ok::<(), creative_feedback_core::ReadError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ReadError`] for text that is not JSON, a duplicate key, or a value that is not an
    /// object.
    pub fn from_json(text: &str) -> Result<Self, ReadError> {
        let value = parse(text)?;
        state_from(&value).map_err(|message| ReadError {
            message: message.into(),
            offset: 0,
        })
    }
}

/// `coherence`: one of three names; `null` is absent.
fn coherence_field(key: &str, v: &Json, errors: &mut Vec<FieldError>) -> Option<Coherence> {
    match v {
        Json::Null => None,
        Json::Str(s) => {
            let c = Coherence::parse(s);
            if c.is_none() {
                errors.push(FieldError::new(
                    key,
                    format!("unknown value \"{s}\"; expected local, global or critical"),
                ));
            }
            c
        }
        other => {
            errors.push(FieldError::new(
                key,
                format!(
                    "expected \"local\", \"global\" or \"critical\", got {}",
                    other.kind()
                ),
            ));
            None
        }
    }
}

/// `attributes`: an object of scalars; a nested value is an error named by its path.
fn attributes_field(
    key: &str,
    v: &Json,
    into: &mut crate::state::Attributes,
    errors: &mut Vec<FieldError>,
) {
    match v {
        Json::Null => {}
        Json::Obj(attrs) => {
            for (name, a) in attrs {
                match (a, scalar_attribute(a)) {
                    (Json::Null, _) => {}
                    (_, Some(value)) => {
                        into.insert(name.clone(), value);
                    }
                    (other, None) => errors.push(FieldError::new(
                        format!("attributes.{name}"),
                        format!("expected a string, number or boolean, got {}", other.kind()),
                    )),
                }
            }
        }
        other => errors.push(FieldError::new(
            key,
            format!("expected an object, got {}", other.kind()),
        )),
    }
}

/// Builds a state from a parsed JSON object; type errors are kept for the loop to report.
pub(crate) fn state_from(value: &Json) -> Result<ReadState, &'static str> {
    let Json::Obj(entries) = value else {
        return Err("a state must be a JSON object");
    };
    let mut state = State::default();
    let mut findings = Findings::default();
    let mut flat = Vec::new();
    let errors = &mut findings.errors;
    for (key, v) in entries {
        match key.as_str() {
            "novelty" => state.novelty = number_field(key, v, errors),
            "aesthetic_score" => state.aesthetic_score = number_field(key, v, errors),
            "volatility" => state.volatility = number_field(key, v, errors),
            "lambda_max" => state.lambda_max = number_field(key, v, errors),
            "coherence" => {
                if let Some(c) = coherence_field(key, v, errors) {
                    state.coherence = c;
                }
            }
            "emergency_override" => match v {
                Json::Null => {}
                Json::Bool(b) => state.emergency_override = *b,
                other => errors.push(FieldError::new(
                    key,
                    format!("expected true or false, got {}", other.kind()),
                )),
            },
            "attributes" => attributes_field(key, v, &mut state.attributes, errors),
            _ => match (v, scalar_attribute(v)) {
                (Json::Null, _) => {}
                (_, Some(value)) => flat.push((key.clone(), value)),
                (other, None) => findings.warnings.push(InputWarning::new(
                    key.clone(),
                    format!("unknown key holding {} was ignored", other.kind()),
                )),
            },
        }
    }
    for (key, value) in flat {
        // A flat attribute is named by the path the user sent, and checked even when an
        // explicit `attributes` entry of the same name wins.
        if let AttributeValue::Number(n) = value {
            if !n.is_finite() {
                findings
                    .errors
                    .push(FieldError::new(key, format!("{n} is not a finite number")));
                continue;
            }
        }
        state.attributes.entry(key).or_insert(value);
    }
    Ok(ReadState { state, findings })
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_fields(read: &ReadState) -> Vec<&str> {
        read.findings
            .errors
            .iter()
            .map(|e| e.field.as_str())
            .collect()
    }

    #[test]
    fn python_tokens_and_huge_numbers_are_read() {
        let v = parse(r#"[NaN, Infinity, -Infinity, 1e400, -1e400, 0.5]"#);
        let Ok(Json::Arr(items)) = v else {
            panic!("not parsed: {v:?}");
        };
        let nums: Vec<f64> = items
            .iter()
            .map(|i| match i {
                Json::Num(n) => *n,
                _ => 0.0,
            })
            .collect();
        assert!(nums[0].is_nan());
        assert_eq!(
            &nums[1..],
            &[
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::INFINITY,
                f64::NEG_INFINITY,
                0.5
            ]
        );
    }

    #[test]
    fn malformed_text_and_duplicates_are_reader_errors() {
        for bad in [
            "",
            "nope",
            "{",
            r#"{"novelty": 0.5,}"#,
            r#"{"novelty": 01}"#,
            r#"{"novelty": 0.5} x"#,
            r#"{"novelty": 0.5, "novelty": 0.6}"#,
            "[1, 2]",
            "\"text\"",
        ] {
            assert!(ReadState::from_json(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn flat_keys_become_attributes_and_explicit_ones_win() {
        let state = ReadState::from_json(
            r#"{"novelty": 0.8, "user_id": "u1", "temperature": 0.9, "stalled": true,
                "attributes": {"temperature": 0.2}, "extra": null, "blob": [1, 2]}"#,
        );
        let Ok(read) = state else { panic!("not read") };
        let state = &read.state;
        assert_eq!(
            state.attributes.get("user_id"),
            Some(&AttributeValue::Text("u1".into()))
        );
        assert_eq!(
            state.attributes.get("temperature"),
            Some(&AttributeValue::Number(0.2))
        );
        assert_eq!(
            state.attributes.get("stalled"),
            Some(&AttributeValue::Bool(true))
        );
        assert!(!state.attributes.contains_key("extra"));
        assert_eq!(read.findings.warnings.len(), 1);
        assert_eq!(read.findings.warnings[0].field, "blob");
    }

    #[test]
    fn type_errors_are_kept_for_the_loop() {
        let state = ReadState::from_json(
            r#"{"novelty": "0.5", "emergency_override": 1, "coherence": "chaotic",
                "attributes": {"nested": {"a": 1}}}"#,
        );
        let Ok(read) = state else { panic!("not read") };
        assert_eq!(
            error_fields(&read),
            [
                "novelty",
                "emergency_override",
                "coherence",
                "attributes.nested"
            ]
        );
    }

    #[test]
    fn a_flat_non_finite_number_is_named_by_its_own_path_even_when_it_loses_a_clash() {
        let read = ReadState::from_json(
            r#"{"novelty": 0.5, "temperature": NaN, "attributes": {"temperature": 0.5}}"#,
        )
        .unwrap();
        let fields: Vec<&str> = read
            .findings
            .errors
            .iter()
            .map(|e| e.field.as_str())
            .collect();
        assert_eq!(fields, ["temperature"]);
        assert_eq!(
            read.state.attributes.get("temperature"),
            Some(&AttributeValue::Number(0.5))
        );
    }

    #[test]
    fn a_duplicate_key_is_reported_where_it_repeats() {
        let err = ReadState::from_json(r#"{"novelty": 0.5, "novelty": 0.6}"#).unwrap_err();
        assert_eq!(err.offset, 17);
        assert!(err.message.contains("\"novelty\""));
    }

    #[test]
    fn strings_with_escapes_round_trip() {
        let v = parse(r#""a\"b\\c\u00e9\ud83d\ude00""#);
        assert_eq!(v, Ok(Json::Str("a\"b\\cé😀".into())));
        assert!(parse(r#""\ud83d""#).is_err());
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let text = "[".repeat(10_000);
        assert!(parse(&text).is_err());
    }
}

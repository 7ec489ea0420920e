//! What sinks receive: an event or a metrics snapshot, with a wall-clock timestamp.

use creative_feedback_core::{Event, Metrics};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// One streamed item.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A transition: delivered to every sink, exactly once, in order.
    Event(Event),
    /// A periodic metrics snapshot: dropped first when a queue overflows.
    Snapshot(Box<Metrics>),
}

/// A payload with the time it was handed to the dispatcher (Unix time, milliseconds).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Milliseconds since the Unix epoch, from the dispatcher's clock.
    pub timestamp_ms: u64,
    /// The session it belongs to, for a server running many sessions (`None` for a single
    /// loop).
    pub session: Option<std::sync::Arc<str>>,
    /// What happened.
    pub payload: Payload,
}

impl Message {
    /// Whether this is an event (as opposed to a snapshot).
    #[must_use]
    pub fn is_event(&self) -> bool {
        matches!(self.payload, Payload::Event(_))
    }

    /// The message in the WebSocket envelope of the guide's `WebSocketMetricStreamer`:
    /// `{"type": "creativity_metric", "timestamp": <Unix seconds>, "data": {…}}`, where `data` is
    /// an event (`{"event": "mode_changed", …}`) or `{"event": "snapshot", "metrics": {…}}`.
    #[must_use]
    pub fn to_json(&self) -> String {
        self.to_json_at(self.timestamp_ms)
    }

    /// [`to_json`](Self::to_json) with another timestamp (e.g. the time the message was put on
    /// a stream that must never go back in time).
    #[must_use]
    pub fn to_json_at(&self, timestamp_ms: u64) -> String {
        session_envelope_json(timestamp_ms, self.session.as_deref(), &Data(&self.payload))
    }
}

/// Any `data` in the stream's envelope, `{"type": "creativity_metric", "timestamp": <Unix
/// seconds>, "data": …}`: the one place the envelope is written, for messages and for other
/// items a server streams beside them (e.g. step samples).
#[must_use]
pub fn envelope_json<T: Serialize + ?Sized>(timestamp_ms: u64, data: &T) -> String {
    session_envelope_json(timestamp_ms, None, data)
}

/// [`envelope_json`] with the session the data belongs to, as `"session": id` beside
/// `"type"` and `"timestamp"` (left out for `None`).
#[must_use]
pub fn session_envelope_json<T: Serialize + ?Sized>(
    timestamp_ms: u64,
    session: Option<&str>,
    data: &T,
) -> String {
    serde_json::to_string(&Envelope {
        timestamp_ms,
        session,
        data,
    })
    .unwrap_or_else(|e| {
        // Only a data type whose serialization can fail lands here; say so in the stream.
        serde_json::json!({ "type": "creativity_metric", "error": e.to_string() }).to_string()
    })
}

struct Envelope<'a, T: ?Sized> {
    timestamp_ms: u64,
    session: Option<&'a str>,
    data: &'a T,
}

struct Data<'a>(&'a Payload);

impl Serialize for Data<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Payload::Event(event) => event.serialize(s),
            Payload::Snapshot(metrics) => {
                let mut map = s.serialize_map(Some(2))?;
                map.serialize_entry("event", "snapshot")?;
                map.serialize_entry("metrics", metrics)?;
                map.end()
            }
        }
    }
}

impl<T: Serialize + ?Sized> Serialize for Envelope<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3 + usize::from(self.session.is_some())))?;
        map.serialize_entry("type", "creativity_metric")?;
        map.serialize_entry("timestamp", &(self.timestamp_ms as f64 / 1000.0))?;
        if let Some(session) = self.session {
            map.serialize_entry("session", session)?;
        }
        map.serialize_entry("data", self.data)?;
        map.end()
    }
}

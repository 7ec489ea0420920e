//! The sinks shipped with the crate.

pub mod callback;
#[cfg(feature = "prometheus")]
pub mod prometheus;
pub mod tracing;
#[cfg(feature = "websocket")]
pub mod websocket;

//! Runnable examples, one per section of the production guide; see `examples/README.md`.
//!
//! Run one with `cargo run --example NAME` from the workspace root.

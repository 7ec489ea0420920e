//! No per-user memory: assignment is computed, never stored.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unsafe_code
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use creative_feedback_rollout::{Experiment, Rollout};

/// Counts this thread's live heap bytes.
struct Live;

thread_local! {
    static LIVE: Cell<i64> = const { Cell::new(0) };
}

fn add(delta: i64) {
    let _ = LIVE.try_with(|c| c.set(c.get() + delta));
}

// SAFETY: forwards to the system allocator, only counting.
unsafe impl GlobalAlloc for Live {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as i64);
        // SAFETY: the caller's contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as i64));
        // SAFETY: the caller's contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Live = Live;

fn live() -> i64 {
    LIVE.with(Cell::get)
}

#[test]
fn memory_stays_flat_as_a_million_users_pass_through() {
    let rollout = Rollout::new("g", 50).unwrap();
    let experiment = Experiment::control_treatment("ab").unwrap();
    let mut user = String::with_capacity(32);
    let mut inside = 0u32;
    let measure = |n: u32, user: &mut String, inside: &mut u32| {
        for i in 0..n {
            user.clear();
            use std::fmt::Write;
            let _ = write!(user, "user-{i}");
            *inside += u32::from(rollout.is_enabled_for(user));
            let _ = experiment.arm_for(user);
        }
    };
    measure(1_000, &mut user, &mut inside);
    let before = live();
    measure(1_000_000, &mut user, &mut inside);
    let after = live();
    assert_eq!(after, before, "live heap grew by {} bytes", after - before);
    assert!(inside > 450_000 && inside < 552_000);
}

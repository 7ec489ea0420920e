//! `update` allocates nothing in the steady state: stable, exploring and recovering steps,
//! after warm-up, with the events drained every step.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unsafe_code
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use creative_feedback_core::{
    Action, Config, ContextFeature, CreativeLoop, Mode, SelectorKind, State,
};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator; only counts on the way.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// A deterministic stream that visits stable, exploring (several profiles, pruned and
/// completed) and recovering steps.
fn state(i: u64) -> State {
    let phase = i % 700;
    let novelty = match phase {
        0 => 0.9,   // momentum → constant profile
        300 => 0.1, // stagnation → pulse
        _ => 0.45 + 0.05 * ((i as f64) * 0.37).sin(),
    };
    let aesthetic = if (450..470).contains(&phase) {
        0.2
    } else {
        0.6 + 0.05 * ((i as f64) * 0.11).cos()
    };
    State::new(novelty, aesthetic)
        .with_volatility(0.1)
        .with_lambda_max(0.005)
}

#[test]
fn update_allocates_nothing_in_the_steady_state() {
    let mut config = Config::default();
    config.quality.min_samples = 2;
    steady_state_allocations(config);
}

#[test]
fn the_learned_selector_allocates_nothing_in_the_steady_state() {
    // Choosing (a context built, every arm scored, a draw per arm) and learning (every arm
    // refitted) reuse their buffers once warm.
    let mut config = Config::default();
    config.quality.min_samples = 2;
    config.selector.kind = SelectorKind::Learned;
    config.selector.learned.context = vec![
        ContextFeature::Region,
        ContextFeature::Trigger,
        ContextFeature::Novelty,
        ContextFeature::RecentGains,
        ContextFeature::RecentCompletion,
    ];
    steady_state_allocations(config);
}

fn steady_state_allocations(config: Config) {
    let mut l = CreativeLoop::new(config).unwrap();
    let mut i = 0u64;
    // Warm-up: fill the trend ring and see every kind of step once.
    while i < 5_000 {
        let _ = l.update(&state(i)).unwrap();
        l.drain_events().for_each(drop);
        i += 1;
    }
    let states: Vec<State> = (i..i + 7_000).map(state).collect();
    let mut seen = [0u64; 4];
    let mut actions = [0u64; 6];
    let before = allocations();
    for s in &states {
        let d = l.update(s).unwrap();
        for e in l.drain_events() {
            drop(e);
        }
        seen[d.mode as usize] += 1;
        actions[d.action as usize] += 1;
        drop(d);
    }
    let allocated = allocations() - before;
    assert!(
        seen[Mode::Stable as usize] > 0
            && seen[Mode::Exploring as usize] > 0
            && seen[Mode::Recovering as usize] > 0
    );
    assert!(
        actions[Action::InjectEntropy as usize] > 0 && actions[Action::EndExploration as usize] > 0
    );
    assert!(l.counters().pruned > 0 && l.counters().completed > 0);
    assert!(l.model().is_trained());
    let probe = allocations();
    let v: Vec<u64> = Vec::with_capacity(4);
    assert!(
        allocations() > probe && v.capacity() >= 4,
        "the counter counts"
    );
    assert_eq!(
        allocated,
        0,
        "update allocated {allocated} times over {} steps",
        states.len()
    );
}

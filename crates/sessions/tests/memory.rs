//! An idle resident session costs at most 8 KiB, once its windows and history are full.
//! Counted by a global allocator over the live bytes (the only test in this binary, so that no
//! other test's allocations are counted).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unsafe_code
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use creative_feedback_core::{Config, CreativeLoop, SelectorKind};
use creative_feedback_sessions::{Pool, PoolConfig};
use creative_feedback_sim::{Host, HostConfig};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to the system allocator; only counts on the way.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const SESSIONS: usize = 300;
const STEPS: u64 = 2500;

#[test]
fn an_idle_session_costs_at_most_8_kib() {
    let mut config = Config::default();
    config.selector.kind = SelectorKind::Learned;
    let pool = Pool::new(
        CreativeLoop::new(config).unwrap(),
        PoolConfig::default(),
        None,
    )
    .unwrap();
    let ids: Vec<String> = (0..SESSIONS).map(|i| format!("session-{i:06}")).collect();
    let before = LIVE.load(Ordering::Relaxed);
    for (i, id) in ids.iter().enumerate() {
        let mut host = Host::new(HostConfig::seeded(i as u64)).unwrap();
        for step in 0..STEPS {
            let stepped = pool.update_state(id, &host.observe(), step).unwrap();
            host.apply(&stepped.decision);
        }
    }
    let full = ids
        .iter()
        .filter(|id| pool.with_session(id, |t| t.history().len()) == Some(10))
        .count();
    let after = LIVE.load(Ordering::Relaxed);
    let per_session = (after - before) as f64 / SESSIONS as f64;
    println!("{per_session:.0} bytes per idle session ({full} of {SESSIONS} with a full history)");
    assert!(full * 2 > SESSIONS, "most sessions filled their history");
    assert!(
        per_session <= 8192.0,
        "{per_session:.0} bytes per idle session"
    );
}

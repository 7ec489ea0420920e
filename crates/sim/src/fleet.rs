//! A fleet in one process: sidecars that each keep their own learning and learn from one shared
//! log of lessons (what a Redis stream carries between machines), in the log's order.

use std::sync::{Mutex, PoisonError};

use creative_feedback_core::{
    Config, CreativeLoop, Decision, Learning, LearningSnapshot, Lesson, State, Trajectory,
};

use crate::Error;

/// One sidecar: its learning, the trajectory of the host it serves, and how far it has read
/// the log.
struct Sidecar {
    learning: Mutex<Learning>,
    trajectory: Trajectory,
    read: usize,
    errors: u64,
}

/// N sidecars sharing one log of lessons. A sidecar's step never teaches its own learning: the
/// exploration that ends goes to the end of the log, and every sidecar learns the log in order
/// when it [`sync`](Self::sync)s. Two sidecars that have read the log to the same place hold
/// bit-identical learnings.
pub struct Fleet {
    config: Config,
    sidecars: Vec<Sidecar>,
    log: Vec<Lesson>,
    outbox: Vec<Lesson>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("sidecars", &self.sidecars.len())
            .field("log", &self.log.len())
            .finish_non_exhaustive()
    }
}

impl Fleet {
    /// `sidecars` sidecars, each made by `build` (the same config, custom profiles and
    /// policies on every one, as on the machines of a fleet).
    ///
    /// # Errors
    ///
    /// Whatever `build` returns; [`Error::InvalidHost`] for no sidecars.
    pub fn new(
        sidecars: usize,
        mut build: impl FnMut() -> Result<CreativeLoop, creative_feedback_core::Error>,
    ) -> Result<Self, Error> {
        if sidecars == 0 {
            return Err(Error::InvalidHost(
                "a fleet needs at least one sidecar".into(),
            ));
        }
        let mut config = None;
        let sidecars = (0..sidecars)
            .map(|_| {
                let (c, learning, trajectory) = build()?.into_parts();
                config.get_or_insert(c);
                Ok(Sidecar {
                    learning: Mutex::new(learning),
                    trajectory,
                    read: 0,
                    errors: 0,
                })
            })
            .collect::<Result<Vec<_>, creative_feedback_core::Error>>()?;
        Ok(Self {
            config: config.unwrap_or_default(),
            sidecars,
            log: Vec::new(),
            outbox: Vec::new(),
        })
    }

    /// One step of sidecar `i`'s host; an exploration that ends goes to the end of the log.
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] for an invalid state (nothing changed); [`Error::NoSidecar`].
    pub fn step(&mut self, i: usize, state: &State) -> Result<Decision, Error> {
        let len = self.sidecars.len();
        let Some(sidecar) = self.sidecars.get_mut(i) else {
            return Err(Error::NoSidecar { index: i, len });
        };
        let decision = sidecar.trajectory.update_deferred(
            &self.config,
            &sidecar.learning,
            state,
            &mut self.outbox,
        )?;
        self.log.append(&mut self.outbox);
        Ok(decision)
    }

    /// Sidecar `i` learns what the log holds past where it had read, in the log's order.
    pub fn sync(&mut self, i: usize) {
        let Some(sidecar) = self.sidecars.get_mut(i) else {
            return;
        };
        let learning = sidecar
            .learning
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for lesson in &self.log[sidecar.read..] {
            sidecar.errors += learning.learn(lesson);
        }
        sidecar.read = self.log.len();
    }

    /// Every sidecar learns the whole log.
    pub fn sync_all(&mut self) {
        for i in 0..self.sidecars.len() {
            self.sync(i);
        }
    }

    /// The lessons so far, in the one order every sidecar learns them.
    #[must_use]
    pub fn log(&self) -> &[Lesson] {
        &self.log
    }

    /// How many sidecars.
    #[must_use]
    pub fn len(&self) -> usize {
        self.sidecars.len()
    }

    /// Whether there is none (never, once built).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.sidecars.is_empty()
    }

    /// Sidecar `i`'s cumulative gain.
    #[must_use]
    pub fn cumulative_gain(&self, i: usize) -> Option<f64> {
        self.sidecars.get(i).map(|s| s.trajectory.cumulative_gain())
    }

    /// Sidecar `i`'s learning, as a snapshot.
    #[must_use]
    pub fn learning_snapshot(&self, i: usize) -> Option<LearningSnapshot> {
        self.sidecars.get(i).map(|s| {
            s.learning
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .snapshot(&self.config)
        })
    }

    /// Parts of lessons sidecar `i` failed to learn (a refit that failed).
    #[must_use]
    pub fn learn_errors(&self, i: usize) -> Option<u64> {
        self.sidecars.get(i).map(|s| s.errors)
    }
}

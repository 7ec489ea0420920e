//! The oracle: a policy that reads the host's hidden context and takes the profile that pays
//! best there. Which profile that is gets measured, not read off the affinity table: the
//! profile's shape, the host's tolerance and pruning all change what an exploration returns.

use creative_feedback_core::{
    Config, CreativeLoop, Event, NoPredictor, Profile, ProfileSelector, Selection, SelectionContext,
};

use crate::host::{ContextProbe, Host};
use crate::run::{run_with_events, RunOptions};
use crate::scenario::Scenario;
use crate::Error;

/// The built-in profiles an oracle chooses among.
pub const ORACLE_PROFILES: [&str; 4] = ["constant", "cosine_ramp", "exponential_decay", "pulse"];

/// Always one built-in profile, with the default selector's parameters for the state.
#[derive(Debug, Clone, Copy)]
pub struct FixedSelector(pub &'static str);

impl ProfileSelector for FixedSelector {
    fn select(&mut self, ctx: &SelectionContext<'_>) -> Selection {
        ctx.default
            .profile_for(self.0, &ctx.observation)
            .unwrap_or(Profile::Constant)
            .into()
    }
}

/// What each profile earned in each hidden context, and the best profile per context.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct OracleTable {
    /// The contexts' names.
    pub contexts: Vec<String>,
    /// Mean gain per exploration: `mean_gain[context][profile]`, profiles in
    /// [`ORACLE_PROFILES`] order.
    pub mean_gain: Vec<[f64; 4]>,
    /// Explorations behind each mean.
    pub explorations: Vec<[u64; 4]>,
    /// The best profile per context (an index into [`ORACLE_PROFILES`]).
    pub best: Vec<usize>,
}

impl OracleTable {
    /// Measures every built-in profile alone on the scenario's host (no quality model),
    /// crediting each exploration's gain to the context it started in.
    ///
    /// # Errors
    ///
    /// [`Error::Loop`] for an invalid config.
    pub fn measure(
        scenario: Scenario,
        config: &Config,
        seeds: &[u64],
        steps: u64,
    ) -> Result<Self, Error> {
        let contexts: Vec<String> = scenario
            .host(0)
            .contexts
            .iter()
            .map(|c| c.name.to_owned())
            .collect();
        let n = contexts.len();
        let (mut sum, mut count) = (vec![[0.0; 4]; n], vec![[0u64; 4]; n]);
        for (p, name) in ORACLE_PROFILES.iter().enumerate() {
            for &seed in seeds {
                let mut cfg = config.clone();
                cfg.seed = seed;
                let mut feedback = CreativeLoop::builder(cfg)
                    .selector(FixedSelector(name))
                    .predictor(NoPredictor)
                    .build()?;
                let mut host = Host::new(scenario.host(seed))?;
                let probe = host.probe();
                let mut started_in = 0;
                run_with_events(
                    &mut feedback,
                    &mut host,
                    steps,
                    RunOptions::default(),
                    |_| {},
                    |event| match event {
                        // The host has already moved on by one step; a context lasts hundreds.
                        Event::ExplorationStarted { .. } => started_in = probe.context(),
                        Event::ExplorationEnded { gain, .. } => {
                            if let (Some(s), Some(c)) =
                                (sum.get_mut(started_in), count.get_mut(started_in))
                            {
                                s[p] += gain;
                                c[p] += 1;
                            }
                        }
                        _ => {}
                    },
                );
            }
        }
        let mean_gain: Vec<[f64; 4]> = sum
            .iter()
            .zip(&count)
            .map(|(s, c)| std::array::from_fn(|p| s[p] / c[p].max(1) as f64))
            .collect();
        let best = mean_gain
            .iter()
            .map(|row| (0..4).fold(0, |best, p| if row[p] > row[best] { p } else { best }))
            .collect();
        Ok(Self {
            contexts,
            mean_gain,
            explorations: count,
            best,
        })
    }

    /// The oracle selector for a host, reading its context through `probe`.
    #[must_use]
    pub fn selector(&self, probe: ContextProbe) -> OracleSelector {
        OracleSelector {
            probe,
            best: self.best.iter().map(|&p| ORACLE_PROFILES[p % 4]).collect(),
        }
    }
}

/// Takes the measured best profile of the host's current hidden context.
#[derive(Debug, Clone)]
pub struct OracleSelector {
    probe: ContextProbe,
    best: Vec<&'static str>,
}

impl ProfileSelector for OracleSelector {
    fn select(&mut self, ctx: &SelectionContext<'_>) -> Selection {
        let name = self
            .best
            .get(self.probe.context())
            .copied()
            .unwrap_or("constant");
        FixedSelector(name).select(ctx)
    }
}

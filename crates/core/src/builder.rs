//! Building a loop: configuration, custom profiles, policies, a pre-trained model, or a
//! snapshot to resume from.

use std::fmt;

use creative_feedback_profiles::{ProfileRegistry, ProfileShape};
use creative_feedback_quality::QualityModel;
use rand_xoshiro::rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::config::Config;
use crate::engine::{CreativeLoop, Learning, Trajectory};
use crate::learned::{LearnedSelector, SelectorKind};
use crate::policy::{DefaultSelector, GainPredictor, ModelPredictor, ProfileSelector};
use crate::snapshot::{check_state, LearningSnapshot, LoopState, Snapshot, SNAPSHOT_FORMAT};
use crate::Error;

/// Builds a [`CreativeLoop`]: config, custom profiles, selector, predictor, a pre-trained model,
/// or a snapshot to resume from.
pub struct LoopBuilder {
    config: Config,
    registry: ProfileRegistry,
    selector: Option<Box<dyn ProfileSelector>>,
    predictor: Option<Box<dyn GainPredictor>>,
    model: Option<QualityModel>,
    resume: Option<(LoopState, Xoshiro256PlusPlus)>,
    learned: Option<LearnedSelector>,
    snapshot_format: Option<u32>,
}

impl fmt::Debug for LoopBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopBuilder")
            .field("config", &self.config)
            .field("registry", &self.registry)
            .field("custom_selector", &self.selector.is_some())
            .field("custom_predictor", &self.predictor.is_some())
            .finish_non_exhaustive()
    }
}

impl LoopBuilder {
    /// A builder with this configuration, the default selector and the model predictor.
    #[must_use]
    pub fn new(config: Config) -> Self {
        Self {
            config,
            registry: ProfileRegistry::new(),
            selector: None,
            predictor: None,
            model: None,
            resume: None,
            learned: None,
            snapshot_format: None,
        }
    }

    /// A builder that resumes from a snapshot (its config, state, model and generator). Add
    /// the same custom profiles, selector and predictor as the original had, then `build`.
    #[must_use]
    pub fn from_snapshot(snapshot: Snapshot) -> Self {
        let format = snapshot.format;
        let mut builder = Self::new(snapshot.config);
        builder.snapshot_format = Some(format);
        builder.model = Some(snapshot.model);
        builder.resume = Some((snapshot.state, snapshot.rng));
        builder.learned = snapshot.learned;
        builder
    }

    /// A builder that resumes a pool's shared learning (its config, model and learned
    /// selector) from its snapshot; the loop it builds starts a new trajectory.
    #[must_use]
    pub fn from_learning(snapshot: LearningSnapshot) -> Self {
        let mut builder = Self::new(snapshot.config);
        builder.snapshot_format = Some(snapshot.format);
        builder.model = Some(snapshot.model);
        builder.learned = snapshot.learned;
        builder
    }

    /// Replaces the model and learned selector a resumed snapshot brought with a shared
    /// learning (a fleet's checkpoint), keeping the snapshot's trajectory and the context of
    /// its exploration in progress.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSnapshot`] when the learning was built with another configuration: the
    /// loops sharing a learning must all have the same one.
    pub fn shared_learning(mut self, snapshot: LearningSnapshot) -> Result<Self, Error> {
        if snapshot.config != self.config {
            return Err(Error::InvalidSnapshot(
                "the shared learning was built with another configuration; give every loop sharing it the same one".to_owned(),
            ));
        }
        let pending = self
            .learned
            .as_mut()
            .and_then(LearnedSelector::take_pending);
        self.snapshot_format = Some(snapshot.format);
        self.model = Some(snapshot.model);
        self.learned = snapshot.learned.map(|mut l| {
            l.set_pending(pending);
            l
        });
        Ok(self)
    }

    /// The configuration the loop will have.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The configuration, to adjust before `build` (it is validated then).
    #[must_use]
    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// Replaces the profile selector.
    #[must_use]
    pub fn selector(mut self, selector: impl ProfileSelector + 'static) -> Self {
        self.selector = Some(Box::new(selector));
        self
    }

    /// Replaces the gain predictor.
    #[must_use]
    pub fn predictor(mut self, predictor: impl GainPredictor + 'static) -> Self {
        self.predictor = Some(Box::new(predictor));
        self
    }

    /// Registers a custom profile shape by name.
    ///
    /// # Errors
    ///
    /// [`Error::Profile`] when the name is malformed, built in or already registered.
    pub fn profile(
        mut self,
        name: &str,
        shape: impl ProfileShape + 'static,
    ) -> Result<Self, Error> {
        self.registry.register(name, shape)?;
        Ok(self)
    }

    /// Uses a registry of custom profiles built elsewhere.
    #[must_use]
    pub fn registry(mut self, registry: ProfileRegistry) -> Self {
        self.registry = registry;
        self
    }

    /// Starts from a (pre-trained) model; the config's `[quality]` settings are applied to it.
    #[must_use]
    pub fn model(mut self, model: QualityModel) -> Self {
        self.model = Some(model);
        self
    }

    /// Builds the loop.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming a key that cannot work; [`Error::Profile`] when a
    /// resumed exploration names an unregistered profile; [`Error::InvalidSnapshot`] for an
    /// inconsistent snapshot.
    pub fn build(self) -> Result<CreativeLoop, Error> {
        if let Some(format) = self.snapshot_format.filter(|f| *f != SNAPSHOT_FORMAT) {
            return Err(Error::InvalidSnapshot(format!(
                "snapshot format {format}, but this version reads format {SNAPSHOT_FORMAT}"
            )));
        }
        let config = self.config;
        config.validate()?;
        let model_config = config.quality.model_config();
        let model = match self.model {
            Some(mut model) => {
                if model.config() != &model_config {
                    model.reconfigure(model_config)?;
                }
                model
            }
            None => QualityModel::new(model_config)?,
        };
        let (state, rng) = match self.resume {
            Some((state, rng)) => (state, rng),
            None => (
                LoopState::new(&config),
                Xoshiro256PlusPlus::seed_from_u64(config.seed),
            ),
        };
        let active = match &state.exploration {
            Some(ex) => Some(self.registry.resolve(ex.profile.clone())?),
            None => None,
        };
        check_state(&state, &config)?;
        let mut pending = None;
        let learned = match (config.selector.kind, self.learned) {
            (SelectorKind::Default, _) => None,
            (SelectorKind::Learned, Some(mut restored)) => {
                restored.check_restored(&config.selector.learned, self.registry.names())?;
                pending = restored.take_pending();
                Some(restored)
            }
            (SelectorKind::Learned, None) => Some(LearnedSelector::new(
                config.selector.learned.clone(),
                config.emergency_lambda,
                self.registry.names(),
            )?),
        };
        let history_capacity = config.history_capacity;
        let learning = Learning {
            learned,
            default_selector: DefaultSelector::new(config.selector.clone()),
            registry: self.registry,
            selector: self.selector,
            predictor: self.predictor.unwrap_or_else(|| Box::new(ModelPredictor)),
            model,
        };
        Ok(CreativeLoop {
            config,
            learning,
            t: Trajectory::from_parts(state, rng, active, pending, history_capacity),
        })
    }
}

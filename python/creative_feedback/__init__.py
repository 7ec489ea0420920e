"""The creative feedback loop for Python hosts, on the Rust engine.

The guide's API, in-process::

    from creative_feedback import CreativeFeedbackLoop

    creative_feedback = CreativeFeedbackLoop(stability_threshold=0.1)
    decision = creative_feedback.update({"novelty": 0.9, "aesthetic_score": 0.6})
    if decision["action"] == "inject_entropy":
        ...

Decisions, metrics and records are dicts with the keys of the sidecar's JSON API
(``docs/specification.md``); a rejected state raises :class:`StateError` (a ``ValueError``)
whose ``.fields`` names every offending field, and the loop does not advance.
"""

from __future__ import annotations

import json
import logging
import weakref
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    MutableMapping,
    Optional,
    Tuple,
)

import numpy as np

from ._native import ACTIONS, MODES, STATE_COLUMNS, Engine, StateError
from .remote import RemoteEngine, RemoteError
from .streaming import Callback, Streams

__all__ = [
    "ACTIONS",
    "Callback",
    "MODES",
    "STATE_COLUMNS",
    "CreativeFeedbackLoop",
    "Injection",
    "QualityModelSettings",
    "RemoteError",
    "configure_logging",
    "StateError",
]


def _profile_name(profile: Any) -> Any:
    """A record's profile is ``{"name": …, "params"?: …}``; the guide reads its name."""
    return profile.get("name") if isinstance(profile, dict) else profile


class Injection(Mapping[str, Any]):
    """An ended exploration, read as attributes (``last.entropy_profile``) or as a dict
    (``inj['duration_steps']``), as the guide does both.

    Keys: ``entropy_profile``, ``creative_gain``, ``duration_steps`` (the planned duration),
    ``entropy_steps`` (the steps it ran), ``entropy_factor``, ``adjusted_factor``, ``trigger``,
    ``outcome``, ``started_step``, ``ended_step``, ``initial_state``, and the record's own keys.
    """

    __slots__ = ("_data",)

    def __init__(self, record: Dict[str, Any]) -> None:
        data = dict(record)
        data["entropy_profile"] = _profile_name(record.get("profile"))
        data["duration_steps"] = record.get("duration")
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __getattr__(self, key: str) -> Any:
        try:
            return self._data[key]
        except KeyError:
            raise AttributeError(key) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return (
            f"Injection(entropy_profile={self._data.get('entropy_profile')!r}, "
            f"creative_gain={self._data.get('creative_gain')!r}, "
            f"duration_steps={self._data.get('duration_steps')!r})"
        )


ProfileFunction = Callable[[float, int, int, Dict[str, float]], float]


def configure_logging(level: int = logging.INFO) -> logging.Logger:
    """Sets the level of the package's logger (``creative_feedback``: failing callbacks,
    hooks and profiles are reported there) and gives it a handler to stderr if it has none;
    the logger."""
    logger = logging.getLogger("creative_feedback")
    logger.setLevel(level)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    return logger


class QualityModelSettings(MutableMapping[str, Any]):
    """The quality model as the guide's dict: reading a key reads the model
    (``quality_model['trained']``, ``['samples_seen']``, ``['weights']`` and every setting);
    setting one changes it online and the model refits
    (``quality_model['min_samples'] = 10``). A value that cannot work raises ``ValueError``
    naming the key, and nothing changes."""

    READ_ONLY = frozenset({"trained", "samples_seen", "can_predict", "weights"})

    def __init__(self, loop: "CreativeFeedbackLoop") -> None:
        self._loop = loop

    def __getitem__(self, key: str) -> Any:
        return self._loop._engine.quality()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key in self.READ_ONLY:
            raise KeyError(f"quality_model[{key!r}] is the model's state, not a setting")
        self._loop._engine.set_quality(key, value)

    def __delitem__(self, key: str) -> None:
        raise TypeError("quality model settings cannot be deleted; set them instead")

    def __iter__(self) -> Iterator[str]:
        return iter(self._loop._engine.quality())

    def __len__(self) -> int:
        return len(self._loop._engine.quality())

    def __repr__(self) -> str:
        return f"QualityModelSettings({self._loop._engine.quality()!r})"


class _NewInjection:
    """An exploration reconstructed for pre-training (the guide's ``_create_injection``):
    set ``creative_gain`` (and, as the guide does, ``performance_after``) before
    ``_update_quality_model``."""

    def __init__(self, state: Dict[str, Any], factor: float, duration: int) -> None:
        self.initial_state = dict(state)
        self.entropy_factor = factor
        self.duration_steps = duration
        self.creative_gain: Optional[float] = None
        self.performance_after: Optional[float] = None


class CreativeFeedbackLoop:
    """The loop. Keyword arguments are the configuration's keys (``docs/configuration.md``),
    nested dicts for ``quality`` and ``selector``; every other key keeps its default. An
    invalid configuration raises ``ValueError`` naming the key.
    """

    def __init__(
        self,
        stability_threshold: Optional[float] = None,
        max_exploration_steps: Optional[int] = None,
        recovery_steps: Optional[int] = None,
        *,
        select_profile: Optional[Callable[[Dict[str, Any]], str]] = None,
        predict_gain: Optional[Callable[[Dict[str, Any], float, int], Optional[float]]] = None,
        profiles: Optional[Dict[str, ProfileFunction]] = None,
        remote: Optional[str] = None,
        token: Optional[str] = None,
        session: Optional[str] = None,
        **config: Any,
    ) -> None:
        overrides = dict(config)
        for key, value in (
            ("stability_threshold", stability_threshold),
            ("max_exploration_steps", max_exploration_steps),
            ("recovery_steps", recovery_steps),
        ):
            if value is not None:
                overrides[key] = value
        if select_profile is not None:
            self._select_entropy_profile = select_profile  # type: ignore[method-assign]
        if predict_gain is not None:
            self._predict_creative_gain = predict_gain  # type: ignore[method-assign]
        self._profiles: Dict[str, ProfileFunction] = dict(profiles or {})
        self._earlier_hook_errors = 0
        self._streams = Streams()
        self._started: Optional[Dict[str, Any]] = None
        self._watch_injections = type(self).inject_entropy is not CreativeFeedbackLoop.inject_entropy
        if remote is not None:
            # The sidecar keeps the loop: its configuration, profiles and policies are its own.
            custom = overrides or self._profiles or any(self._hooks()[1:])
            if custom:
                raise ValueError(
                    "remote mode takes no configuration, profiles or hooks: the sidecar has "
                    "its own (crefl serve --config); use them in-process instead"
                )
            self._engine: Any = RemoteEngine(remote, token=token, session=session)
            return
        if token is not None or session is not None:
            raise ValueError("token and session go with remote=URL")
        self._engine = Engine(overrides, *self._hooks(), profiles=self._profiles)

    @classmethod
    def from_snapshot(
        cls, text: str, profiles: Optional[Dict[str, ProfileFunction]] = None
    ) -> "CreativeFeedbackLoop":
        """A loop resumed from :meth:`snapshot`'s text: it decides exactly as the original
        would have (give it the same ``profiles`` the original had registered)."""
        loop = cls.__new__(cls)
        loop._profiles = dict(profiles or {})
        loop._earlier_hook_errors = 0
        loop._started = None
        loop._watch_injections = cls.inject_entropy is not CreativeFeedbackLoop.inject_entropy
        loop._engine = Engine.restore(text, *loop._hooks(), profiles=loop._profiles)
        loop._streams = Streams()
        return loop

    def register_profile(self, name: str, function: ProfileFunction) -> None:
        """Adds a profile shape: ``function(base_factor, step, total_steps, params)`` returns
        the entropy factor at ``step`` (from 0) of ``total_steps``, as the guide's
        ``sinusoidal_profile``. Choose it from ``_select_entropy_profile``. A name that is
        built in or already registered, or malformed, raises ``ValueError``; a function that
        raises or returns a non-finite number is counted by the engine and replaced."""
        profiles = dict(self._profiles)
        profiles[name] = function
        engine = Engine.restore(self._engine.snapshot(), *self._hooks(), profiles=profiles)
        self._earlier_hook_errors += self._engine.hook_errors()
        self._engine, self._profiles = engine, profiles

    def _create_injection(self, state: Dict[str, Any], factor: float, duration: int) -> _NewInjection:
        """A past exploration to pre-train from (the guide's pre-training recipe)."""
        return _NewInjection(state, factor, duration)

    def _update_quality_model(self, injection: _NewInjection) -> None:
        """Teaches the quality model one past exploration made by :meth:`_create_injection`;
        ``ValueError`` naming the fields when it breaks the rules (nothing is learned then)."""
        if injection.creative_gain is None:
            raise ValueError("set the injection's creative_gain before _update_quality_model")
        report = self.pretrain(
            [
                {
                    "initial_state": injection.initial_state,
                    "entropy_factor": injection.entropy_factor,
                    "duration": injection.duration_steps,
                    "creative_gain": injection.creative_gain,
                }
            ]
        )
        if report["skipped"]:
            reasons = "; ".join(f"{r['field']}: {r['message']}" for r in report["skipped"][0]["reasons"])
            raise ValueError(f"the injection cannot be learned: {reasons}")

    def inject_entropy(self, base_state: Dict[str, Any]) -> Dict[str, Any]:
        """Called when an exploration starts, with the state that started it; returns the
        injection (``entropy_factor``, ``duration``, ``entropy_profile``, ``predicted_gain``).
        Override it to watch injections (the guide's debug mode), calling ``super()``; the
        engine has already decided, so what an override returns does not change the
        decision. :attr:`current_injection` is the exploration in progress."""
        return dict(self._started or {})

    @property
    def current_injection(self) -> Optional[Injection]:
        """The exploration in progress (``entropy_profile``, ``entropy_factor``,
        ``duration_steps``, ``step``), ``None`` between explorations."""
        current = self.get_creative_metrics().get("current_exploration")
        if not current:
            return None
        record = dict(current)
        record.setdefault("duration", current.get("duration"))
        return Injection(record)

    @property
    def quality_model(self) -> QualityModelSettings:
        """The quality model's settings and state, as the guide's dict."""
        return QualityModelSettings(self)

    def _hooks(self) -> Tuple[Any, bool, bool]:
        """The object the engine calls for selection and prediction, when this loop overrides
        either (a weak proxy: the engine must not keep its loop alive)."""
        base = CreativeFeedbackLoop

        def overridden(name: str) -> bool:
            return name in vars(self) or getattr(type(self), name) is not getattr(base, name)

        select = overridden("_select_entropy_profile")
        predict = overridden("_predict_creative_gain")
        return (weakref.proxy(self) if select or predict else None, select, predict)

    def _select_entropy_profile(self, state: Dict[str, Any]) -> str:
        """Chooses the profile of the exploration starting now; override it (or pass
        ``select_profile=``) to customise. ``state`` has the trigger state's ``novelty``,
        ``aesthetic_score``, ``volatility``, ``lambda_max`` and ``coherence``. Return a
        registered profile's name; this base method (``super()``) returns the engine's own
        choice (the default selector's, or the learned selector's)."""
        return self._default_profile  # type: ignore[no-any-return]

    def _predict_creative_gain(
        self, state: Dict[str, Any], factor: float, duration: int
    ) -> Optional[float]:
        """Predicts the gain of the exploration starting now (with base entropy ``factor``
        over ``duration`` steps); override it (or pass ``predict_gain=``) to customise.
        Return a number (it adjusts the factor and may gate the exploration) or ``None`` (no
        prediction); this base method (``super()``) returns the quality model's prediction,
        ``None`` until it is trained."""
        if getattr(self, "_default_prediction_for", None) == (factor, duration):
            return self._default_prediction  # type: ignore[no-any-return]
        # Called from the host's own code, not at an exploration's start: ask the model.
        return self._engine.predict(state, factor, duration)  # type: ignore[no-any-return]

    @property
    def hook_errors(self) -> int:
        """Calls of ``_select_entropy_profile`` / ``_predict_creative_gain`` that raised or
        answered something unusable; the engine's own choice was used instead."""
        return self._earlier_hook_errors + self._engine.hook_errors()

    def update(self, state: Dict[str, Any]) -> Dict[str, Any]:
        """One step: the observed state in, the decision out (``action``, ``mode``,
        ``entropy_factor``, ``lambda_factor``, ``reason``, and ``exploration``, ``outcome``,
        ``predicted_gain``, ``warnings`` when they apply)."""
        decision = self._engine.update(state)
        if self._streams.streams:
            self._streams.after_step(self._engine, decision)
        if self._watch_injections and decision["action"] == "inject_entropy":
            exploration = decision["exploration"]
            self._started = {
                "entropy_factor": decision["entropy_factor"],
                "duration": exploration["duration"],
                "entropy_profile": exploration["profile"],
                "predicted_gain": decision.get("predicted_gain"),
            }
            self.inject_entropy(state)
        return decision

    def enable_metric_streaming(self, callback: Callback, interval_steps: int = 10) -> None:
        """Hands a metric dict to ``callback`` every ``interval_steps`` accepted steps and on
        every step where the mode changes or an exploration starts or ends (keys:
        ``timestamp``, ``step``, ``mode``, ``cumulative_gain``, and ``mode_changed`` /
        ``previous_mode``, ``just_started``, ``current_injection``, ``completed_injection``,
        ``predicted_gain`` when they apply). ``callback`` may be a function or an ``async
        def``; one that raises is counted (:attr:`streaming_errors`), never raised."""
        self._streams.add(callback, interval_steps)

    def disable_metric_streaming(self, callback: Optional[Callback] = None) -> int:
        """Stops streaming to ``callback`` (to every callback when ``None``); how many were
        removed."""
        return self._streams.remove(callback)

    @property
    def streaming_errors(self) -> int:
        """Callbacks (or their coroutines) that raised."""
        return self._streams.errors

    @property
    def streaming_delivered(self) -> int:
        """Metrics handed to callbacks without an error (a scheduled coroutine counts once it
        has finished)."""
        return self._streams.delivered

    def update_many(self, states: Any) -> Dict[str, np.ndarray]:
        """Many steps at once. ``states``: shape (n, 4), columns :data:`STATE_COLUMNS`
        (``NaN`` is an absent value). Returns arrays: ``accepted`` (bool; a rejected row
        changed nothing), ``action`` and ``mode`` (indexes into :data:`ACTIONS` and
        :data:`MODES`; 255 for a rejected row), ``entropy_factor``, ``lambda_factor``,
        ``predicted_gain`` and ``creative_gain`` (``NaN`` where there is none)."""
        array = np.asarray(states, dtype=np.float64)
        if array.ndim != 2:
            raise ValueError(
                f"states must be 2-dimensional (n, 4), got shape {array.shape}"
            )
        return self._engine.update_many(array)

    def get_creative_metrics(self) -> Dict[str, Any]:
        """The metrics snapshot: ``mode``, ``cumulative_gain``, ``steps``, ``counters``,
        ``recent``, ``trend``, ``quality``, ``current_exploration``, …"""
        return self._engine.metrics()

    @property
    def injection_history(self) -> List[Injection]:
        """The ended explorations kept (the configuration's ``history_capacity``), oldest
        first."""
        return [Injection(r) for r in self._engine.history()]

    @property
    def config(self) -> Dict[str, Any]:
        """The configuration in force."""
        return self._engine.config()

    def health(self) -> Dict[str, Any]:
        """The guide's health check: ``status`` (``healthy`` or ``degraded``), ``reason``,
        ``mode``, ``cumulative_gain``, ``exploration_count``, ``quality_model_trained`` and
        ``last_exploration``."""
        metrics = self._engine.metrics()
        health = self._engine.health()
        history = self._engine.history()
        report: Dict[str, Any] = {
            "status": health["status"],
            "mode": metrics["mode"],
            "cumulative_gain": metrics["cumulative_gain"],
            "exploration_count": metrics["counters"]["completed"]
            + metrics["counters"]["pruned"],
            "quality_model_trained": metrics["quality"]["trained"],
            "last_exploration": None,
            "steps": metrics["steps"],
        }
        if health.get("reason") is not None:
            report["reason"] = health["reason"]
        if history:
            last = history[-1]
            report["last_exploration"] = {
                "profile": _profile_name(last["profile"]),
                "gain": last["creative_gain"],
                "duration": last["duration"],
                "outcome": last["outcome"],
            }
        return report

    def snapshot(self) -> str:
        """The whole loop as JSON text; :meth:`from_snapshot` resumes it."""
        return self._engine.snapshot()

    def pretrain(self, records: Iterable[Mapping[str, Any]]) -> Dict[str, Any]:
        """Pre-trains the quality model from past explorations, each a dict with
        ``initial_state``, ``entropy_factor``, ``duration`` and ``creative_gain`` (the
        history's format). Returns ``{"used": n, "skipped": [{"line", "reasons"}]}``;
        records that break the rules are skipped, never half-learned."""
        text = "\n".join(json.dumps(dict(r)) for r in records)
        return self._engine.pretrain_jsonl(text)

    def pretrain_arrays(
        self, states: Any, entropy_factors: Any, durations: Any, gains: Any
    ) -> Dict[str, Any]:
        """:meth:`pretrain` from arrays: ``states`` of shape (n, 4) (the state that started
        each exploration, columns :data:`STATE_COLUMNS`), and ``entropy_factors``,
        ``durations`` (steps) and ``gains`` of length n. Skipped rows are reported by number,
        from 1."""
        as_f64 = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
        return self._engine.pretrain_arrays(
            as_f64(states), as_f64(entropy_factors), as_f64(durations), as_f64(gains)
        )

"""The guide's quality model dict and custom profile functions."""

import numpy as np
import pytest

from creative_feedback import CreativeFeedbackLoop


def sinusoidal_profile(base_factor, step, total_steps, params):
    """The guide's own example."""
    amplitude = params.get("amplitude", 0.3)
    frequency = params.get("frequency", 2.0)
    t = step / total_steps
    modulation = 1 + amplitude * np.sin(2 * np.pi * frequency * t)
    return base_factor * modulation


def test_the_quality_model_reads_and_changes_as_the_guides_dict():
    creative_feedback = CreativeFeedbackLoop()
    assert creative_feedback.quality_model["trained"] is False
    creative_feedback.quality_model["min_samples"] = 10
    creative_feedback.quality_model["regularization"] = 0.1
    creative_feedback.quality_model["feature_weights"] = np.array([0.3, 0.4, -0.2, 0.5, 0.1, 0.05])
    q = creative_feedback.quality_model
    assert q["min_samples"] == 10 and q["regularization"] == 0.1
    assert q["feature_weights"][:6] == [0.3, 0.4, -0.2, 0.5, 0.1, 0.05]
    assert creative_feedback.config["quality"]["min_samples"] == 10
    with pytest.raises(ValueError, match="regularization"):
        creative_feedback.quality_model["regularization"] = -1.0
    assert creative_feedback.quality_model["regularization"] == 0.1  # unchanged
    with pytest.raises(KeyError, match="no setting"):
        creative_feedback.quality_model["learning_rate"] = 0.5
    with pytest.raises(KeyError, match="state"):
        creative_feedback.quality_model["trained"] = True
    assert {"trained", "samples_seen", "min_samples", "window"} <= set(q)


def test_a_python_profile_shapes_its_explorations():
    loop = CreativeFeedbackLoop(
        max_exploration_steps=20,
        min_exploration_steps=20,
        select_profile=lambda state: "sinusoidal",
    )
    loop.register_profile("sinusoidal", sinusoidal_profile)
    factors = []
    for i in range(30):
        d = loop.update({"novelty": 0.9 if i == 0 else 0.5, "aesthetic_score": 0.6})
        if d.get("exploration"):
            assert d["exploration"]["profile"] == "sinusoidal"
            factors.append(d["entropy_factor"])
    assert len(set(round(f, 9) for f in factors)) > 5  # it varies along the exploration
    with pytest.raises(ValueError):
        loop.register_profile("pulse", sinusoidal_profile)  # built in


def test_a_failing_profile_function_never_breaks_the_loop():
    def broken(base_factor, step, total_steps, params):
        raise RuntimeError("shape down")

    loop = CreativeFeedbackLoop(select_profile=lambda state: "broken", profiles={"broken": broken})
    for i in range(50):
        d = loop.update({"novelty": 0.9 if i == 0 else 0.5, "aesthetic_score": 0.6})
        assert 0 <= d["entropy_factor"] <= 1
    assert loop.get_creative_metrics()["counters"]["errors"] > 0  # counted by the engine

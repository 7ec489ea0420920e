"""The package against the engine's own promises: the guide's calls, errors that name fields,
snapshots, arrays, and the same decisions as ``crefl replay``."""

import json
import math
import os
import pathlib
import random
import shutil
import subprocess

import numpy as np
import pytest

import creative_feedback as cf
from creative_feedback import CreativeFeedbackLoop, StateError

ROOT = pathlib.Path(__file__).resolve().parents[2]


def stream(n, seed=7, invalid_every=0):
    """A seeded host through every mode; every ``invalid_every``-th state is invalid."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        phase = i % 1000
        novelty = 0.9 if phase < 5 else (0.1 if 300 <= phase < 305 else 0.45 + 0.1 * rng.random())
        state = {
            "novelty": novelty,
            "aesthetic_score": 0.4 + 0.4 * rng.random(),
            "volatility": 0.1 * rng.random(),
            "lambda_max": 0.3 if 900 <= phase < 903 else 0.004 * rng.random(),
        }
        if invalid_every and i % invalid_every == invalid_every - 1:
            state = rng.choice(
                [
                    {"novelty": float("nan"), "aesthetic_score": 0.5},
                    {"novelty": "high", "aesthetic_score": 0.5},
                    {"novelty": 0.5, "volatility": -1.0},
                    {"novelty": 0.5, "coherence": "sideways"},
                ]
            )
        elif i % 7 == 0:
            state["coherence"] = "local"
        out.append(state)
    return out


def test_the_guides_first_calls_work():
    creative_feedback = CreativeFeedbackLoop(
        stability_threshold=0.1, max_exploration_steps=200, recovery_steps=50
    )
    action = creative_feedback.update(
        {"novelty": 0.9, "aesthetic_score": 0.6, "volatility": 0.1, "lambda_max": 0.0, "coherence": "local"}
    )
    assert action["action"] == "inject_entropy"
    assert action["mode"] == "exploring"
    assert 0 < action["entropy_factor"] <= 1
    assert action["exploration"]["profile"] in ("constant", "pulse", "ramp", "volatile")
    metrics = creative_feedback.get_creative_metrics()
    assert metrics["mode"] == "exploring" and metrics["steps"] == 1
    assert creative_feedback.config["recovery_steps"] == 50


def test_an_exploration_ends_in_the_history_with_the_guides_keys():
    loop = CreativeFeedbackLoop(max_exploration_steps=10, min_exploration_steps=10)
    for state in stream(400):
        loop.update(state)
    history = loop.injection_history
    assert history, "no exploration ended"
    last = history[-1]
    assert last.entropy_profile == last["entropy_profile"]
    assert isinstance(last.entropy_profile, str)
    assert last["duration_steps"] == 10
    assert math.isfinite(last.creative_gain)
    health = loop.health()
    assert health["status"] in ("healthy", "degraded")
    assert health["exploration_count"] == len(history)
    assert health["last_exploration"]["profile"] == last.entropy_profile


def test_a_rejected_state_names_every_field_and_changes_nothing():
    loop = CreativeFeedbackLoop()
    loop.update({"novelty": 0.5, "aesthetic_score": 0.5})
    before = loop.snapshot()
    with pytest.raises(ValueError) as caught:
        loop.update({"novelty": "high", "volatility": float("nan")})
    assert isinstance(caught.value, StateError)
    fields = {f["field"] for f in caught.value.fields}
    assert fields == {"novelty", "volatility"}
    assert all(f["message"] for f in caught.value.fields)
    assert json.loads(loop.snapshot())["state"]["steps"] == json.loads(before)["state"]["steps"]
    with pytest.raises(StateError, match="must be a dict"):
        loop.update([0.5, 0.5])


def test_an_invalid_configuration_is_refused_by_key():
    with pytest.raises(ValueError, match="recovery_steps"):
        CreativeFeedbackLoop(recovery_steps=-1)
    with pytest.raises(ValueError, match="no_such_key"):
        CreativeFeedbackLoop(no_such_key=1)
    with pytest.raises(ValueError, match="`quality.window`"):
        CreativeFeedbackLoop(quality={"min_samples": 5, "window": "wide"})
    # Nested settings keep their other defaults.
    loop = CreativeFeedbackLoop(quality={"min_samples": 10})
    assert loop.config["quality"]["min_samples"] == 10
    assert loop.config["quality"]["window"] == CreativeFeedbackLoop().config["quality"]["window"]


def test_a_loop_resumed_from_its_snapshot_decides_as_the_original():
    states = stream(3000)
    original = CreativeFeedbackLoop()
    for s in states[:1500]:
        original.update(s)
    resumed = CreativeFeedbackLoop.from_snapshot(original.snapshot())
    for s in states[1500:]:
        assert resumed.update(s) == original.update(s)
    with pytest.raises(ValueError):
        CreativeFeedbackLoop.from_snapshot("{not json")


def test_update_many_decides_as_update_row_by_row():
    rows = np.array(
        [[s["novelty"], s["aesthetic_score"], s["volatility"], s["lambda_max"]] for s in stream(5000)]
    )
    rows[17, 0] = np.inf  # invalid: novelty out of range
    rows[18, 2] = np.nan  # absent: the default applies
    batch, single = CreativeFeedbackLoop(), CreativeFeedbackLoop()
    out = batch.update_many(rows)
    assert set(out) == {"accepted", "action", "mode", "entropy_factor", "lambda_factor", "predicted_gain", "creative_gain"}
    for i, row in enumerate(rows):
        state = {k: float(v) for k, v in zip(cf.STATE_COLUMNS, row) if not math.isnan(v)}
        try:
            d = single.update(state)
        except StateError:
            assert not out["accepted"][i]
            continue
        assert out["accepted"][i]
        assert cf.ACTIONS[out["action"][i]] == d["action"]
        assert cf.MODES[out["mode"][i]] == d["mode"]
        assert out["entropy_factor"][i] == d["entropy_factor"]
        assert out["lambda_factor"][i] == d["lambda_factor"]
    assert not out["accepted"][17]
    assert batch.snapshot() == single.snapshot()
    with pytest.raises(ValueError, match="4"):
        batch.update_many(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="2-dimensional"):
        batch.update_many(np.zeros(4))


def test_pretraining_from_records_and_from_arrays_agree():
    n = 40
    records = [
        {
            "initial_state": {"novelty": 0.2 + 0.01 * i, "aesthetic_score": 0.5, "volatility": 0.05, "lambda_max": 0.003},
            "entropy_factor": 0.3 + 0.01 * i,
            "duration": 20 + i % 5,
            "creative_gain": 0.4 * math.sin(i),
        }
        for i in range(n)
    ]
    records[3]["duration"] = 0
    a, b = CreativeFeedbackLoop(), CreativeFeedbackLoop()
    report = a.pretrain(records)
    assert report["used"] == n - 1
    assert report["skipped"][0]["line"] == 4
    report = b.pretrain_arrays(
        [[r["initial_state"][k] for k in cf.STATE_COLUMNS] for r in records],
        [r["entropy_factor"] for r in records],
        [r["duration"] for r in records],
        [r["creative_gain"] for r in records],
    )
    assert report["used"] == n - 1 and report["skipped"][0]["line"] == 4
    assert a.get_creative_metrics()["quality"] == b.get_creative_metrics()["quality"]
    assert a.get_creative_metrics()["quality"]["trained"]


def crefl():
    """The `crefl` binary built by cargo (CREFL_BIN, or target/release, or target/debug)."""
    for candidate in (
        os.environ.get("CREFL_BIN"),
        ROOT / "target" / "release" / "crefl",
        ROOT / "target" / "debug" / "crefl",
        shutil.which("crefl"),
    ):
        if candidate and pathlib.Path(candidate).is_file():
            return str(candidate)
    if os.environ.get("CI") == "true":
        pytest.fail("crefl is not built: cargo build -p crefl (CI builds it before pytest)")
    pytest.skip("crefl is not built (cargo build -p crefl)")


def test_decisions_equal_crefl_replays_with_invalid_lines_mixed_in(tmp_path):
    states = stream(20_000, seed=11, invalid_every=37)
    lines = tmp_path / "states.jsonl"
    lines.write_text("".join(json.dumps(s) + "\n" for s in states))
    replayed = subprocess.run(
        [crefl(), "replay", "--states", str(lines), "--skip-invalid"],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "CREFL_CONFIG"},
        cwd=tmp_path,
    ).stdout.splitlines()
    assert len(replayed) == len(states)
    loop = CreativeFeedbackLoop()
    invalid = 0
    for state, line in zip(states, replayed):
        expected = json.loads(line)
        try:
            got = loop.update(state)
        except StateError as e:
            invalid += 1
            assert "fields" in expected, line
            assert e.fields == expected["fields"]
            continue
        assert got == expected
    assert invalid > 300

"""Metric streaming to callbacks: the guide's keys, every transition, async handlers, and
callbacks that fail without breaking the loop."""

import asyncio

import pytest

from creative_feedback import CreativeFeedbackLoop


def states(n):
    """Calm, then a momentum burst every 120 steps: explorations start and end."""
    return [
        {"novelty": 0.9 if i % 120 < 3 else 0.5, "aesthetic_score": 0.6, "volatility": 0.05, "lambda_max": 0.001}
        for i in range(n)
    ]


def short_loop():
    return CreativeFeedbackLoop(max_exploration_steps=10, min_exploration_steps=10, recovery_steps=5)


def test_metrics_carry_the_guides_keys_and_every_transition():
    loop = short_loop()
    seen = []
    loop.enable_metric_streaming(seen.append, interval_steps=50)
    decisions = [loop.update(s) for s in states(600)]
    assert seen, "no metric"
    for m in seen:
        assert {"timestamp", "step", "mode", "cumulative_gain"} <= set(m)
    # Every 50th step, and every eventful one in between.
    steps = {m["step"] for m in seen}
    assert {50, 100, 150} <= steps
    started = [m for m in seen if m.get("just_started")]
    completed = [m for m in seen if "completed_injection" in m]
    changes = [m for m in seen if m.get("mode_changed")]
    assert len(started) == sum(d["action"] == "inject_entropy" for d in decisions)
    assert len(completed) == sum("outcome" in d for d in decisions) > 0
    assert changes and all(m["previous_mode"] != m["mode"] for m in changes)
    for m in started:
        assert m["mode"] == "exploring"
        assert {"entropy_profile", "entropy_factor", "duration_steps"} <= set(m["current_injection"])
    inj = completed[-1]["completed_injection"]
    assert inj["duration_steps"] == 10
    assert inj["entropy_profile"] == loop.injection_history[-1].entropy_profile
    assert loop.streaming_delivered == len(seen)


def test_an_async_handler_runs_to_completion_without_a_running_loop():
    loop = short_loop()
    got = []

    async def handler(metric):
        await asyncio.sleep(0)
        got.append(metric["step"])

    loop.enable_metric_streaming(handler, interval_steps=10)
    for s in states(100):
        loop.update(s)
    assert set(range(10, 101, 10)) <= set(got)  # every 10th step, besides the transitions
    assert got == sorted(got)  # each ran to completion before update returned
    assert loop.streaming_errors == 0


def test_an_async_handler_is_scheduled_on_the_running_loop():
    got = []

    async def handler(metric):
        got.append(metric["step"])

    async def host():
        loop = short_loop()
        loop.enable_metric_streaming(handler, interval_steps=25)
        for s in states(100):
            loop.update(s)
        assert got == []  # scheduled, not yet run: update never waits on a handler
        await asyncio.sleep(0.01)
        return loop

    loop = asyncio.run(host())
    assert 25 in got and 100 in got
    assert loop.streaming_delivered == len(got)


def test_failing_callbacks_are_counted_and_never_break_the_loop():
    loop = short_loop()
    good = []

    def broken(metric):
        raise RuntimeError("sink down")

    async def broken_async(metric):
        raise RuntimeError("sink down")

    loop.enable_metric_streaming(broken, interval_steps=10)
    loop.enable_metric_streaming(broken_async, interval_steps=10)
    loop.enable_metric_streaming(good.append, interval_steps=10)
    for s in states(100):
        loop.update(s)
    assert len(good) > 0
    assert loop.streaming_errors == 2 * len(good)
    assert loop.disable_metric_streaming(broken) == 1
    assert loop.disable_metric_streaming() == 2


def test_bad_streaming_arguments_are_refused():
    loop = short_loop()
    with pytest.raises(ValueError, match="interval_steps"):
        loop.enable_metric_streaming(print, interval_steps=0)
    with pytest.raises(TypeError, match="callable"):
        loop.enable_metric_streaming("not a function")

"""The remote mode against a real `crefl serve`: the same class, the same answers."""

import os
import subprocess

import pytest

from creative_feedback import CreativeFeedbackLoop, RemoteError, StateError
from test_loop import crefl, stream


@pytest.fixture
def sidecar(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CREFL_CONFIG"}
    process = subprocess.Popen(
        [crefl(), "serve", "--bind", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("listening on http://"), line
        yield line.removeprefix("listening on ")
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_remote_loop_answers_as_the_loop_in_process(sidecar):
    remote = CreativeFeedbackLoop(remote=sidecar)
    local = CreativeFeedbackLoop()
    for state in stream(600, invalid_every=50):
        try:
            expected = local.update(state)
        except StateError as e:
            with pytest.raises(StateError) as caught:
                remote.update(state)
            assert caught.value.fields == e.fields
            continue
        assert remote.update(state) == expected
    assert remote.get_creative_metrics()["steps"] == local.get_creative_metrics()["steps"]
    assert [i.entropy_profile for i in remote.injection_history] == [
        i.entropy_profile for i in local.injection_history
    ]
    assert remote.health()["mode"] == local.health()["mode"]


def test_a_remote_session_and_streaming(sidecar):
    seen = []
    remote = CreativeFeedbackLoop(remote=sidecar, session="chat-1")
    remote.enable_metric_streaming(seen.append, interval_steps=5)
    for state in stream(20):
        remote.update(state)
    assert [m["step"] for m in seen if m["step"] % 5 == 0][-1] == 20
    assert remote.get_creative_metrics()["steps"] == 20


def test_what_the_sidecar_keeps_is_refused_clearly(sidecar):
    remote = CreativeFeedbackLoop(remote=sidecar)
    with pytest.raises(RemoteError, match="not available in remote mode"):
        remote.snapshot()
    with pytest.raises(RemoteError, match="not available in remote mode"):
        remote.quality_model["min_samples"] = 3
    with pytest.raises(ValueError, match="remote mode takes no configuration"):
        CreativeFeedbackLoop(remote=sidecar, recovery_steps=10)
    with pytest.raises(ValueError, match="http"):
        CreativeFeedbackLoop(remote="127.0.0.1:8080")
    with pytest.raises(RemoteError, match="cannot reach"):
        CreativeFeedbackLoop(remote="http://127.0.0.1:9").update({"novelty": 0.5})

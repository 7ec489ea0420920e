"""Customising selection and prediction by subclassing, as the guide does, with super()
falling back to the engine's own answer."""

from creative_feedback import CreativeFeedbackLoop

BURST = {"novelty": 0.9, "aesthetic_score": 0.6, "volatility": 0.05, "lambda_max": 0.001}
CALM = {"novelty": 0.5, "aesthetic_score": 0.6, "volatility": 0.05, "lambda_max": 0.001}


def run(loop, n=400):
    out = []
    for i in range(n):
        out.append(loop.update(BURST if i % 120 < 3 else CALM))
    return out


def started(decisions):
    return [d for d in decisions if d["action"] == "inject_entropy"]


class Pulsing(CreativeFeedbackLoop):
    def _select_entropy_profile(self, state):
        if state["novelty"] > 0.8:
            return "pulse"
        return super()._select_entropy_profile(state)


class Optimist(CreativeFeedbackLoop):
    def _predict_creative_gain(self, state, factor, duration):
        assert 0 < factor <= 1 and duration == 10
        return 0.9


def short(cls=CreativeFeedbackLoop, **kw):
    return cls(max_exploration_steps=10, min_exploration_steps=10, recovery_steps=5, **kw)


def test_a_subclass_chooses_the_profile_and_super_falls_back_to_the_default():
    plain = started(run(short()))
    custom = started(run(short(Pulsing)))
    assert plain and len(plain) == len(custom)
    # Bursts (novelty 0.9) get the pulse; the other triggers keep the default's choice.
    for mine, theirs in zip(custom, plain):
        if mine["reason"] == "momentum":
            assert mine["exploration"]["profile"] == "pulse"
        else:
            assert mine["exploration"]["profile"] == theirs["exploration"]["profile"]
    assert any(d["reason"] == "momentum" for d in custom)
    assert any(d["exploration"]["profile"] != "pulse" for d in plain if d["reason"] == "momentum")

    class Deferring(CreativeFeedbackLoop):
        def _select_entropy_profile(self, state):
            return super()._select_entropy_profile(state)

    # Deferring to super() everywhere decides exactly as the plain loop.
    assert run(short(Deferring)) == run(short())


def test_a_subclass_predicts_the_gain():
    decisions = started(run(short(Optimist)))
    assert decisions and all(d["predicted_gain"] == 0.9 for d in decisions)
    plain = started(run(short()))
    assert all("predicted_gain" not in d for d in plain[:1])  # untrained model: no prediction


def test_callables_may_be_passed_instead_of_subclassing():
    seen = []

    def select(state):
        seen.append(state)
        return "cosine_ramp"

    decisions = started(run(short(select_profile=select, predict_gain=lambda s, f, d: None)))
    assert decisions and all(d["exploration"]["profile"] == "cosine_ramp" for d in decisions)
    assert set(seen[0]) == {"novelty", "aesthetic_score", "volatility", "lambda_max", "coherence"}


def test_a_failing_hook_is_counted_and_the_default_is_used():
    class Broken(CreativeFeedbackLoop):
        def _select_entropy_profile(self, state):
            raise RuntimeError("selector down")

        def _predict_creative_gain(self, state, factor, duration):
            return float("nan")

    class Unknown(CreativeFeedbackLoop):
        def _select_entropy_profile(self, state):
            return "no_such_profile"

    class Reentrant(CreativeFeedbackLoop):
        def _select_entropy_profile(self, state):
            self.get_creative_metrics()  # the loop is mid-step: refused, counted
            return "pulse"

    for cls in (Broken, Reentrant):
        loop = short(cls)
        decisions = run(loop)
        assert [d["exploration"]["profile"] for d in started(decisions)] == [
            d["exploration"]["profile"] for d in started(run(short()))
        ]
        assert loop.hook_errors >= len(started(decisions))
    # An unknown profile is the engine's to refuse: the exploration falls back, the loop goes on.
    loop = short(Unknown)
    assert started(run(loop))


def test_hooks_survive_a_snapshot():
    loop = short(Pulsing)
    run(loop, 100)
    resumed = Pulsing.from_snapshot(loop.snapshot())
    bursts = [d for d in started(run(resumed, 400)) if d["reason"] == "momentum"]
    assert bursts and all(d["exploration"]["profile"] == "pulse" for d in bursts)

"""Metric streaming to callbacks, as the guide's ``enable_metric_streaming`` does.

A callback gets a metric dict every ``interval_steps`` accepted steps, and on every step where
something happens (the mode changes, an exploration starts or ends), so that no transition is
missed whatever the interval. Keys:

- always: ``timestamp`` (seconds since the epoch), ``step``, ``mode``, ``cumulative_gain``;
- when the mode changed since the previous step: ``mode_changed`` (``True``) and
  ``previous_mode``;
- when an exploration starts: ``just_started`` (``True``) and ``current_injection``
  (``entropy_profile``, ``entropy_factor``, ``duration_steps``);
- while one runs: ``current_injection``;
- when one ends: ``completed_injection`` (the ended exploration, as in ``injection_history``);
- when the decision has one: ``predicted_gain``.

A callback may be a plain function or an ``async def`` coroutine function. A coroutine is
scheduled on the running event loop when there is one, and run to completion otherwise. An
exception raised by a callback (or by its coroutine) is logged and counted, never raised into
``update``: the loop keeps deciding.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional, Set, Union

log = logging.getLogger("creative_feedback")

Metric = Dict[str, Any]
Callback = Callable[[Metric], Union[None, Awaitable[None]]]


class _Stream:
    __slots__ = ("callback", "interval")

    def __init__(self, callback: Callback, interval: int) -> None:
        self.callback = callback
        self.interval = interval


class Streams:
    """The callbacks of one loop, with what they need from one step to the next."""

    def __init__(self) -> None:
        self.streams: List[_Stream] = []
        self.errors = 0
        self.delivered = 0
        self._previous_mode: Optional[str] = None
        self._tasks: Set["asyncio.Task[Any]"] = set()

    def add(self, callback: Callback, interval_steps: int) -> None:
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        if not isinstance(interval_steps, int) or isinstance(interval_steps, bool) or interval_steps < 1:
            raise ValueError(f"interval_steps must be a whole number ≥ 1, got {interval_steps!r}")
        self.streams.append(_Stream(callback, interval_steps))

    def remove(self, callback: Optional[Callback]) -> int:
        before = len(self.streams)
        self.streams = [s for s in self.streams if callback is not None and s.callback is not callback]
        return before - len(self.streams)

    def after_step(self, engine: Any, decision: Dict[str, Any]) -> None:
        """Builds the step's metric once, if any stream wants it, and hands it out."""
        mode = decision["mode"]
        changed = self._previous_mode is not None and mode != self._previous_mode
        previous, self._previous_mode = self._previous_mode, mode
        started = decision["action"] == "inject_entropy"
        ended = "outcome" in decision
        eventful = changed or started or ended
        step, gain = engine.progress()
        due = [s for s in self.streams if eventful or step % s.interval == 0]
        if not due:
            return
        metric: Metric = {
            "timestamp": time.time(),
            "step": step,
            "mode": mode,
            "cumulative_gain": gain,
        }
        if changed:
            metric["mode_changed"] = True
            metric["previous_mode"] = previous
        exploration = decision.get("exploration")
        if exploration is not None and not ended:
            metric["current_injection"] = {
                "entropy_profile": exploration["profile"],
                "entropy_factor": decision["entropy_factor"],
                "duration_steps": exploration["duration"],
                "step": exploration["k"],
            }
        if started:
            metric["just_started"] = True
        if ended:
            from . import Injection

            last = engine.last_exploration()
            if last is not None:
                metric["completed_injection"] = dict(Injection(last))
        if "predicted_gain" in decision:
            metric["predicted_gain"] = decision["predicted_gain"]
        for stream in due:
            self._deliver(stream.callback, metric)

    def _deliver(self, callback: Callback, metric: Metric) -> None:
        try:
            result = callback(metric)
            if inspect.isawaitable(result):
                self._await(result)
            else:
                self.delivered += 1
        except Exception:  # noqa: BLE001 - a host's callback must never break the loop
            self._failed(callback)

    def _await(self, awaitable: Awaitable[Any]) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is None:
            try:
                asyncio.run(_as_coroutine(awaitable))
                self.delivered += 1
            except Exception:  # noqa: BLE001
                self._failed(awaitable)
            return
        task = running.create_task(_as_coroutine(awaitable))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: "asyncio.Task[Any]") -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        if task.exception() is not None:
            self._failed(task)
        else:
            self.delivered += 1

    def _failed(self, what: Any) -> None:
        self.errors += 1
        log.warning("a metric streaming callback failed (%r); the loop goes on", what, exc_info=True)


async def _as_coroutine(awaitable: Awaitable[Any]) -> Any:
    return await awaitable

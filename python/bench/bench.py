"""Speed of the package on this machine: `python python/bench/bench.py`.

Prints the median time of `loop.update(dict)` (the dict built once per state beforehand, as a
host has it; the decision dict included), and the states per second of `update_many`.
"""

import statistics
import time

import numpy as np

from creative_feedback import CreativeFeedbackLoop


def states(n):
    rng = np.random.default_rng(3)
    out = []
    for i in range(n):
        phase = i % 1000
        novelty = 0.9 if phase < 5 else (0.1 if 300 <= phase < 305 else 0.45 + 0.1 * rng.random())
        out.append(
            {
                "novelty": float(novelty),
                "aesthetic_score": float(0.4 + 0.4 * rng.random()),
                "volatility": float(0.1 * rng.random()),
                "lambda_max": 0.3 if 900 <= phase < 903 else float(0.004 * rng.random()),
            }
        )
    return out


def per_update(loop, batch, rounds=15):
    """Median over rounds of the mean time per update in a round of `len(batch)` updates."""
    update = loop.update
    times = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for s in batch:
            update(s)
        times.append((time.perf_counter_ns() - start) / len(batch))
    return statistics.median(times)


def main():
    batch = states(20_000)
    loop = CreativeFeedbackLoop()
    print(f"update(dict), 4 numeric keys: median {per_update(loop, batch) / 1000:.2f} µs per update")
    with_coherence = [dict(s, coherence="local") for s in batch]
    print(f"update(dict), with coherence: median {per_update(loop, with_coherence) / 1000:.2f} µs per update")
    rows = np.array([[s["novelty"], s["aesthetic_score"], s["volatility"], s["lambda_max"]] for s in batch] * 50)
    rates = []
    for _ in range(7):
        start = time.perf_counter()
        loop.update_many(rows)
        rates.append(len(rows) / (time.perf_counter() - start))
    print(f"update_many: median {statistics.median(rates) / 1e6:.1f} million states per second ({len(rows):,} per call)")


if __name__ == "__main__":
    main()

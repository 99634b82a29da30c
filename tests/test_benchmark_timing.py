"""The benchmarks' ratio interval and goal verdicts (`benchmarks/_timing.py`),
against the order-statistic interval for a median written out here, and by
its coverage on data with a known median."""

import math
import os
import sys

import numpy as np
import pytest
from scipy import stats

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks")
)
import _timing  # noqa: E402


def order_statistic_interval(values, confidence):
    """The textbook distribution-free interval for a median: `[x_(k), x_(n+1-k)]`
    with the largest `k` such that `P(Binomial(n, 1/2) < k) <= (1 - confidence) / 2`."""
    n = len(values)
    tail = (1 - confidence) / 2
    k = 0
    while stats.binom.cdf(k, n, 0.5) <= tail:  # P(X <= k) = P(X < k + 1)
        k += 1
    if k == 0:
        return math.nan, math.nan
    ordered = sorted(values)
    return ordered[k - 1], ordered[n - k]


@pytest.mark.parametrize("rounds", [6, 7, 9, 15, 21, 40])
def test_interval_is_the_order_statistic_interval(rounds):
    rng = np.random.default_rng(rounds)
    times = {
        "a": list(rng.lognormal(0, 0.1, rounds)),
        "b": list(rng.uniform(1, 2, rounds)),
    }
    ratios = [a / b for a, b in zip(times["a"], times["b"], strict=True)]
    median, low, high = _timing.ratio_interval(times, "a", "b")
    assert median == pytest.approx(np.median(ratios))
    assert (low, high) == pytest.approx(order_statistic_interval(ratios, 0.95))
    assert low <= median <= high


def test_too_few_rounds_give_no_bound_and_no_verdict():
    times = {"a": [1.0, 2.0, 3.0, 4.0, 5.0], "b": [1.0] * 5}
    median, low, high = _timing.ratio_interval(times, "a", "b")
    assert median == 3.0 and math.isnan(low) and math.isnan(high)
    assert _timing.verdict(low, high, goal=100.0) == "can't tell"


def test_interval_covers_the_true_median():
    # Ratios with a known median (exp(0.05)): a 95 % interval covers it in
    # at least 95 % of runs (order statistics are conservative: 96.5 % at 15).
    rng = np.random.default_rng(0)
    runs, rounds, true_median = 4000, 15, math.exp(0.05)
    covered = 0
    for _ in range(runs):
        times = {
            "rlr": list(rng.lognormal(0.05, 0.08, rounds)),
            "plain": [1.0] * rounds,
        }
        _, low, high = _timing.ratio_interval(times, "rlr", "plain")
        covered += low <= true_median <= high
    exact = 1 - 2 * stats.binom.cdf(3, rounds, 0.5)  # k = 4 at n = 15
    assert covered / runs == pytest.approx(
        exact, abs=4 * math.sqrt(exact * (1 - exact) / runs)
    )


@pytest.mark.parametrize(
    "low, high, expected",
    [
        (0.98, 1.03, "met"),
        (1.031, 1.2, "not met"),
        (1.0, 1.04, "can't tell"),
        (math.nan, 1.01, "can't tell"),
    ],
)
def test_verdict_needs_the_whole_interval(low, high, expected):
    assert _timing.verdict(low, high, goal=1.03) == expected


def test_interval_text_offsets_every_number():
    assert _timing.interval_text(1.25, 1.125, 1.5, offset=1) == "0.250 [0.125, 0.500]"


def test_alternate_times_every_variant_each_round_with_changing_neighbours():
    calls = []
    steps = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    times = _timing.alternate(steps, rounds=20, steps_per_round=2, warmup_steps=1)
    assert {name: len(t) for name, t in times.items()} == {"a": 20, "b": 20, "c": 20}
    timed = calls[3:]  # after one warmup step each
    rounds = [timed[i : i + 6] for i in range(0, len(timed), 6)]
    assert all(sorted(r) == sorted("aabbcc") for r in rounds)
    # A rotation would put the same variant before "a" in every round.
    before_a = {r[r.index("a") - 1] if r.index("a") else r[-1] for r in rounds}
    assert len(before_a) > 1

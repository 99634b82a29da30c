"""Timing shared by the benchmarks: variants alternate, round after round.

These machines are shared and noisy. Every round times each variant once, in a
shuffled order, so that a slow spell hits all of them and no variant always
runs after the same neighbour (a rotation keeps the neighbours, and what one
variant leaves behind, garbage or cold caches, lands on the same next one
every round). Ratios are taken within a round and summarized by their median
over rounds, with a confidence interval for that median; a goal is judged by
the interval: "met" where all of it lies at or under the goal, "not met"
where all of it lies above, "can't tell" otherwise.
"""

import contextlib
import math
import random
import statistics
import subprocess
import sys
import time

from scipy import stats


def alternate(steps, rounds, steps_per_round, warmup_steps=1, min_round_seconds=0.0):
    """Seconds per step of each variant, one list entry per round.

    Args:
        steps: variant name -> a function that runs one step.
        rounds: how many rounds.
        steps_per_round: timed steps of each variant in a round.
        warmup_steps: untimed steps of each variant first (tracing).
        min_round_seconds: more steps per round where `steps_per_round`
            steps of the slowest variant take less: a round of a
            millisecond step is otherwise shorter than the machine's
            hiccups (the count, the same for every variant, is set from
            one timed step of each after the warmup).

    Returns:
        name -> list of `rounds` per-step times.
    """
    names = list(steps)
    for name in names:
        for _ in range(warmup_steps):
            steps[name]()
    if min_round_seconds:
        slowest = max(_seconds(steps[name]) for name in names)
        steps_per_round = max(steps_per_round, math.ceil(min_round_seconds / slowest))
    times = {name: [] for name in names}
    order = random.Random(0)  # the same orders in every run
    for _ in range(rounds):
        for name in order.sample(names, len(names)):
            start = time.perf_counter()
            for _ in range(steps_per_round):
                steps[name]()
            times[name].append((time.perf_counter() - start) / steps_per_round)
    return times


def _seconds(step):
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def median_ratio(times, name, baseline):
    """The median over rounds of `times[name] / times[baseline]`."""
    return statistics.median(_ratios(times, name, baseline))


def ratio_interval(times, name, baseline, confidence=0.95):
    """`(median, low, high)` of the per-round ratios `times[name] / times[baseline]`.

    `low, high` is a distribution-free confidence interval for the median ratio:
    order statistics of the rounds' ratios (`scipy.stats.quantile_test`),
    which assumes only that rounds are independent. A bound the rounds are
    too few to give (fewer than 6 rounds at 95 %) is NaN, and a goal judged
    on it "can't tell". The interval is within one process: between processes
    the median moves more on this machine (see README, Benchmarks).
    """
    ratios = _ratios(times, name, baseline)
    interval = stats.quantile_test(ratios, p=0.5).confidence_interval(confidence)
    return statistics.median(ratios), interval.low, interval.high


def verdict(low, high, goal):
    """`"met"` if the interval lies at or under `goal`, `"not met"` if above it,
    else `"can't tell"` (it straddles the goal, or a bound is unknown)."""
    if math.isnan(low) or math.isnan(high):
        return "can't tell"
    if high <= goal:
        return "met"
    if low > goal:
        return "not met"
    return "can't tell"


def interval_text(median, low, high, offset=0.0):
    """`"1.042 [1.013, 1.071]"`, each number minus `offset`."""
    return f"{median - offset:.3f} [{low - offset:.3f}, {high - offset:.3f}]"


def _ratios(times, name, baseline):
    return [a / b for a, b in zip(times[name], times[baseline], strict=True)]


@contextlib.contextmanager
def busy(processes):
    """Runs `processes` busy loops (one core each) while the block runs: the
    "cores shared" condition, made the same in every run."""
    spinners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(processes)
    ]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()

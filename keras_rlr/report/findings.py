"""The paper's findings as checks on a sweep's results: each an `Outcome`
with its numbers and a verdict (yes, no, can't tell).
"""

import dataclasses

import numpy as np

from keras_rlr.report.results import TEST_RLA, TRAIN_RLA
from keras_rlr.train import leak_control

# Class training accuracy that counts as "reached 100 %" (finding 1).
FIT_THRESHOLD = 0.99
# A rise of random-label accuracy after that, in accuracy points, that counts.
MIN_RISE = 0.01
# "Well above chance": at least this many times 1/R.
ABOVE_CHANCE_FACTOR = 2.0


@dataclasses.dataclass
class Outcome:
    """A finding checked against the data: the numbers and the verdict."""

    claim: str
    evidence: str
    verdict: bool | None  # None: the data cannot decide (missing runs, noise)

    @property
    def answer(self):
        return {True: "yes", False: "no", None: "can't tell"}[self.verdict]

    def __str__(self):
        return f"{self.claim}: {self.evidence} ({self.answer})"


def _sort_key(value):
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def varying(entries):
    """The flags that take more than one value among a panel's points."""
    flags = []
    for values, _ in entries:
        for flag in values:
            distinct = {v[flag] for v, _ in entries if flag in v}
            if len(distinct) > 1 and flag not in flags:
                flags.append(flag)
    return flags


def _groups(results, flag):
    """Per panel where `flag` varies, per setting of its other varying flags:
    `(label, [(value, point), ...] sorted by value)`."""
    for panel, entries in results.panels.items():
        axes = varying(entries)
        if flag not in axes:
            continue
        others = [f for f in axes if f != flag]
        groups = {}
        for values, point in entries:
            key = tuple((f, values[f]) for f in others)
            groups.setdefault(key, []).append((values[flag], point))
        for key, members in groups.items():
            label = ", ".join(f"{f}={v}" for f, v in key)
            members.sort(key=lambda m: _sort_key(m[0]))
            yield (f"{panel}: {label}" if label and panel else label or panel), members


def _beyond_spread(gap, a, b):
    """True if `gap` > 0 and False if `gap` < 0, by more than the seeds' spread
    (the larger std of `a` and `b`); None where it is within the spread."""
    return None if abs(gap) <= max(a.std, b.std) else gap > 0


def lowers(flag, claim, metric=TRAIN_RLA, what="train random-label accuracy"):
    """Finding: `metric` is lower at the largest value of `flag` than at the
    smallest by more than the seeds' spread, in every panel and setting of the
    other flags (within the spread, the data cannot tell)."""

    def check(results):
        parts, verdicts = [], []
        for label, members in _groups(results, flag):
            (lo, lo_point), (hi, hi_point) = members[0], members[-1]
            a, b = results.stats(lo_point, metric), results.stats(hi_point, metric)
            where = f" [{label}]" if label else ""
            if a is None or b is None:
                parts.append(f"missing runs{where}")
                verdicts.append(None)
                continue
            verdict = _beyond_spread(a.mean - b.mean, a, b)
            spread = max(a.std, b.std)
            within = (
                f", within the seeds' spread ±{spread:.3f}" if verdict is None else ""
            )
            change = f"{a.mean:.3f} ({flag}={lo}) → {b.mean:.3f} ({flag}={hi})"
            parts.append(change + where + within)
            verdicts.append(verdict)
        return _combine(claim, f"{what} " + "; ".join(parts), verdicts, flag)

    return check


def not_improves(flag, claim, metric="val_accuracy", what="test class accuracy"):
    """Finding: no value of `flag` above the smallest improves `metric` by more
    than the seeds' spread (the larger std of the two)."""

    def check(results):
        parts, verdicts = [], []
        for label, members in _groups(results, flag):
            stats = [(v, results.stats(p, metric)) for v, p in members]
            where = f" [{label}]" if label else ""
            if any(s is None for _, s in stats):
                parts.append(f"missing runs{where}")
                verdicts.append(None)
                continue
            (lo, ref), others = stats[0], stats[1:]
            best_value, best = max(others, key=lambda vs: vs[1].mean)
            parts.append(
                f"{ref} ({flag}={lo}) vs best {best} ({flag}={best_value}){where}"
            )
            verdicts.append(best.mean - ref.mean <= max(ref.std, best.std))
        return _combine(claim, f"{what} " + "; ".join(parts), verdicts, flag)

    return check


def _combine(claim, evidence, verdicts, flag):
    if not verdicts:
        return Outcome(claim, f"no panel varies {flag}", None)
    decided = [v for v in verdicts if v is not None]
    if len(verdicts) > 1:
        evidence += f"; holds in {sum(decided)} of {len(verdicts)}"
        if len(decided) < len(verdicts):
            evidence += f", can't tell in {len(verdicts) - len(decided)}"
    if len(decided) < len(verdicts):
        return Outcome(claim, evidence, None if not decided or all(decided) else False)
    return Outcome(claim, evidence, all(decided))


def _baseline(results):
    """The point every study varies from: `base` if trained, else the first."""
    points = results.points()
    return "base" if "base" in points else points[0]


def above_chance(claim):
    """Finding: the baseline's train random-label accuracy is at least
    `ABOVE_CHANCE_FACTOR` times chance."""

    def check(results):
        point, chance = _baseline(results), results.chance
        stats = results.stats(point, TRAIN_RLA)
        if stats is None:
            return Outcome(claim, f"missing runs ({point})", None)
        return Outcome(
            claim,
            f"train random-label accuracy {stats} ({point}) = "
            f"{stats.mean / chance:.1f}x chance {chance:.3f} "
            f"(counts from {ABOVE_CHANCE_FACTOR:g}x)",
            stats.mean >= ABOVE_CHANCE_FACTOR * chance,
        )

    return check


def rises_after_fit(claim):
    """Finding: from the first epoch where the baseline's class training
    accuracy reaches `FIT_THRESHOLD` to the last, its train random-label
    accuracy rises by more than `MIN_RISE` (mean over seeds)."""

    def check(results):
        point = _baseline(results)
        rises, epochs = [], []
        for run in results.runs:
            history = run["history"]
            if run["point"] != point or not history:
                continue
            accuracy, rla = history["train_accuracy"], history[TRAIN_RLA]
            fit = next((i for i, a in enumerate(accuracy) if a >= FIT_THRESHOLD), None)
            if fit is None:
                return Outcome(
                    claim,
                    f"class train accuracy peaked at {max(accuracy):.3f} < "
                    f"{FIT_THRESHOLD} (seed {run['seed']})",
                    None,
                )
            rises.append(rla[-1] - rla[fit])
            epochs.append(fit + 1)
        if not rises:
            return Outcome(claim, f"missing runs ({point})", None)
        rise = float(np.mean(rises))
        return Outcome(
            claim,
            f"class train accuracy ≥ {FIT_THRESHOLD} from epoch "
            f"{min(epochs)}–{max(epochs)}; train random-label accuracy rose by "
            f"{rise:+.3f} after that ({point}, mean of {len(rises)} seeds)",
            rise > MIN_RISE,
        )

    return check


def largest_jump(flag, lo, hi, claim):
    """Finding: the largest increase of train random-label accuracy between
    consecutive values of `flag` lies between `lo` and `hi`."""

    def check(results):
        for _, members in _groups(results, flag):
            stats = [(v, results.stats(p, TRAIN_RLA)) for v, p in members]
            stats = [(v, s) for v, s in stats if s is not None]
            if len(stats) < 2:
                continue
            steps = [
                (b.mean - a.mean, va, vb)
                for (va, a), (vb, b) in zip(stats, stats[1:], strict=False)
            ]
            jump, start, end = max(steps)
            inside = float(lo) <= float(start) and float(end) <= float(hi)
            by_value = dict(stats)
            detail = ""
            if str(lo) in by_value and str(hi) in by_value:
                detail = (
                    f"; {flag} {lo} → {hi}: {by_value[str(lo)].mean:.3f} → "
                    f"{by_value[str(hi)].mean:.3f}"
                )
            return Outcome(
                claim,
                f"largest increase of train random-label accuracy between "
                f"consecutive {flag}: {start} → {end} ({jump:+.3f}){detail}",
                inside,
            )
        return Outcome(claim, f"no panel varies {flag}", None)

    return check


def widening_not_explains(depth_flag, width_flag, lo, hi, claim):
    """Finding: at depth `lo`, the widest copies stay below depth `hi`'s
    train random-label accuracy (at width multiplier 1) by more than the seeds'
    spread (the larger std of the two); within it, the data cannot tell."""

    def check(results):
        target = None
        for _, members in _groups(results, depth_flag):
            target = dict(members).get(str(hi))
        widest = None
        for entries in results.panels.values():
            if width_flag not in varying(entries):
                continue
            candidates = [
                (values[width_flag], point)
                for values, point in entries
                if values.get(depth_flag, results.manifest["base_values"][depth_flag])
                == str(lo)
            ]
            if candidates:
                widest = max(candidates, key=lambda c: _sort_key(c[0]))
        if target is None or widest is None:
            return Outcome(
                claim, f"needs {depth_flag}={hi} and a {width_flag} panel at {lo}", None
            )
        wide = results.stats(widest[1], TRAIN_RLA)
        deep = results.stats(target, TRAIN_RLA)
        if wide is None or deep is None:
            return Outcome(claim, "missing runs", None)
        gap = deep.mean - wide.mean
        verdict = _beyond_spread(gap, wide, deep)
        within = (
            f"; the gap {gap:+.3f} is within the seeds' spread"
            if verdict is None
            else ""
        )
        return Outcome(
            claim,
            f"train random-label accuracy {wide} ({depth_flag}={lo}, "
            f"{width_flag}={widest[0]}) vs {deep} ({depth_flag}={hi}){within}",
            verdict,
        )

    return check


def test_at_chance(claim):
    """Control: every run's test random-label accuracy is at chance by the
    leak control (`keras_rlr.train.leak_control`), with the band chosen so that
    the chance of a false alarm over all the sweep's runs together is 5 %."""

    def check(results):
        finished = [run for run in results.runs if run["summary"]]
        if not finished:
            return Outcome(claim, "no finished runs", None)
        checks = [
            (
                leak_control.check(
                    run["summary"][TEST_RLA],
                    run["summary"]["chance"],
                    run["summary"]["num_test_examples"],
                    num_decisions=len(finished),
                ),
                run,
            )
            for run in finished
        ]
        worst, run = max(checks, key=lambda c: c[0].distance)
        return Outcome(
            claim,
            f"{len(finished)} runs; farthest from chance {results.chance:.3f}: "
            f"{worst.accuracy:.3f} ({run['point']}/seed_{run['seed']}, band "
            f"±{worst.band:.3f} = {worst.z:.2f} std, 5 % false alarms over all "
            "runs)",
            worst.at_chance,
        )

    return check

"""The paper's claims as checks on a sweep's results, decided by statistics.

A check returns `Part`s (one per panel or setting it looks at), each with the
numbers it read and its `Test`s: a p-value and the verdict that a rejection
gives. `decide` adjusts every test of one report together (Holm, family-wise
5 %) and gives each claim its verdict:

- a part is "yes" where a test for the claim rejects, "no" where only a test
  against it rejects, else "can't tell";
- a claim is "yes" where every part is, "no" where some part is, else
  "can't tell".

Effects: the difference of means over seeds with its 95 % Welch interval; the
verdict is "yes" or "no" only where that interval excludes zero on that side
(and Holm still rejects). Claims of no effect: "yes" only where the 95 %
interval lies inside the margin written next to the claim (equivalence), "no"
where the effect is significant and not inside it. Trends over a grid:
Jonckheere–Terpstra over every seed of every point. "Monotonic": every step.

Over 400 lines: one check per kind of claim the paper makes (above chance,
rises after fit, lowers, trend, where, null with a margin, monotonic, compare,
leak control), each short, kept together with the verdict rules they share.
"""

import dataclasses
import math

import numpy as np

from keras_rlr.report import statistics
from keras_rlr.report.results import CLASS_ONLY, TEST_RLA, TRAIN_RLA
from keras_rlr.report.statistics import ALPHA
from keras_rlr.train import leak_control

TEST_ACC = "val_accuracy"
# Class training accuracy that counts as "reached 100 %" (Fig. 1B).
FIT_THRESHOLD = 0.99


@dataclasses.dataclass
class Test:
    """One hypothesis test: its p-value and the verdict its rejection gives."""

    p: float
    verdict: bool
    adjusted: float = math.nan


@dataclasses.dataclass
class Part:
    """What a check read in one panel or setting: text, tests, and (for the
    leak control, which holds its own family-wise band) a fixed verdict."""

    text: str
    tests: list = dataclasses.field(default_factory=list)
    fixed: bool | None = None
    decided: bool = False

    def verdict(self):
        if self.decided:
            return self.fixed
        rejected = [t.verdict for t in self.tests if t.adjusted <= ALPHA]
        if True in rejected:
            return True
        return False if rejected else None


@dataclasses.dataclass
class Outcome:
    """A claim checked against the data: the numbers and the verdict."""

    claim: str
    evidence: str
    verdict: bool | None  # None: the data cannot decide (missing runs, noise)

    @property
    def answer(self):
        return {True: "yes", False: "no", None: "can't tell"}[self.verdict]

    def __str__(self):
        return f"{self.claim}: {self.evidence} ({self.answer})"


def decide(claims_parts):
    """`[(claim text, [Part])]` -> `([Outcome], number of tests)`, with Holm
    over every test of them all."""
    tests = [t for _, parts in claims_parts for part in parts for t in part.tests]
    for test, adjusted in zip(
        tests, statistics.holm([t.p for t in tests]), strict=True
    ):
        test.adjusted = adjusted
    outcomes = []
    for claim, parts in claims_parts:
        verdicts = [part.verdict() for part in parts]
        text = "; ".join(part.text for part in parts) or "no data for this claim"
        if len(parts) > 1:
            counts = [sum(v is x for v in verdicts) for x in (True, False, None)]
            text += (
                f"; yes in {counts[0]}, no in {counts[1]}, can't tell in "
                f"{counts[2]} of {len(parts)}"
            )
        if not parts or None in verdicts and False not in verdicts:
            verdict = None
        else:
            verdict = all(verdicts)
        outcomes.append(Outcome(claim, text, verdict))
    return outcomes, sum(not math.isnan(t.p) for t in tests)


# -- Reading the sweep ------------------------------------------------------------


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


def _full(results, values):
    return {**results.manifest["base_values"], **values}


def seeds(results, point, metric):
    """`metric` of every finished seed of `point`, as an array."""
    return np.array(
        [
            run["summary"][metric]
            for run in results.runs
            if run["point"] == point and run["summary"] and metric in run["summary"]
        ],
        dtype=float,
    )


def _groups(results, flag, where=None):
    """Per panel where `flag` varies, per setting of its other varying flags
    that passes `where(full values)`: `(label, [(value, point), ...])` sorted
    by value."""
    for panel, entries in results.panels.items():
        axes = varying(entries)
        if flag not in axes:
            continue
        others = [f for f in axes if f != flag]
        groups = {}
        for values, point in entries:
            if where and not where(_full(results, values), results):
                continue
            key = tuple((f, values[f]) for f in others)
            groups.setdefault(key, []).append((values[flag], point))
        for key, members in groups.items():
            label = ", ".join(f"{f}={v}" for f, v in key)
            members.sort(key=lambda m: _sort_key(m[0]))
            yield (f"{panel}: {label}" if label and panel else label or panel), members


def _mean(values):
    return f"{values.mean():.3f}" if len(values) else "—"


def _signed(diff, sign):
    """The two-sided test of `diff`: its rejection says "yes" where the
    estimate has the claimed `sign`, "no" where it has the other."""
    return Test(diff.p, diff.estimate * sign > 0)


def _where(label):
    return f" [{label}]" if label else ""


# -- Checks: each a function of the results -> [Part] ----------------------------


def trend(flag, sign, metric=TRAIN_RLA, where=None):
    """`metric` rises (`sign` +1) or falls (-1) over `flag`'s grid, in every
    group: Jonckheere–Terpstra over all points and seeds; the ends' difference
    of means is shown with its interval."""

    def check(results):
        parts = []
        for label, members in _groups(results, flag, where):
            data = [(v, seeds(results, p, metric)) for v, p in members]
            positions = np.concatenate(
                [np.full(len(x), i) for i, (_, x) in enumerate(data)]
            )
            values = np.concatenate([x for _, x in data])
            result = statistics.trend(positions, values)
            (lo, a), (hi, b) = data[0], data[-1]
            ends = statistics.difference(a, b)
            text = (
                f"{_mean(a)} ({flag}={lo}) → {_mean(b)} ({flag}={hi}), "
                f"difference {ends}{_where(label)}, {result}"
            )
            test = Test(result.p, (result.tau or 0) * sign > 0)
            parts.append(Part(text, [test] if not math.isnan(result.p) else []))
        return parts

    return check


def monotone(flag, sign, metric=TEST_ACC, where=None):
    """Every step of `flag`'s grid moves `metric` by `sign`: each step's 95 %
    interval must exclude zero on that side (intersection–union); "no" where a
    step goes significantly the other way (Bonferroni over the steps)."""

    def check(results):
        parts = []
        for label, members in _groups(results, flag, where):
            if len(members) < 2:
                continue
            data = [seeds(results, p, metric) for _, p in members]
            steps = statistics.monotonic(data, sign)
            shown = ", ".join(
                f"{v}→{w}: {s}"
                for (v, _), (w, _), s in zip(
                    members, members[1:], steps.steps, strict=False
                )
            )
            text = f"steps of {flag}{_where(label)}: {shown}"
            parts.append(
                Part(text, [Test(steps.p_every, True), Test(steps.p_against, False)])
            )
        return parts

    return check


def no_improvement(flag, margin, metric=TEST_ACC, where=None, points=None):
    """No value of `flag` above the smallest improves `metric` by `margin` or
    more: "yes" where the 95 % interval of each difference lies below +margin;
    "no" where one is significantly above zero and not below the margin.
    `points(results, members)` may pick which members to compare."""

    def check(results):
        parts = []
        for label, members in _groups(results, flag, where):
            ref_value, ref = members[0]
            a = seeds(results, ref, metric)
            for value, point in members[1:]:
                diff = statistics.difference(a, seeds(results, point, metric))
                parts.append(
                    Part(
                        f"{flag}={value} − {flag}={ref_value}{_where(label)}: {diff}",
                        [
                            Test(diff.p_not_above(margin), True),
                            Test(_cap(2 * diff.p_above()), False),
                        ],
                    )
                )
        return parts

    return check


def _cap(p):
    return p if math.isnan(p) else min(1.0, p)


def pairs(flag, a, b, where=None):
    """Points that differ only in `flag` (`a` vs `b`), keyed by the other grid
    flags: `[(label, point_a, point_b)]`."""

    def find(results):
        grid = {f for entries in results.panels.values() for v, _ in entries for f in v}
        others = sorted(grid - {flag})
        found = {}
        for entries in results.panels.values():
            for values, point in entries:
                full = _full(results, values)
                if where and not where(full, results):
                    continue
                key = tuple((f, full[f]) for f in others)
                found.setdefault(key, {})[full[flag]] = point
        out = []
        for key, by in found.items():
            if a in by and b in by:
                label = ", ".join(
                    f"{f}={v}" for f, v in key if f in _varying_all(results)
                )
                out.append((label, by[a], by[b]))
        return out

    return find


def _varying_all(results):
    """The flags that take more than one value over the whole sweep."""
    seen = {}
    for entries in results.panels.values():
        for values, _ in entries:
            for flag, value in _full(results, values).items():
                seen.setdefault(flag, set()).add(str(value))
    return {flag for flag, values in seen.items() if len(values) > 1}


def effect(find, sign, metric, flag_text):
    """`metric` at the second point of each pair from `find` is higher
    (`sign` +1) or lower (-1) than at the first: Welch, two-sided 95 %."""

    def check(results):
        parts = []
        for label, pa, pb in find(results):
            diff = statistics.difference(
                seeds(results, pa, metric), seeds(results, pb, metric)
            )
            parts.append(
                Part(f"{flag_text}{_where(label)}: {diff}", [_signed(diff, sign)])
            )
        return parts

    return check


def no_effect(find, margin, metric, flag_text, one_sided=False):
    """`metric` at the second point of each pair is within `±margin` of the
    first (equivalence), or with `one_sided` not above `+margin`."""

    def check(results):
        parts = []
        for label, pa, pb in find(results):
            diff = statistics.difference(
                seeds(results, pa, metric), seeds(results, pb, metric)
            )
            if one_sided:
                tests = [Test(diff.p_not_above(margin), True)]
                tests.append(Test(_cap(2 * diff.p_above()), False))
            else:
                tests = [Test(diff.p_equivalent(margin), True), Test(diff.p, False)]
            parts.append(Part(f"{flag_text}{_where(label)}: {diff}", tests))
        return parts

    return check


def above_chance():
    """The baseline's train random-label accuracy is above chance (one-sample t)."""

    def check(results):
        point = _baseline(results)
        values = seeds(results, point, TRAIN_RLA)
        if not len(values):
            return [Part(f"missing runs ({point})")]
        chance = results.chance
        diff = statistics.one_sample(values, chance)
        text = (
            f"train random-label accuracy {results.stats(point, TRAIN_RLA)} "
            f"({point}) = {values.mean() / chance:.1f}x chance {chance:.3f}; "
            f"minus chance {diff}"
        )
        return [Part(text, [_signed(diff, +1)])]

    return check


def above_class_only():
    """The baseline's train random-label accuracy is above what its heads
    reach from the class alone (`CLASS_ONLY`, each seed's own level): the part
    that only memorizing single examples explains. One-sample t over the
    seeds' differences."""

    def check(results):
        point = _baseline(results)
        runs = [
            run["summary"]
            for run in results.runs
            if run["point"] == point and run["summary"]
        ]
        pairs = [(s[TRAIN_RLA], s[CLASS_ONLY]) for s in runs if CLASS_ONLY in s]
        if not pairs:
            return [Part(f"no class-only level recorded ({point})")]
        rla, level = np.array(pairs, dtype=float).T
        diff = statistics.one_sample(rla - level, 0.0)
        text = (
            f"train random-label accuracy {rla.mean():.3f}, class-only level "
            f"{level.mean():.3f} ({point}, {len(pairs)} seeds); difference {diff}"
        )
        return [Part(text, [_signed(diff, +1)])]

    return check


def _baseline(results):
    """The point every study varies from: `base` if trained, else the first."""
    points = results.points()
    return "base" if "base" in points else points[0]


def rises_after_fit():
    """From the first epoch where the baseline's class training accuracy
    reaches `FIT_THRESHOLD` to the last, its train random-label accuracy rises:
    one-sample t over the seeds' rises."""

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
                text = (
                    f"class train accuracy peaked at {max(accuracy):.3f} < "
                    f"{FIT_THRESHOLD} (seed {run['seed']})"
                )
                return [Part(text)]
            rises.append(rla[-1] - rla[fit])
            epochs.append(fit + 1)
        if not rises:
            return [Part(f"missing runs ({point})")]
        diff = statistics.one_sample(rises, 0.0)
        text = (
            f"class train accuracy ≥ {FIT_THRESHOLD} from epoch "
            f"{min(epochs)}–{max(epochs)}; train random-label accuracy rose by "
            f"{diff} after that ({point}, {len(rises)} seeds)"
        )
        return [Part(text, [_signed(diff, +1)])]

    return check


def steeper_between(flag, steep, flat, metric=TRAIN_RLA):
    """The rise of `metric` from `steep[0]` to `steep[1]` exceeds the rise
    from `flat[0]` to `flat[1]`: the contrast (m_b − m_a) − (m_d − m_c), Welch–
    Satterthwaite."""

    def check(results):
        parts = []
        for label, members in _groups(results, flag):
            by_value = dict(members)
            needed = [str(v) for v in (*steep, *flat)]
            if any(v not in by_value for v in needed):
                continue
            data = [seeds(results, by_value[v], metric) for v in needed]
            diff = statistics.contrast(data, [-1, 1, 1, -1])
            rise = statistics.difference(data[0], data[1])
            rise_flat = statistics.difference(data[2], data[3])
            text = (
                f"{flag} {steep[0]}→{steep[1]}: {rise}; {flat[0]}→{flat[1]}: "
                f"{rise_flat}; difference of the rises {diff}{_where(label)}"
            )
            parts.append(Part(text, [_signed(diff, +1)]))
        return parts

    return check


def best_value(results, flag, metric, where):
    """The value of `flag` with the highest mean `metric` among the points that
    pass `where` (or None)."""
    best = None
    for _, members in _groups(results, flag, where):
        for value, point in members:
            values = seeds(results, point, metric)
            if len(values) and (best is None or values.mean() > best[0]):
                best = (values.mean(), value)
    return best and best[1]


def test_at_chance():
    """Control: every run's test random-label accuracy is at chance by the
    leak control (`keras_rlr.train.leak_control`), with the band chosen so that
    the chance of a false alarm over all the sweep's runs together is 5 %
    (its own family: not part of the report's Holm adjustment)."""

    def check(results):
        finished = [run for run in results.runs if run["summary"]]
        if not finished:
            return [Part("no finished runs", fixed=None, decided=True)]
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
        text = (
            f"{len(finished)} runs; farthest from chance {results.chance:.3f}: "
            f"{worst.accuracy:.3f} ({run['point']}/seed_{run['seed']}, band "
            f"±{worst.band:.3f} = {worst.z:.2f} std, 5 % false alarms over all "
            "runs)"
        )
        return [Part(text, fixed=worst.at_chance, decided=True)]

    return check

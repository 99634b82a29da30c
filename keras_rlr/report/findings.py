"""The paper's claims as checks on a sweep's results, decided by statistics.

A check returns `Part`s (one per panel or setting it looks at), each with the
numbers it read and its `Test`s: a p-value and the verdict that a rejection
gives; or `NotTested`, where the data do not reach the claim's regime (the
precondition, and why it failed). `decide` adjusts every test of one report
together (Holm, family-wise 5 %), prints each part's Holm-adjusted p-values
beside its intervals, and gives each claim its verdict:

- a part is "yes" where a test for the claim rejects, "no" where only a test
  against it rejects, else "can't tell" (a part may carry its own rule);
- a claim is "yes" where every part is, "no" where some part is, else
  "can't tell"; "not tested" where its precondition fails.

Designs: a seed fixes the random labels and the initialisation at every grid
point, so the runs of one seed are a block. Differences are paired by seed
(the one-sample t of each seed's own difference, over the seeds both points
finished); Welch's t only where fewer than 2 seeds are shared. Trends over a
grid: Page's test with the seeds as blocks (Jonckheere–Terpstra over every
run where fewer than 2 seeds finished every point). Claims of no effect:
"yes" only where the 95 % interval lies inside the margin, "no" where the
effect is significant and not inside it; each states its power at the margin
(from this sweep's own spread), and a "can't tell" whose power is below 0.8
says that the design could not confirm the null.

Best values (a learning rate, ε, λ) are picked on the selection seeds and the
claim is tested on the others (`SweepResults.selection_seeds`); where the
sweep has too few seeds to split, on the same runs, and the verdict says so.

Over 700 lines: one check per kind of claim the paper makes (above chance,
rises after fit, lowers, trend, where, null with a margin, monotonic, compare,
leak control), each short, kept together with the verdict rules and the
paired comparison they share.
"""

import dataclasses
import math

import numpy as np

from keras_rlr.report import statistics
from keras_rlr.report.results import (
    CLASS_ONLY,
    FIT_EPOCH,
    FIT_THRESHOLD,
    RISE_AFTER_FIT,
    TEST_RLA,
    TRAIN_RLA,
)
from keras_rlr.report.statistics import ALPHA
from keras_rlr.train import leak_control

TEST_ACC = "val_accuracy"
POWER_TARGET = 0.8
BIASED = "biased: selected on the same runs"


@dataclasses.dataclass
class Test:
    """One hypothesis test: its p-value and the verdict its rejection gives."""

    p: float
    verdict: bool
    adjusted: float = math.nan


@dataclasses.dataclass
class NotTested:
    """The data do not reach the claim's regime: its precondition, and why."""

    precondition: str
    why: str


@dataclasses.dataclass
class Part:
    """What a check read in one panel or setting: text, tests, and (for the
    leak control, which holds its own family-wise band) a fixed verdict.

    `rule(tests)` may replace the default verdict rule; `power` is the chance
    this part's design confirms its null at the margin (null claims only);
    `biased` marks a part whose best value was picked on the runs it tests."""

    text: str
    tests: list = dataclasses.field(default_factory=list)
    fixed: bool | None = None
    decided: bool = False
    rule: object = None
    power: float = math.nan
    power_text: str = ""
    biased: bool = False

    def verdict(self):
        if self.decided:
            return self.fixed
        if self.rule:
            return self.rule(self.tests)
        rejected = [t.verdict for t in self.tests if t.adjusted <= ALPHA]
        if True in rejected:
            return True
        return False if rejected else None

    def adjusted_text(self):
        """The part's text with the Holm-adjusted p of each of its tests."""
        shown = [t for t in self.tests if not math.isnan(t.p)]
        if not shown:
            return self.text
        words = []
        for verdict, name in ((True, "for"), (False, "against")):
            ps = [t.adjusted for t in shown if t.verdict is verdict]
            if len(ps) > 2:  # e.g. every other step of a where-claim
                words.append(f"{name} {min(ps):.2g} (smallest of {len(ps)})")
            else:
                words += [f"{name} {p:.2g}" for p in ps]
        return f"{self.text} {{Holm p: {', '.join(words)}}}"


def against_first(tests):
    """A rule: "no" where a test against the claim rejects, else "yes" where
    one for it does, else "can't tell"."""
    rejected = [t.verdict for t in tests if t.adjusted <= ALPHA]
    if False in rejected:
        return False
    return True if True in rejected else None


@dataclasses.dataclass
class Outcome:
    """A claim checked against the data: the numbers and the verdict."""

    claim: str
    evidence: str
    verdict: bool | None  # None: the data cannot decide (missing runs, noise)
    tested: bool = True  # False: the data do not reach the claim's regime
    note: str = ""  # e.g. BIASED, or the design's power behind a "can't tell"

    @property
    def answer(self):
        if not self.tested:
            return "not tested"
        word = {True: "yes", False: "no", None: "can't tell"}[self.verdict]
        return f"{word} ({self.note})" if self.note else word

    def __str__(self):
        return f"{self.claim}: {self.evidence} ({self.answer})"


def decide(claims_parts):
    """`[(claim text, [Part] or NotTested)]` -> `([Outcome], number of tests)`,
    with Holm over every test of them all."""
    tests = [
        t
        for _, parts in claims_parts
        if not isinstance(parts, NotTested)
        for part in parts
        for t in part.tests
    ]
    for test, adjusted in zip(
        tests, statistics.holm([t.p for t in tests]), strict=True
    ):
        test.adjusted = adjusted
    outcomes = []
    for claim, parts in claims_parts:
        if not parts:
            parts = NotTested(
                "points that vary what the claim compares",
                "this sweep's grid has none",
            )
        if isinstance(parts, NotTested):
            text = f"precondition: {parts.precondition}; not met: {parts.why}"
            outcomes.append(Outcome(claim, text, None, tested=False))
            continue
        verdicts = [part.verdict() for part in parts]
        text = "; ".join(part.adjusted_text() for part in parts)
        text = text or "no data for this claim"
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
        notes = []
        powered = [p for p in parts if not math.isnan(p.power)]
        powers = [p.power for p in powered]
        if powered:
            weakest = min(powered, key=lambda p: p.power)
            many = (
                f"the lowest of {len(powered)} comparisons: "
                if len(powered) > 1
                else ""
            )
            text += f"; {many}{weakest.power_text}"
            if verdict is None and min(powers) < POWER_TARGET:
                notes.append(
                    f"this design cannot confirm the null: power {min(powers):.2f}"
                )
        if any(p.biased for p in parts):
            notes.append(BIASED)
        outcomes.append(Outcome(claim, text, verdict, note="; ".join(notes)))
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


def by_seed(results, point, metric, only=None):
    """`{seed: metric}` over the complete runs of `point` (seeds in `only`,
    if given) whose `metric` is a number."""
    return {
        run["seed"]: float(run["summary"][metric])
        for run in results.runs
        if run["point"] == point
        and run["summary"]
        and isinstance(run["summary"].get(metric), (int, float))
        and not math.isnan(float(run["summary"][metric]))
        and (only is None or run["seed"] in only)
    }


def seeds(results, point, metric, only=None):
    """`metric` of every complete seed of `point`, as an array (seed order)."""
    values = by_seed(results, point, metric, only)
    return np.array([values[s] for s in sorted(values)], dtype=float)


@dataclasses.dataclass
class Compared:
    """A difference of `metric` between two points: paired by seed where at
    least 2 seeds finished both, else Welch; `sd` the spread of the paired
    differences (of each arm for Welch), `n` the seeds behind it."""

    diff: statistics.Difference
    paired: bool
    n: int
    sd: float
    a: np.ndarray
    b: np.ndarray

    def __str__(self):
        return str(self.diff) + ("" if self.paired else " (Welch)")

    def power(self, margin, two_sided):
        """`statistics.null_power` of this design at `margin`."""
        groups = 1 if self.paired else 2
        return statistics.null_power(self.sd, self.n, margin, two_sided, groups)

    def power_text(self, margin, two_sided, where=""):
        power = self.power(margin, two_sided)
        if math.isnan(power):
            return ""
        groups = 1 if self.paired else 2
        needed = statistics.seeds_for_power(self.sd, margin, 0.8, two_sided, groups)
        design = "paired" if self.paired else "unpaired"
        return (
            f"power {power:.2f}{where} at margin {margin:g} with {self.n} seeds "
            f"({design}, spread {self.sd:.4f} from this sweep; ≥ 0.8 needs "
            f"{needed if needed else 'more than 1000'} seeds; before Holm)"
        )


def compare(results, point_a, point_b, metric, only=None):
    """`metric` at `point_b` minus at `point_a` (see `Compared`)."""
    a = by_seed(results, point_a, metric, only)
    b = by_seed(results, point_b, metric, only)
    common = sorted(set(a) & set(b))
    if len(common) >= 2:
        xa = np.array([a[s] for s in common])
        xb = np.array([b[s] for s in common])
        diff = statistics.paired(xa, xb)
        sd = float(np.std(xb - xa, ddof=1))
        return Compared(diff, True, len(common), sd, xa, xb)
    xa = np.array([a[s] for s in sorted(a)])
    xb = np.array([b[s] for s in sorted(b)])
    diff = statistics.difference(xa, xb)
    spreads = [np.std(x, ddof=1) for x in (xa, xb) if len(x) > 1]
    sd = float(np.sqrt(np.mean(np.square(spreads)))) if spreads else math.nan
    return Compared(diff, False, min(len(xa), len(xb)), sd, xa, xb)


def matrix(results, points, metric, only=None):
    """`(seeds, array)`: rows the seeds that finished every point, columns
    the points in order."""
    columns = [by_seed(results, p, metric, only) for p in points]
    common = sorted(set.intersection(*(set(c) for c in columns))) if columns else []
    return common, np.array([[c[s] for c in columns] for s in common], dtype=float)


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


def _cap(p):
    return p if math.isnan(p) else min(1.0, p)


# -- Checks: each a function of the results -> [Part] or NotTested ----------------


def trend(flag, sign, metric=TRAIN_RLA, where=None, only=None):
    """`metric` rises (`sign` +1) or falls (-1) over `flag`'s grid, in every
    group: Page's test with the seeds as blocks (two points: the paired
    difference; fewer than 2 complete seeds: Jonckheere–Terpstra over every
    run). The ends' paired difference is shown with its interval."""

    def check(results):
        parts = []
        for label, members in _groups(results, flag, where):
            points = [p for _, p in members]
            keep_all = only(results) if only else None
            common, table = matrix(results, points, metric, keep_all)
            (lo, first), (hi, last) = members[0], members[-1]
            keep = set(common) if len(common) >= 2 else keep_all
            ends = compare(results, first, last, metric, keep)
            head = (
                f"{_mean(ends.a)} ({flag}={lo}) → {_mean(ends.b)} ({flag}={hi}), "
                f"difference {ends}{_where(label)}"
            )
            if len(common) >= 2 and len(points) >= 3:
                result = statistics.page(table)
                tests = [Test(result.p(sign), True), Test(result.p(-sign), False)]
                text = f"{head}, {result}"
            elif len(common) >= 2:
                tests = [_signed(ends.diff, sign)]
                text = head
            else:
                data = [seeds(results, p, metric) for p in points]
                positions = np.concatenate(
                    [np.full(len(x), i) for i, x in enumerate(data)]
                )
                result = statistics.trend(positions, np.concatenate(data))
                tests = [Test(result.p, (result.tau or 0) * sign > 0)]
                text = f"{head}, unpaired {result}"
            parts.append(Part(text, [t for t in tests if not math.isnan(t.p)]))
        return parts

    return check


def monotone(flag, sign, metric=TEST_ACC, where=None, only=None):
    """Every step of `flag`'s grid moves `metric` by `sign`: each step's paired
    95 % interval must exclude zero on that side (intersection–union); "no"
    where a step goes significantly the other way (Bonferroni over the
    steps)."""

    def check(results):
        parts = []
        keep = only(results) if only else None
        for label, members in _groups(results, flag, where):
            if len(members) < 2:
                continue
            steps = [
                compare(results, p, q, metric, keep)
                for (_, p), (_, q) in zip(members, members[1:], strict=False)
            ]
            toward = [s.diff.p_above() if sign > 0 else s.diff.p_below() for s in steps]
            away = [s.diff.p_below() if sign > 0 else s.diff.p_above() for s in steps]
            shown = ", ".join(
                f"{v}→{w}: {s}"
                for (v, _), (w, _), s in zip(members, members[1:], steps, strict=False)
            )
            text = f"steps of {flag}{_where(label)}: {shown}"
            if any(math.isnan(p) for p in toward):
                parts.append(Part(text))
                continue
            p_every = max(_cap(2 * p) for p in toward)
            p_against = _cap(len(steps) * min(_cap(2 * p) for p in away))
            parts.append(Part(text, [Test(p_every, True), Test(p_against, False)]))
        return parts

    return check


def non_superior(comp, margin, text):
    """A part for "no gain of `margin` or more": "yes" where the interval of
    `comp` lies below +margin; "no" where it is significantly above zero and
    not below the margin; with its power."""
    return Part(
        text,
        [
            Test(comp.diff.p_not_above(margin), True),
            Test(_cap(2 * comp.diff.p_above()), False),
        ],
        power=comp.power(margin, two_sided=False),
        power_text=comp.power_text(margin, False),
    )


def no_improvement(flag, margin, metric=TEST_ACC, where=None, only=None):
    """No value of `flag` above the smallest improves `metric` by `margin` or
    more (non-superiority, paired by seed)."""

    def check(results):
        parts = []
        keep = only(results) if only else None
        for label, members in _groups(results, flag, where):
            ref_value, ref = members[0]
            for value, point in members[1:]:
                comp = compare(results, ref, point, metric, keep)
                text = f"{flag}={value} − {flag}={ref_value}{_where(label)}: {comp}"
                parts.append(non_superior(comp, margin, text))
        return parts

    return check


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
    (`sign` +1) or lower (-1) than at the first: paired, two-sided 95 %."""

    def check(results):
        parts = []
        for label, pa, pb in find(results):
            comp = compare(results, pa, pb, metric)
            parts.append(
                Part(f"{flag_text}{_where(label)}: {comp}", [_signed(comp.diff, sign)])
            )
        return parts

    return check


def no_effect(find, margin, metric, flag_text, one_sided=False):
    """`metric` at the second point of each pair is within `±margin` of the
    first (equivalence), or with `one_sided` not above `+margin`; paired."""

    def check(results):
        parts = []
        for label, pa, pb in find(results):
            comp = compare(results, pa, pb, metric)
            text = f"{flag_text}{_where(label)}: {comp}"
            if one_sided:
                parts.append(non_superior(comp, margin, text))
                continue
            tests = [
                Test(comp.diff.p_equivalent(margin), True),
                Test(comp.diff.p, False),
            ]
            parts.append(
                Part(
                    text,
                    tests,
                    power=comp.power(margin, two_sided=True),
                    power_text=comp.power_text(margin, True),
                )
            )
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


def group_sizes(rla, level, labels):
    """What a train random-label accuracy above the class-only level means:
    the effective group size `statistics.group_size` of the seeds' mean
    accuracy, with the group sizes at the ends of its 95 % interval, and the
    group size of the class-only level itself: text."""
    diff = statistics.one_sample(rla, 0.0)
    low, high = diff.interval()
    g = statistics.group_size(diff.estimate, labels)
    # A higher accuracy is a smaller group: the interval's ends swap.
    ends = [statistics.group_size(min(x, 1.0), labels) for x in (high, low)]
    g_class = statistics.group_size(float(np.mean(level)), labels)
    interval = (
        f" [{ends[0]:.1f}, {ends[1]:.1f}]"
        if not math.isnan(low)
        else " [interval needs ≥ 2 seeds]"
    )
    return (
        f"effective group size {g:.1f}{interval} examples (the majority vote "
        f"of i.i.d. random labels over {labels} values in groups of that many "
        f"training examples the head could not tell apart gives this accuracy; "
        f"1 = every example recognized, {g_class:.1f} = the class-only level)"
    )


def above_class_only(points=None, label=""):
    """Train random-label accuracy is above what its heads reach from the
    class alone (`CLASS_ONLY`, each seed's own level): information finer than
    the class. One-sample t over the seeds' differences, with the effective
    group size that the accuracy corresponds to. `points(results)` picks the
    points (default: the baseline)."""

    def check(results):
        parts = []
        for point in points(results) if points else [_baseline(results)]:
            rla = by_seed(results, point, TRAIN_RLA)
            level = by_seed(results, point, CLASS_ONLY)
            common = sorted(set(rla) & set(level))
            if not common:
                parts.append(Part(f"no class-only level recorded ({point})"))
                continue
            x = np.array([rla[s] for s in common])
            y = np.array([level[s] for s in common])
            diff = statistics.one_sample(x - y, 0.0)
            labels = int(round(1 / results.chance))
            text = (
                f"{label}train random-label accuracy {x.mean():.3f}, class-only "
                f"level {y.mean():.3f} ({point}, {len(common)} seeds); difference "
                f"{diff}; {group_sizes(x, y, labels)}"
            )
            parts.append(Part(text, [_signed(diff, +1)]))
        return parts

    return check


def _baseline(results):
    """The point every study varies from: `base` if trained, else the first."""
    points = results.points()
    return "base" if "base" in points else points[0]


def rises_after_fit():
    """From the first epoch where the baseline's class training accuracy
    reaches `FIT_THRESHOLD` to the last, its train random-label accuracy rises:
    one-sample t over the seeds' rises (read from each run's history)."""

    def check(results):
        point = _baseline(results)
        fits = by_seed(results, point, FIT_EPOCH)
        if not by_seed(results, point, TRAIN_RLA):
            return [Part(f"missing runs ({point})")]
        if len(fits) < len(by_seed(results, point, TRAIN_RLA)):
            return NotTested(
                f"class training accuracy reaches {FIT_THRESHOLD} in every run "
                f"({point})",
                f"it does in {len(fits)} of "
                f"{len(by_seed(results, point, TRAIN_RLA))} seeds",
            )
        rises = by_seed(results, point, RISE_AFTER_FIT)
        diff = statistics.one_sample(list(rises.values()), 0.0)
        text = (
            f"class train accuracy ≥ {FIT_THRESHOLD} from epoch "
            f"{min(fits.values()):.0f}–{max(fits.values()):.0f}; train random-label "
            f"accuracy rose by {diff} after that ({point}, {len(rises)} seeds)"
        )
        return [Part(text, [_signed(diff, +1)])]

    return check


def steepest_where(flag, steep, flat, metric=TRAIN_RLA):
    """Where the steepest rise of `metric` lies over `flag`'s whole grid: each
    step's rise per unit of `flag` (paired by seed), the largest with its
    interval. The claim "the steep rise lies in `steep`, not in `flat`" is
    "yes" where `steep`'s rise per step exceeds `flat`'s (paired contrast) and
    no step outside `steep` rises significantly faster per step; "no" where
    one does or `flat`'s rises faster. A straight line does not pass: equal
    rises per step differ by nothing."""

    def check(results):
        parts = []
        for label, members in _groups(results, flag):
            values = [float(v) for v, _ in members]
            if any(float(v) not in values for v in (*steep, *flat)):
                continue
            common, table = matrix(results, [p for _, p in members], metric)
            if len(common) < 2:
                parts.append(Part(f"fewer than 2 seeds finished every {flag}"))
                continue

            def per_step(a, b, values=values):
                """Weights of the rise per unit of `flag` from a to b."""
                w = np.zeros(len(values))
                w[values.index(float(b))] += 1 / (float(b) - float(a))
                w[values.index(float(a))] -= 1 / (float(b) - float(a))
                return w

            steps = list(zip(values, values[1:], strict=False))
            rises = {
                s: statistics.paired_contrast(table.T, per_step(*s)) for s in steps
            }
            top = max(steps, key=lambda s: rises[s].estimate)
            w_steep, w_flat = per_step(*steep), per_step(*flat)
            diff = statistics.paired_contrast(table.T, w_steep - w_flat)
            tests = [Test(diff.p_above() * 2, True), Test(diff.p_below() * 2, False)]
            outside = [s for s in steps if s[1] <= steep[0] or s[0] >= steep[1]]
            faster = []
            for s in outside:
                c = statistics.paired_contrast(table.T, per_step(*s) - w_steep)
                faster.append((s, c))
                tests.append(Test(_cap(2 * c.p_above()), False))
            shown = ", ".join(f"{a:g}→{b:g}: {rises[(a, b)]}" for a, b in steps)
            rise_steep = statistics.paired_contrast(table.T, w_steep)
            rise_flat = statistics.paired_contrast(table.T, w_flat)
            text = (
                f"rise per step of {flag}{_where(label)} ({len(common)} seeds, "
                f"paired): {shown}; largest {top[0]:g}→{top[1]:g}: {rises[top]}; "
                f"{flag} {steep[0]}→{steep[1]}: {rise_steep} per step, "
                f"{flat[0]}→{flat[1]}: {rise_flat} per step, difference {diff}"
            )
            if faster:
                text += "; each step outside minus it: " + ", ".join(
                    f"{a:g}→{b:g}: {c}" for (a, b), c in faster
                )
            parts.append(
                Part(
                    text, [t for t in tests if not math.isnan(t.p)], rule=against_first
                )
            )
        return parts

    return check


def best_value(results, flag, metric, where, only=None):
    """The value of `flag` with the highest mean `metric` among the points that
    pass `where` (or None), over the seeds in `only`."""
    best = None
    for _, members in _groups(results, flag, where):
        for value, point in members:
            values = seeds(results, point, metric, only)
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
            return [Part("no complete runs", fixed=None, decided=True)]
        checks = [
            (
                leak_control.check(
                    run["summary"][TEST_RLA],
                    run["summary"]["chance"],
                    int(run["summary"]["num_test_examples"]),
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

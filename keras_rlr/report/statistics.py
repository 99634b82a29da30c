"""The statistics behind the report's verdicts (NumPy and SciPy only).

- `difference(a, b)`: the difference of means `mean(b) - mean(a)` over seeds,
  with Welch's t (unequal variances, Welch–Satterthwaite degrees of freedom):
  its 95 % confidence interval and p-values. `one_sample` and `contrast` are the
  same interval for one group against a constant and for a linear combination
  of group means.
- `Difference.p_equivalent(margin)`: equivalence (TOST) against `±margin`;
  `p_not_above(margin)` and `p_not_below(margin)`: non-superiority and
  non-inferiority, for claims of no effect in one direction. All are written so
  that they reject at 5 % exactly when the 95 % interval lies inside the
  margin (each one-sided test at 2.5 %): the interval the report prints is the
  one that decides.
- `trend(positions, values)`: the Jonckheere–Terpstra test of an ordered trend
  over a whole grid, every seed a value: Kendall's S between grid position and
  value (ties corrected), normal approximation.
- `monotonic(groups, sign)`: every consecutive step in the claimed direction,
  by the intersection–union test (each step's Welch test must reject).
- `holm(pvalues)`: Holm's step-down adjustment, for the family of one report.
- Paired designs (a seed is a block): `paired`, `paired_contrast` (the t of
  the seeds' own differences), `page` (Page's trend test, SciPy's, both
  directions); `null_power` and `seeds_for_power` (a null's chance of being
  confirmed at its margin); `majority_accuracy` and `group_size` (what an
  accuracy above the class-only level means).
"""

import dataclasses
import functools
import math

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE


@dataclasses.dataclass(frozen=True)
class Difference:
    """An estimate (a difference of means, or a contrast) with its Welch t
    distribution: standard error `se` and degrees of freedom `df`.

    `se` is NaN where the seeds cannot estimate it (fewer than 2 in a group):
    every p-value is then NaN, and the verdict that rests on it "can't tell".
    """

    estimate: float
    se: float
    df: float

    def _t(self, shift=0.0):
        """The t statistic of `estimate - shift`, or NaN."""
        if math.isnan(self.se):
            return math.nan
        if self.se == 0:
            gap = self.estimate - shift
            return math.copysign(math.inf, gap) if gap else 0.0
        return (self.estimate - shift) / self.se

    def _sf(self, t):
        """P(T >= t)."""
        if math.isnan(t):
            return math.nan
        if math.isinf(t):
            return 0.0 if t > 0 else 1.0
        if math.isinf(self.df):
            return float(stats.norm.sf(t))
        return float(stats.t.sf(t, self.df))

    def interval(self, confidence=CONFIDENCE):
        """The two-sided `confidence` interval, `(low, high)`."""
        if math.isnan(self.se):
            return (math.nan, math.nan)
        if self.se == 0:
            return (self.estimate, self.estimate)
        half = stats.t.ppf(0.5 + confidence / 2, self.df) * self.se
        return (self.estimate - half, self.estimate + half)

    def p_above(self, value=0.0):
        """One-sided p of H0: true effect <= value (small: it is above)."""
        return self._sf(self._t(value))

    def p_below(self, value=0.0):
        """One-sided p of H0: true effect >= value (small: it is below)."""
        return self._sf(-self._t(value))

    @property
    def p(self):
        """Two-sided p of H0: no difference."""
        return _cap(2 * min(self.p_above(), self.p_below()))

    def p_equivalent(self, margin):
        """Equivalence (TOST) against `±margin`: small when the effect lies
        inside the margin. Each one-sided test at half the level, so that p <=
        ALPHA exactly when the 95 % interval lies inside `(-margin, margin)`."""
        return _cap(2 * max(self.p_above(-margin), self.p_below(margin)))

    def p_not_above(self, margin):
        """Non-superiority: small when the effect is below `+margin`; p <= ALPHA
        exactly when the 95 % interval's upper end is below `margin`."""
        return _cap(2 * self.p_below(margin))

    def p_not_below(self, margin):
        """Non-inferiority: small when the effect is above `-margin`; p <= ALPHA
        exactly when the 95 % interval's lower end is above `-margin`."""
        return _cap(2 * self.p_above(-margin))

    def __str__(self):
        low, high = self.interval()
        if math.isnan(low):
            return f"{self.estimate:+.3f} [interval needs ≥ 2 seeds]"
        return f"{self.estimate:+.3f} [{low:+.3f}, {high:+.3f}]"


def _cap(p):
    """`min(1, p)`, NaN kept (Python's `min(1.0, nan)` is 1.0)."""
    return p if math.isnan(p) else min(1.0, p)


def _clean(values):
    values = np.asarray(values, dtype=float)
    return values[~np.isnan(values)]


def contrast(groups, weights):
    """`sum(w_i * mean(g_i))` with Welch–Satterthwaite's standard error and
    degrees of freedom (each group its own variance)."""
    groups = [_clean(g) for g in groups]
    if any(len(g) < 2 for g in groups):
        estimate = sum(
            w * (g.mean() if len(g) else math.nan)
            for g, w in zip(groups, weights, strict=True)
        )
        return Difference(float(estimate), math.nan, math.nan)
    parts = [
        w * w * g.var(ddof=1) / len(g) for g, w in zip(groups, weights, strict=True)
    ]
    variance = sum(parts)
    estimate = float(sum(w * g.mean() for g, w in zip(groups, weights, strict=True)))
    if variance == 0:
        return Difference(estimate, 0.0, math.inf)
    df = variance**2 / sum(
        p * p / (len(g) - 1) for p, g in zip(parts, groups, strict=True)
    )
    return Difference(estimate, math.sqrt(variance), df)


def difference(a, b):
    """`mean(b) - mean(a)` by Welch's t."""
    return contrast([a, b], [-1.0, 1.0])


def one_sample(values, reference):
    """`mean(values) - reference` by the one-sample t."""
    values = _clean(values)
    if len(values) < 2:
        return Difference(
            float(values.mean()) - reference if len(values) else math.nan,
            math.nan,
            math.nan,
        )
    se = float(values.std(ddof=1) / math.sqrt(len(values)))
    return Difference(float(values.mean()) - reference, se, len(values) - 1.0)


@dataclasses.dataclass(frozen=True)
class Trend:
    """Jonckheere–Terpstra: Kendall's S between position and value, its tau-b,
    and the two-sided p of no trend."""

    s: float
    tau: float
    z: float
    p: float
    n: int

    def __str__(self):
        return f"Kendall τ = {self.tau:+.2f}, p = {self.p:.2g} (n = {self.n})"


def _tie_sums(values):
    _, counts = np.unique(values, return_counts=True)
    t = counts.astype(float)
    return (
        float(np.sum(t * (t - 1) * (2 * t + 5))),
        float(np.sum(t * (t - 1))),
        float(np.sum(t * (t - 1) * (t - 2))),
        float(np.sum(t * (t - 1) / 2)),
    )


def trend(positions, values):
    """The ordered trend of `values` over `positions` (grid positions, one
    entry per seed and point): S = concordant - discordant pairs, its variance
    with ties in both (Kendall 1970), z = S / sd, two-sided normal p."""
    x, y = np.asarray(positions, dtype=float), np.asarray(values, dtype=float)
    keep = ~np.isnan(y)
    x, y = x[keep], y[keep]
    n = len(x)
    s = float(
        np.sum(
            np.triu(
                np.sign(x[:, None] - x[None, :]) * np.sign(y[:, None] - y[None, :]), 1
            )
        )
    )
    vx, t1, t2, tx = _tie_sums(x)
    vy, u1, u2, ty = _tie_sums(y)
    pairs = n * (n - 1) / 2
    if n < 3 or pairs == tx or pairs == ty:
        return Trend(s, math.nan, math.nan, math.nan, n)
    variance = (n * (n - 1) * (2 * n + 5) - vx - vy) / 18
    variance += t1 * u1 / (2 * n * (n - 1)) + t2 * u2 / (9 * n * (n - 1) * (n - 2))
    z = s / math.sqrt(variance)
    tau = s / math.sqrt((pairs - tx) * (pairs - ty))
    return Trend(s, tau, z, float(2 * stats.norm.sf(abs(z))), n)


@dataclasses.dataclass(frozen=True)
class Steps:
    """Every consecutive step of an ordered grid, and the two p-values of the
    claim "every step goes `sign`": `p_every` (intersection–union: the largest
    step p, small when every step is significant in that direction) and
    `p_against` (Bonferroni over the steps: small when some step goes
    significantly the other way)."""

    steps: list  # [Difference]
    p_every: float
    p_against: float


def monotonic(groups, sign):
    """Tests that `mean(groups[k+1]) - mean(groups[k])` has sign `sign` (+1 or
    -1) for every k."""
    steps = [difference(a, b) for a, b in zip(groups, groups[1:], strict=False)]
    if not steps:
        return Steps([], math.nan, math.nan)
    toward = [s.p_above() if sign > 0 else s.p_below() for s in steps]
    away = [s.p_below() if sign > 0 else s.p_above() for s in steps]
    # Two-sided per step, so that a step counts when its 95 % interval excludes 0.
    if any(math.isnan(p) for p in toward):
        return Steps(steps, math.nan, math.nan)
    p_every = max(_cap(2 * p) for p in toward)
    p_against = _cap(len(steps) * min(_cap(2 * p) for p in away))
    return Steps(steps, p_every, p_against)


def holm(pvalues):
    """Holm's step-down adjusted p-values (NaN stays NaN, and is not counted):
    the m p-values sorted, the k-th (from 0) times m - k, made non-decreasing,
    capped at 1. Rejecting where adjusted p <= alpha holds the family-wise
    error rate at alpha."""
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    index = np.flatnonzero(~np.isnan(p))
    m = len(index)
    order = index[np.argsort(p[index], kind="stable")]
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


# -- Paired designs, seed-blocked trends, power, and the effective group size -----
#
# A seed fixes the random labels and the initialisation at every grid point of a
# sweep: the runs of one seed form a block. `paired` and `paired_contrast` are
# the one-sample t on the seeds' own differences; `page` is Page's trend test
# with the seeds as blocks (SciPy's `page_trend_test`). `null_power` is the
# design's chance of confirming a true null at its margin; `majority_accuracy`
# and `group_size` say what an accuracy above the class-only level means.


def paired(a, b):
    """`mean(b - a)` over seeds paired by position (the same seed in `a` and
    `b`): the one-sample t of the differences."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return one_sample(b - a, 0.0)


def paired_contrast(columns, weights):
    """`sum(w_i * mean(column_i))` where the columns are paired by seed: the
    one-sample t of each seed's own contrast."""
    matrix = np.column_stack([np.asarray(c, dtype=float) for c in columns])
    return one_sample(matrix @ np.asarray(weights, dtype=float), 0.0)


@dataclasses.dataclass(frozen=True)
class PageTrend:
    """Page's test of an ordered trend, seeds as blocks: its L statistic and
    the one-sided p-values of a rise (`p_up`) and of a fall (`p_down`)."""

    statistic: float
    p_up: float
    p_down: float
    blocks: int
    method: str

    def p(self, sign):
        """Two-sided p of no trend, rejected in the direction `sign`: twice the
        one-sided p of that direction (capped at 1)."""
        return _cap(2 * (self.p_up if sign > 0 else self.p_down))

    def __str__(self):
        return (
            f"Page's L = {self.statistic:g}, p(rise) = {self.p_up:.2g}, "
            f"p(fall) = {self.p_down:.2g} ({self.blocks} seeds as blocks)"
        )


def page(matrix):
    """Page's trend test on `matrix` (rows: seeds, columns: the grid in order),
    both directions. Fewer than 2 rows or 3 columns: NaN p-values (SciPy needs
    3 treatments)."""
    matrix = np.asarray(matrix, dtype=float)
    rows, columns = matrix.shape if matrix.ndim == 2 else (0, 0)
    if rows < 2 or columns < 3:
        return PageTrend(math.nan, math.nan, math.nan, rows, "—")
    up = stats.page_trend_test(matrix)
    down = stats.page_trend_test(matrix[:, ::-1])
    return PageTrend(
        float(up.statistic), float(up.pvalue), float(down.pvalue), rows, up.method
    )


def null_power(sd, n, margin, two_sided=True, groups=1):
    """The chance that a design with `n` seeds confirms a true null (an effect
    of exactly 0) at `margin`, when its differences have spread `sd`:
    `groups=1` a paired design (the seeds' own differences), `groups=2` two
    independent groups of `n` seeds each. The 95 % interval must lie inside
    `(-margin, margin)` (`two_sided`) or below `margin`.

    The usual t approximation (the spread taken as known inside the quantile):
    power = F(margin / se - t) (one-sided), 2 F(margin / se - t) - 1
    (two-sided), with F, t the Student distribution and 0.975 quantile of the
    design's degrees of freedom. NaN where `sd` or `n` cannot say.
    """
    if not (sd > 0) or n < 2 or not (margin > 0):
        return math.nan
    se = sd * math.sqrt(groups / n)
    df = groups * (n - 1)
    t = stats.t.ppf(0.5 + CONFIDENCE / 2, df)
    one = float(stats.t.cdf(margin / se - t, df))
    return max(0.0, 2 * one - 1) if two_sided else one


def seeds_for_power(sd, margin, target=0.8, two_sided=True, groups=1, most=1000):
    """The fewest seeds whose `null_power` reaches `target` (None: more than
    `most`, or a spread that cannot say)."""
    if not (sd > 0):
        return None
    for n in range(2, most + 1):
        if null_power(sd, n, margin, two_sided, groups) >= target:
            return n
    return None


def _at_most(m, g, labels):
    """P(every one of `labels` values occurs at most `m` times among `g`
    i.i.d. uniform draws): R Poisson(g / R) counts, each cut at `m`, conditioned
    on their sum being g."""
    rate = g / labels
    pmf = stats.poisson.pmf(np.arange(m + 1), rate)
    total, power, k = np.array([1.0]), pmf, labels
    while k:  # pmf convolved `labels` times, by repeated squaring
        if k & 1:
            total = np.convolve(total, power)[: g + 1]
        k >>= 1
        if k:
            power = np.convolve(power, power)[: g + 1]
    if len(total) <= g:
        return 0.0
    return min(1.0, float(total[g] / stats.poisson.pmf(g, g)))


@functools.lru_cache(maxsize=4096)
def majority_accuracy(g, labels):
    """The accuracy of the majority vote in a group of `g` examples whose
    random labels are i.i.d. uniform over `labels` values: E[largest count] / g,
    computed exactly (E[max] = sum over m of P(max > m)). 1 for g = 1, towards
    1/labels as g grows."""
    g, labels = int(g), int(labels)
    if g < 1 or labels < 1:
        raise ValueError(f"Expected g >= 1 and labels >= 1. Received: g={g}, {labels=}")
    start = math.ceil(g / labels)  # the largest count is at least g / labels
    expected = float(start)
    for m in range(start, g):
        above = 1.0 - _at_most(m, g, labels)
        if above < 1e-15:
            break
        expected += above
    return expected / g


def group_size(accuracy, labels, most=1000):
    """The effective group size of a head with this training random-label
    `accuracy`: the `g` whose `majority_accuracy(g, labels)` equals it (a real
    number, linear between whole groups). 1 where accuracy >= 1; `inf` where it
    is at or below what groups of `most` examples give."""
    if math.isnan(accuracy):
        return math.nan
    if accuracy >= 1.0:
        return 1.0
    if accuracy <= majority_accuracy(most, labels):
        return math.inf
    low, high = 1, most  # A(low) > accuracy >= A(high)
    while high - low > 1:
        middle = (low + high) // 2
        if majority_accuracy(middle, labels) > accuracy:
            low = middle
        else:
            high = middle
    a_low, a_high = majority_accuracy(low, labels), majority_accuracy(high, labels)
    return low + (a_low - accuracy) / (a_low - a_high)

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
"""

import dataclasses
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

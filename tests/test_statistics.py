"""The report's statistics against SciPy and against the definitions, written
out independently here."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from keras_rlr.report import statistics

RNG = np.random.default_rng(0)
A = RNG.normal(0.70, 0.03, size=5)
B = RNG.normal(0.66, 0.08, size=7)


def test_difference_is_welchs_t():
    diff = statistics.difference(A, B)
    ref = stats.ttest_ind(B, A, equal_var=False)
    assert diff.estimate == pytest.approx(B.mean() - A.mean())
    assert diff.estimate / diff.se == pytest.approx(ref.statistic)
    assert diff.df == pytest.approx(ref.df)
    assert diff.p == pytest.approx(ref.pvalue)
    low, high = diff.interval()
    ci = ref.confidence_interval(0.95)
    assert (low, high) == pytest.approx((ci.low, ci.high))
    greater = stats.ttest_ind(B, A, equal_var=False, alternative="greater")
    assert diff.p_above() == pytest.approx(greater.pvalue)
    assert diff.p_below() == pytest.approx(1 - greater.pvalue)


def test_one_sample_is_the_one_sample_t():
    diff = statistics.one_sample(A, 0.65)
    ref = stats.ttest_1samp(A, 0.65)
    assert diff.p == pytest.approx(ref.pvalue)
    ci = ref.confidence_interval(0.95)
    assert diff.interval() == pytest.approx((ci.low - 0.65, ci.high - 0.65))


def test_contrast_with_constant_groups_is_the_welch_test_of_the_others():
    # Groups without variance add nothing to the error: the contrast
    # (b - a) - (d - c) is Welch's b - a shifted by the constant d - c.
    c, d = np.full(4, 0.2), np.full(3, 0.5)
    contrast = statistics.contrast([A, B, c, d], [-1, 1, 1, -1])
    ref = stats.ttest_ind(B - 0.3, A, equal_var=False)
    assert contrast.estimate == pytest.approx(B.mean() - A.mean() - 0.3)
    assert contrast.estimate / contrast.se == pytest.approx(ref.statistic)
    assert contrast.p == pytest.approx(ref.pvalue)


@pytest.mark.parametrize("margin", [0.02, 0.05, 0.1, 0.2])
def test_equivalence_is_tost_at_half_level_and_matches_the_interval(margin):
    diff = statistics.difference(A, B)
    lower = stats.ttest_ind(B + margin, A, equal_var=False, alternative="greater")
    upper = stats.ttest_ind(B - margin, A, equal_var=False, alternative="less")
    assert diff.p_equivalent(margin) == pytest.approx(
        min(1, 2 * max(lower.pvalue, upper.pvalue))
    )
    assert diff.p_not_above(margin) == pytest.approx(min(1, 2 * upper.pvalue))
    low, high = diff.interval()
    inside = -margin < low and high < margin
    assert (diff.p_equivalent(margin) <= 0.05) == inside
    assert (diff.p_not_above(margin) <= 0.05) == (high < margin)


def test_fewer_than_two_seeds_decide_nothing():
    diff = statistics.difference([0.5], [0.9, 0.95])
    assert math.isnan(diff.p) and math.isnan(diff.p_equivalent(1.0))
    assert "needs ≥ 2 seeds" in str(diff)


def test_identical_seeds_decide_by_the_sign():
    diff = statistics.difference([0.5, 0.5], [0.4, 0.4])
    assert diff.p == 0 and diff.p_below() == 0 and diff.p_above() == 1
    assert statistics.difference([0.5, 0.5], [0.5, 0.5]).p == 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_trend_is_kendalls_tau_b_with_ties(seed):
    rng = np.random.default_rng(seed)
    positions = np.repeat(np.arange(5), 4)  # 5 grid points x 4 seeds: ties in x
    values = np.round(rng.normal(-0.01 * positions, 0.02), 2)  # ties in y
    result = statistics.trend(positions, values)
    ref = stats.kendalltau(positions, values, method="asymptotic")
    assert result.tau == pytest.approx(ref.statistic)
    assert result.p == pytest.approx(ref.pvalue)


def test_trend_uses_every_point_not_the_two_ends():
    # The ends differ (0.48 vs 0.52) but the grid between goes up and down:
    # a two-ends comparison calls it a rise; the trend test over all points not.
    rng = np.random.default_rng(3)
    means = [0.48, 0.55, 0.53, 0.51, 0.49, 0.47, 0.52]
    positions = np.repeat(np.arange(7), 5)
    values = np.repeat(means, 5) + rng.normal(0, 0.01, 35)
    ends = stats.ttest_ind(values[-5:], values[:5], equal_var=False)
    assert ends.pvalue < 0.01 and ends.statistic > 0
    assert statistics.trend(positions, values).p > 0.05
    steep = np.repeat(np.linspace(0.5, 0.6, 7), 5) + rng.normal(0, 0.02, 35)
    result = statistics.trend(positions, steep)
    assert result.p < 0.001 and result.tau > 0


def test_monotonic_needs_every_step():
    groups = [np.array([0.9, 0.91, 0.92]) - 0.05 * k for k in range(4)]
    steps = statistics.monotonic(groups, -1)
    assert steps.p_every < 0.05 and steps.p_against == 1
    # One flat step: not every step decreases, and none significantly rises.
    flat = groups[:2] + [groups[1] + [0.001, -0.002, 0.0]] + groups[3:]
    steps = statistics.monotonic(flat, -1)
    welch = [
        stats.ttest_ind(b, a, equal_var=False)
        for a, b in zip(flat, flat[1:], strict=False)
    ]
    assert steps.p_every == pytest.approx(max(w.pvalue for w in welch))
    assert steps.p_every > 0.05 and steps.p_against > 0.05
    # One step rising clearly: "no".
    rising = groups[:2] + [groups[1] + 0.1] + groups[3:]
    assert statistics.monotonic(rising, -1).p_against < 0.05


def _holm_by_definition(p):
    """Adjusted p_i = max over j with p_(j) <= p_i of min(1, (m - j) p_(j))."""
    m = len(p)
    ordered = sorted(p)
    return [
        max(min(1, (m - j) * ordered[j]) for j in range(m) if ordered[j] <= pi)
        for pi in p
    ]


def _holm_rejections(p, alpha):
    """The step-down procedure itself: reject in order while p_(k) <= alpha/(m-k)."""
    rejected = set()
    for k, i in enumerate(np.argsort(p, kind="stable")):
        if p[i] > alpha / (len(p) - k):
            break
        rejected.add(int(i))
    return rejected


def test_holm_matches_its_definition_and_the_step_down_procedure():
    rng = np.random.default_rng(4)
    for _ in range(20):
        p = list(rng.uniform(0, 0.1, size=rng.integers(1, 9)))
        adjusted = statistics.holm(p)
        assert adjusted == pytest.approx(_holm_by_definition(p))
        for alpha in (0.01, 0.05):
            assert {i for i, a in enumerate(adjusted) if a <= alpha} == (
                _holm_rejections(np.array(p), alpha)
            )
    adjusted = statistics.holm([0.01, math.nan, 0.04])
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1])
    assert adjusted[2] == pytest.approx(0.04)


def test_holm_holds_the_family_wise_error_on_null_data():
    # 10 true nulls per family, 2000 families: some rejection in about 5 %.
    rng = np.random.default_rng(5)
    families = rng.uniform(size=(2000, 10))
    errors = sum(min(statistics.holm(row)) <= 0.05 for row in families)
    assert errors / 2000 <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 2000)
    # Unadjusted, the same data reject far more often (1 - 0.95^10 = 40 %).
    assert sum(row.min() <= 0.05 for row in families) / 2000 > 0.3


def test_welch_interval_covers_at_its_level():
    # Coverage of the 95 % interval on normal data with unequal variances.
    rng = np.random.default_rng(6)
    hits = 0
    for a, b in itertools.islice(
        ((rng.normal(0, 1, 5), rng.normal(0.3, 3, 6)) for _ in itertools.count()),
        2000,
    ):
        low, high = statistics.difference(a, b).interval()
        hits += low <= 0.3 <= high
    assert abs(hits / 2000 - 0.95) < 3 * math.sqrt(0.05 * 0.95 / 2000)


# -- Paired designs, Page's trend, power, the effective group size ----------------


def test_paired_is_the_paired_t():
    b = A + RNG.normal(0.01, 0.005, size=5)
    diff = statistics.paired(A, b)
    ref = stats.ttest_rel(b, A)
    assert diff.p == pytest.approx(ref.pvalue)
    ci = ref.confidence_interval(0.95)
    assert diff.interval() == pytest.approx((ci.low, ci.high))
    weights = [0.5, -1.0, 0.5]
    columns = [A, b, A * 2]
    own = sum(w * c for w, c in zip(weights, columns, strict=True))
    assert statistics.paired_contrast(columns, weights).p == pytest.approx(
        stats.ttest_1samp(own, 0.0).pvalue
    )


def test_page_both_directions_by_enumeration():
    """Page's L against its definition, and the exact p of a rise by
    enumerating every within-block order (3 blocks of 3: 6^3 orders)."""
    data = np.array([[1.0, 2.0, 3.0], [2.0, 1.0, 3.0], [1.0, 3.0, 2.0]])
    result = statistics.page(data)
    ranks = np.argsort(np.argsort(data, axis=1), axis=1) + 1
    weights = np.arange(1, 4)
    assert result.statistic == (ranks * weights).sum()
    orders = list(itertools.permutations(range(1, 4)))
    ls = [
        sum(np.dot(o, weights) for o in combo)
        for combo in itertools.product(orders, repeat=3)
    ]
    assert result.p_up == pytest.approx(np.mean(np.array(ls) >= result.statistic))
    low = (np.array(ls) >= (ranks[:, ::-1] * weights).sum()).mean()
    assert result.p_down == pytest.approx(low)
    assert result.p(+1) == pytest.approx(min(1, 2 * result.p_up))
    assert math.isnan(statistics.page(data[:1]).p_up)  # one block: no test


@pytest.mark.parametrize("g, labels", [(1, 3), (2, 2), (3, 4), (5, 3), (6, 4)])
def test_majority_accuracy_by_enumeration(g, labels):
    """E[largest count] / g over every one of the labels^g label tuples."""
    counts = [
        max(np.bincount(t, minlength=labels))
        for t in itertools.product(range(labels), repeat=g)
    ]
    assert statistics.majority_accuracy(g, labels) == pytest.approx(
        np.mean(counts) / g, abs=1e-12
    )


def test_majority_accuracy_by_monte_carlo_and_its_inverse():
    rng = np.random.default_rng(0)
    draws = rng.integers(0, 10, size=(100_000, 40))
    largest = np.array([np.bincount(d, minlength=10).max() for d in draws])
    sim = largest.mean() / 40
    assert statistics.majority_accuracy(40, 10) == pytest.approx(sim, abs=0.002)
    # The inverse: whole groups come back exactly, and it decreases.
    for g in (1, 2, 7, 40):
        accuracy = statistics.majority_accuracy(g, 10)
        assert statistics.group_size(accuracy, 10) == pytest.approx(g)
    assert statistics.group_size(0.55, 10) == pytest.approx(2.0)  # (1 + 1/R) / 2
    assert statistics.group_size(0.3, 10) < statistics.group_size(0.2, 10)
    assert statistics.group_size(0.1, 10) == math.inf


@pytest.mark.parametrize("two_sided", [True, False])
@pytest.mark.parametrize("groups", [1, 2])
def test_null_power_against_simulated_designs(two_sided, groups):
    """The chance that the 95 % interval of a true null lies inside the margin,
    simulated (normal data, the report's own interval), against the formula."""
    rng = np.random.default_rng(1)
    sd, n, margin = 0.01, 8, 0.012
    hits = 0
    trials = 4000
    for _ in range(trials):
        if groups == 1:
            diff = statistics.one_sample(rng.normal(0, sd, n), 0.0)
        else:
            a = rng.normal(0, sd / math.sqrt(2), n)
            b = rng.normal(0, sd / math.sqrt(2), n)
            diff = statistics.difference(a, b)
        low, high = diff.interval()
        hits += (high < margin and low > -margin) if two_sided else high < margin
    power = statistics.null_power(
        sd if groups == 1 else sd / math.sqrt(2), n, margin, two_sided, groups
    )
    assert power == pytest.approx(hits / trials, abs=0.04)
    needed = statistics.seeds_for_power(sd, margin, 0.8, two_sided)
    assert statistics.null_power(sd, needed, margin, two_sided) >= 0.8
    assert statistics.null_power(sd, needed - 1, margin, two_sided) < 0.8

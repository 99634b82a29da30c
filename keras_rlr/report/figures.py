"""The figure registry: a sweep config's `--figure` name -> its layout and the
paper's claims checked on its data (METHOD.md's last table, claim by claim).

Each `Claim` carries the figure and section it comes from, its kind (effect,
null, trend, where, compare), a one-line paraphrase, and for a claim of no
effect the equivalence margin that decides it. The margins are our choice (the
paper states none): `TEST_MARGIN` for test class accuracy ("marginal", "no
improvement"), `RLA_MARGIN` for random-label accuracy.

Over 400 lines because it is data: the twenty-odd claims of the paper, each
written out with its section, paraphrase and check, in one place to read
against the paper.
"""

import dataclasses

from keras_rlr.report import findings as f
from keras_rlr.report import statistics
from keras_rlr.report.findings import TEST_ACC, TRAIN_RLA
from keras_rlr.report.results import probe_metric

# Choice (the paper gives no number): a change of test accuracy within ±1
# accuracy point counts as "no improvement" / "marginal" / "no significant
# effect"; within ±2 points of random-label accuracy as "no significant
# increase in memorization".
TEST_MARGIN = 0.01
RLA_MARGIN = 0.02


@dataclasses.dataclass
class Claim:
    figure: str  # the paper's figure, e.g. "3A"; "" for the paper's open question
    section: str  # the paper's section, e.g. "3.1.3"
    kind: str  # "effect", "null", "trend", "where" or "compare"
    text: str  # the claim, paraphrased in one line
    check: object  # results -> [findings.Part]
    margin: str = ""  # for a null claim: the margin that decides it

    @property
    def source(self):
        """Where in the paper: "Fig. 3A, §3.1.3", or "open question of §4"."""
        if self.figure:
            return f"Fig. {self.figure}, §{self.section}"
        return f"open question of §{self.section}"

    @property
    def where(self):
        margin = f", margin {self.margin}" if self.margin else ""
        return f"{self.source}, {self.kind}{margin}"


@dataclasses.dataclass
class Figure:
    title: str
    layout: str  # "lines", "heatmaps" or "bars"
    claims: list


def _flag(full, name):
    return str(full.get(name)).lower()


def _num(value):
    return float(value)


def _max_lr(results):
    return max(
        _num(f._full(results, v)["learning_rate"])
        for entries in results.panels.values()
        for v, _ in entries
    )


def _augmented(full, _):
    return _flag(full, "augment") == "true"


def _not_augmented(full, _):
    return _flag(full, "augment") == "false"


def _at_max_lr(full, results):
    return _num(full["learning_rate"]) == _max_lr(results)


def _below_max_lr_no_augment(full, results):
    return _not_augmented(full, results) and not _at_max_lr(full, results)


def _best_lr(results):
    """The learning rate with the best mean test accuracy at the smallest λ,
    with augmentation (the "optimal learning rate" of A.3)."""
    lam = _min_value(results, "reg_lambda")
    return f.best_value(
        results,
        "learning_rate",
        TEST_ACC,
        lambda full, _: _augmented(full, _) and _num(full["reg_lambda"]) == lam,
    )


def _min_value(results, flag):
    return min(
        _num(f._full(results, v)[flag])
        for entries in results.panels.values()
        for v, _ in entries
    )


def _max_value(results, flag):
    return max(
        _num(f._full(results, v)[flag])
        for entries in results.panels.values()
        for v, _ in entries
    )


def _best_smoothing(results):
    """The smoothing with the best mean test accuracy at the smallest λ."""
    lam = _min_value(results, "reg_lambda")
    return f.best_value(
        results,
        "label_smoothing",
        TEST_ACC,
        lambda full, _: _num(full["reg_lambda"]) == lam,
    )


def _both(*checks):
    return lambda results: [part for check in checks for part in check(results)]


def _only_at_best_lr(results):
    """A.1B: with augmentation, λ raises test accuracy at the best learning rate
    (trend) and does not improve it at any other (non-superiority)."""
    best = _best_lr(results)
    if best is None:
        return []
    at_best = f.trend(
        "reg_lambda",
        +1,
        TEST_ACC,
        lambda full, r: _augmented(full, r) and full["learning_rate"] == best,
    )
    others = f.no_improvement(
        "reg_lambda",
        TEST_MARGIN,
        TEST_ACC,
        lambda full, r: _augmented(full, r) and full["learning_rate"] != best,
    )
    return _both(at_best, others)(results)


def _low_smoothing(full, results):
    best = _best_smoothing(results)
    eps = _num(full["label_smoothing"])
    return eps == 0 or (best is not None and eps < _num(best))


def _smoothing_at_or_above_best(full, results):
    best = _best_smoothing(results)
    return best is not None and _num(full["label_smoothing"]) >= _num(best)


def _smoothing_improves(results):
    """A.2: at the smallest λ, some ε > 0 beats ε = 0 (Welch per ε; Holm over
    the report covers the choice among them)."""
    lam = _min_value(results, "reg_lambda")
    eps0 = _min_value(results, "label_smoothing")
    parts = []
    for _, members in f._groups(
        results, "label_smoothing", lambda full, _: _num(full["reg_lambda"]) == lam
    ):
        if _num(members[0][0]) != eps0:
            continue
        ref = members[0][1]
        for value, point in members[1:]:
            diff = statistics.difference(
                f.seeds(results, ref, TEST_ACC), f.seeds(results, point, TEST_ACC)
            )
            parts.append((value, diff))
    if not parts:
        return []
    text = "; ".join(f"label_smoothing={v} − 0: {d}" for v, d in parts)
    tests = [f.Test(d.p, d.estimate > 0) for _, d in parts]
    # "yes" where some ε improves; "no" only where every ε significantly hurts.
    part = f.Part(text, [t for t in tests if t.verdict])
    against = [t for t in tests if not t.verdict]
    if len(against) == len(tests):
        part.tests.append(f.Test(max(t.p for t in against), False))
    return [part]


def _smoothing_beats_lambda(results):
    """A.2: the best ε at the smallest λ beats the best λ at the smallest ε
    (both picked by their mean: a comparison of the two tuned optima)."""
    lam = _min_value(results, "reg_lambda")
    eps = _min_value(results, "label_smoothing")
    best_eps = _best_smoothing(results)
    best_lam = f.best_value(
        results,
        "reg_lambda",
        TEST_ACC,
        lambda full, _: _num(full["label_smoothing"]) == eps,
    )
    if best_eps is None or best_lam is None:
        return []
    points = {}
    for entries in results.panels.values():
        for values, point in entries:
            full = f._full(results, values)
            points[(full["reg_lambda"], full["label_smoothing"])] = point
    lam_point = next(
        p for (lm, e), p in points.items() if lm == best_lam and _num(e) == eps
    )
    eps_point = next(
        p for (lm, e), p in points.items() if e == best_eps and _num(lm) == lam
    )
    diff = statistics.difference(
        f.seeds(results, lam_point, TEST_ACC), f.seeds(results, eps_point, TEST_ACC)
    )
    text = (
        f"best smoothing (label_smoothing={best_eps}) − best λ "
        f"(reg_lambda={best_lam}): {diff}"
    )
    return [f.Part(text, [f._signed(diff, +1)])]


_CONTROL = Claim(
    "1B",
    "3.1",
    "null",
    "Test random-label accuracy stays at chance (leak control)",
    f.test_at_chance(),
)
# Not the paper's words but what "memorizes single examples" needs: a head
# reaches its class's most common random label without memorizing anything.
_ABOVE_CLASS_ONLY = Claim(
    "1B",
    "3.1.1",
    "effect",
    "It is above what the class alone gives (each class's most common random "
    "label): single examples are memorized",
    f.above_class_only(),
)
_FIG_1B = [
    Claim(
        "1B",
        "3.1.1",
        "effect",
        "Training random-label accuracy is above chance",
        f.above_chance(),
    ),
    Claim(
        "1B",
        "3.1.1",
        "effect",
        "It keeps rising after class training accuracy reaches 100 % (≥ 0.99)",
        f.rises_after_fit(),
    ),
    _ABOVE_CLASS_ONLY,
]


def _lowers(flag, name):
    return Claim(
        "2",
        "3.1.2",
        "trend",
        f"{name} lowers training random-label accuracy",
        f.trend(flag, -1, TRAIN_RLA),
    )


def _lambda_at_heads(results):
    """λ > 0 against λ = 0 at the heads (d = 1): `[Part]` per λ > 0."""
    return _versus_lambda_0(
        results, TRAIN_RLA, "heads d = 1", lambda diff: [f._signed(diff, -1)]
    )


def _versus_lambda_0(results, metric, where, tests):
    """For each λ above the smallest: `Part` of `metric`'s difference of
    means against the smallest λ, with the `tests(diff)` that decide it."""
    parts = []
    for label, members in f._groups(results, "reg_lambda"):
        (ref_value, ref), others = members[0], members[1:]
        a = f.seeds(results, ref, metric)
        for value, point in others:
            b = f.seeds(results, point, metric)
            diff = statistics.difference(a, b)
            text = (
                f"{where}: λ={value} − λ={ref_value}{f._where(label)}: "
                f"{f._mean(a)} → {f._mean(b)}, difference {diff}"
            )
            parts.append(f.Part(text, tests(diff)))
    return parts


def _probes_not_lowered(results):
    """At every probe deeper than the heads, λ > 0 leaves training random-label
    accuracy where it was or raises it: non-inferiority against `-RLA_MARGIN`
    ("yes" where the 95 % interval lies above it; "no" where it is
    significantly below zero and not above it)."""
    parts = []
    for depth in results.probe_depths():
        parts += _versus_lambda_0(
            results,
            probe_metric(depth),
            f"probe d = {depth}",
            lambda diff: [
                f.Test(diff.p_not_below(RLA_MARGIN), True),
                f.Test(f._cap(2 * diff.p_below()), False),
            ],
        )
    return parts or [f.Part("no probe metrics: run with --probe_depths")]


_MARGIN_TEXT = f"+{TEST_MARGIN:.3f} test accuracy"
FIGURES = {
    "fig2": Figure(
        "Fig. 2: dropout, weight decay and label smoothing",
        "lines",
        _FIG_1B
        + [
            _lowers("dropout", "Dropout"),
            _lowers("weight_decay", "Weight decay"),
            _lowers("label_smoothing", "Label smoothing"),
            _CONTROL,
        ],
    ),
    "fig3a": Figure(
        "Fig. 3A: copy depth of the random-label heads (VGG16)",
        "lines",
        [
            Claim(
                "3A",
                "3.1.3",
                "trend",
                "Random-label accuracy rises with copy depth",
                f.trend("copy_depth", +1, TRAIN_RLA),
            ),
            Claim(
                "3A",
                "3.1.3",
                "where",
                "The steep rise lies between d = 5 and 7, not between d = 3 and 4",
                f.steeper_between("copy_depth", (5, 7), (3, 4)),
            ),
            Claim(
                "3A",
                "3.1.3",
                "null",
                "Widening the copies at d = 5 gives no significant increase",
                f.no_improvement(
                    "copy_width_multiplier",
                    RLA_MARGIN,
                    TRAIN_RLA,
                    lambda full, _: full.get("copy_depth") == "5",
                ),
                f"+{RLA_MARGIN:.3f} random-label accuracy",
            ),
            _CONTROL,
        ],
    ),
    "fig3b": Figure(
        "Fig. 3B/C: the regularizer weight λ",
        "lines",
        _FIG_1B
        + [
            Claim(
                "3B",
                "3.2",
                "trend",
                "λ > 0 lowers training random-label accuracy",
                f.trend("reg_lambda", -1, TRAIN_RLA),
            ),
            Claim(
                "3C",
                "3.2",
                "null",
                "λ > 0 does not improve test accuracy",
                f.no_improvement("reg_lambda", TEST_MARGIN, TEST_ACC),
                _MARGIN_TEXT,
            ),
            _CONTROL,
        ],
    ),
    "figa1": Figure(
        "Fig. A.1: λ × learning rate, with and without augmentation",
        "heatmaps",
        [
            Claim(
                "A.1",
                "A.3",
                "trend",
                "At the highest learning rate, increasing λ degrades test accuracy",
                f.trend("reg_lambda", -1, TEST_ACC, _at_max_lr),
            ),
            Claim(
                "A.1",
                "A.3",
                "trend",
                "At lower learning rates (no augmentation), test accuracy rises with λ",
                f.trend("reg_lambda", +1, TEST_ACC, _below_max_lr_no_augment),
            ),
            Claim(
                "A.1",
                "A.3",
                "where",
                "With augmentation, λ helps only at the best learning rate",
                _only_at_best_lr,
                _MARGIN_TEXT + " elsewhere",
            ),
            _CONTROL,
        ],
    ),
    "figa2": Figure(
        "Fig. A.2: λ × label smoothing",
        "heatmaps",
        [
            Claim(
                "A.2",
                "A.4",
                "effect",
                "Without λ, label smoothing improves test accuracy",
                _smoothing_improves,
            ),
            Claim(
                "A.2",
                "A.4",
                "trend",
                "With little or no smoothing (below the best ε), test accuracy "
                "rises with λ",
                f.trend("reg_lambda", +1, TEST_ACC, _low_smoothing),
            ),
            Claim(
                "A.2",
                "A.4",
                "trend",
                "At the best smoothing and above, λ lowers test accuracy at every step",
                f.monotone("reg_lambda", -1, TEST_ACC, _smoothing_at_or_above_best),
            ),
            Claim(
                "A.2",
                "A.4",
                "null",
                "At the largest λ, label smoothing has no significant effect",
                f.no_effect(
                    lambda results: _smoothing_pairs_at_max_lambda(results),
                    TEST_MARGIN,
                    TEST_ACC,
                    "test accuracy",
                ),
                f"±{TEST_MARGIN:.3f} test accuracy",
            ),
            Claim(
                "A.2",
                "A.4",
                "compare",
                "λ alone stays below the best label smoothing's test accuracy",
                _smoothing_beats_lambda,
            ),
            _CONTROL,
        ],
    ),
    "figa3": Figure(
        "Fig. A.3: the single-output variant, with and without weight decay",
        "bars",
        [
            Claim(
                "A.3",
                "A.5",
                "null",
                "Single output changes test accuracy only marginally (with "
                "augmentation), with and without weight decay",
                f.no_effect(
                    f.pairs("single_output", "false", "true", _augmented),
                    TEST_MARGIN,
                    TEST_ACC,
                    "single output − baseline, test accuracy",
                ),
                f"±{TEST_MARGIN:.3f} test accuracy",
            ),
            Claim(
                "A.3",
                "A.5",
                "effect",
                "Single output without augmentation lowers test accuracy",
                f.effect(
                    f.pairs("single_output", "false", "true", _not_augmented),
                    -1,
                    TEST_ACC,
                    "single output − baseline, test accuracy",
                ),
            ),
            _CONTROL,
        ],
    ),
    "profile": Figure(
        "Memorization profile: λ at d = 1, probes deeper (VGG16)",
        "profile",
        [
            Claim(
                "",
                "4",
                "effect",
                "λ > 0 at the heads (d = 1) lowers training random-label "
                "accuracy there",
                _lambda_at_heads,
            ),
            _ABOVE_CLASS_ONLY,
            Claim(
                "",
                "4",
                "null",
                "At every deeper probe, training random-label accuracy stays or "
                "rises under that λ (memorization moves to earlier layers "
                "instead of vanishing)",
                _probes_not_lowered,
                f"−{RLA_MARGIN:.3f} random-label accuracy",
            ),
            _CONTROL,
        ],
    ),
}


def _smoothing_pairs_at_max_lambda(results):
    """At the largest λ: (label, point ε = smallest, point ε) for every other ε."""
    lam = _max_value(results, "reg_lambda")
    out = []
    for label, members in f._groups(
        results, "label_smoothing", lambda full, _: _num(full["reg_lambda"]) == lam
    ):
        (v0, ref), others = members[0], members[1:]
        for value, point in others:
            where = f"label_smoothing={value} − {v0}" + (f", {label}" if label else "")
            out.append((where, ref, point))
    return out


def decisions(results):
    """`(claims, outcomes, number of tests)` of the sweep's figure, every
    verdict Holm-adjusted over all the report's tests together."""
    figure = FIGURES.get(results.figure)
    claims = figure.claims if figure else [_CONTROL]
    outcomes, tests = f.decide([(c.text, c.check(results)) for c in claims])
    return claims, outcomes, tests


def findings(results):
    """The `Outcome` of every claim of the sweep's figure."""
    return decisions(results)[1]

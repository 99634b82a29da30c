"""The figure registry: a sweep config's `--figure` name -> its layout and the
paper's claims checked on its data (METHOD.md's last table, claim by claim).

Each `Claim` carries the figure and section it comes from, its kind (effect,
null, trend, where, compare), a one-line paraphrase, and for a claim of no
effect the equivalence margin that decides it. The margins are our choice (the
paper states none): `TEST_MARGIN` for test class accuracy ("marginal", "no
improvement"), `RLA_MARGIN` for random-label accuracy, `DROP_MARGIN` for a
"dramatic" drop. Controls and questions that are ours, not the paper's, are
`Claim(ours=True)`: the report lists them apart.

A claim whose regime the data do not reach (a learning rate above the λ = 0
optimum, a best value inside the grid, the paper's regime of augmentation and
a tuned learning rate, a generalization gap to close) checks that
precondition first and is "not tested" where it fails, saying why (those
checks, and the margins, live in `regimes`).

Over 400 lines because it is data: the claims of the paper, each written out
with its section, paraphrase and check, in one place to read against the
paper.
"""

import dataclasses

from keras_rlr.report import findings as f
from keras_rlr.report import regimes
from keras_rlr.report.findings import TEST_ACC, TRAIN_RLA
from keras_rlr.report.regimes import DROP_MARGIN, RLA_MARGIN, TEST_MARGIN
from keras_rlr.report.results import probe_metric

# The copy depth of the width check (the paper's text lost it): our choice.
WIDTH_DEPTH = "5"


@dataclasses.dataclass
class Claim:
    figure: str  # the paper's figure, e.g. "3A"; "" for ours
    section: str  # the paper's section, e.g. "3.1.3"
    kind: str  # "effect", "null", "trend", "where" or "compare"
    text: str  # the claim, paraphrased in one line
    check: object  # results -> [findings.Part] or findings.NotTested
    margin: str = ""  # for a null claim: the margin that decides it
    ours: bool = False  # a control or question of ours, not the paper's claim

    @property
    def source(self):
        """Where in the paper: "Fig. 3A, §3.1.3"; "ours (…)" for ours."""
        if self.ours:
            return f"ours ({self.section})" if self.section else "ours"
        return f"Fig. {self.figure}, §{self.section}"

    @property
    def where(self):
        margin = f", margin {self.margin}" if self.margin else ""
        return f"{self.source}, {self.kind}{margin}"


@dataclasses.dataclass
class Figure:
    title: str
    layout: str  # "lines", "heatmaps", "bars" or "profile"
    claims: list
    shares: str = ""  # which other reports hold runs of the same settings
    selects: bool = False  # some claim uses a best value picked from the data


# -- Ours: controls and the profile ------------------------------------------------

_CONTROL = Claim(
    "",
    "",
    "null",
    "Test random-label accuracy stays at chance (leak control)",
    f.test_at_chance(),
    ours=True,
)
_ABOVE_CLASS_ONLY = Claim(
    "",
    "",
    "effect",
    "Training random-label accuracy is above what the class alone gives (each "
    "class's most common random label): the heads use information finer than "
    "the class",
    f.above_class_only(),
    ours=True,
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
        results, TRAIN_RLA, "heads d = 1", lambda c: f.Part("", [f._signed(c.diff, -1)])
    )


def _versus_lambda_0(results, metric, where, part):
    """For each λ above the smallest: the `part(compared)` of `metric`'s paired
    difference against the smallest λ."""
    parts = []
    for label, members in f._groups(results, "reg_lambda"):
        (ref_value, ref), others = members[0], members[1:]
        for value, point in others:
            comp = f.compare(results, ref, point, metric)
            made = part(comp)
            made.text = (
                f"{where}: λ={value} − λ={ref_value}{f._where(label)}: "
                f"{f._mean(comp.a)} → {f._mean(comp.b)}, difference {comp}"
            )
            parts.append(made)
    return parts


def _probes_not_lowered(results):
    """At every probe deeper than the heads, λ > 0 leaves training random-label
    accuracy where it was or raises it: non-inferiority against `-RLA_MARGIN`."""
    parts = []
    for depth in results.probe_depths():
        parts += _versus_lambda_0(
            results,
            probe_metric(depth),
            f"probe d = {depth}",
            lambda c: f.Part(
                "",
                [
                    f.Test(c.diff.p_not_below(RLA_MARGIN), True),
                    f.Test(f._cap(2 * c.diff.p_below()), False),
                ],
                power=c.power(RLA_MARGIN, two_sided=False),
                power_text=c.power_text(RLA_MARGIN, False),
            ),
        )
    return parts or [f.Part("no probe metrics: run with --probe_depths")]


def _single_output_points(results):
    return [
        point
        for entries in results.panels.values()
        for values, point in entries
        if regimes.flag(f._full(results, values), "single_output") == "true"
    ]


_MARGIN_TEXT = f"+{TEST_MARGIN:.3f} test accuracy"
_MNIST1D = (
    "fig3b_cpu, figa1_cpu, figa2_cpu and figa3_cpu train the same model on the "
    "same data with the same seeds: a point with the same settings in two of "
    "them is the same run, trained in each sweep and judged in each report's "
    "own family"
)
FIGURES = {
    "fig2": Figure(
        "Fig. 2: dropout, weight decay and label smoothing",
        "lines",
        _FIG_1B
        + [
            _lowers("dropout", "Dropout"),
            _lowers("weight_decay", "Weight decay"),
            _lowers("label_smoothing", "Label smoothing"),
            _ABOVE_CLASS_ONLY,
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
                "The steep rise lies between d = 5 and 7, not between d = 3 and 4 "
                "(rises per depth step, over the whole grid)",
                f.steepest_where("copy_depth", (5, 7), (3, 4)),
            ),
            Claim(
                "3A",
                "3.1.3",
                "null",
                f"Widening the copies gives no significant increase (at d = "
                f"{WIDTH_DEPTH}: our choice, the text lost the depth)",
                f.no_improvement(
                    "copy_width_multiplier",
                    RLA_MARGIN,
                    TRAIN_RLA,
                    lambda full, _: full.get("copy_depth") == WIDTH_DEPTH,
                ),
                f"+{RLA_MARGIN:.3f} random-label accuracy",
            ),
            _CONTROL,
        ],
        "none (profile_cpu trains the same slim VGG16 on digits32, with other "
        "settings)",
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
                "λ > 0 does not improve test accuracy (the paper's regime: "
                "augmentation, the learning rate tuned at λ = 0)",
                regimes.lambda_in_papers_regime,
                _MARGIN_TEXT,
            ),
            _ABOVE_CLASS_ONLY,
            _CONTROL,
        ],
        _MNIST1D,
        selects=True,
    ),
    "figa1": Figure(
        "Fig. A.1: λ × learning rate, with and without augmentation",
        "heatmaps",
        [
            Claim(
                "A.1",
                "A.3",
                "compare",
                "λ acts like a larger learning rate (raising either moves test "
                "accuracy the same way)",
                regimes.like_larger_lr,
            ),
            Claim(
                "A.1",
                "A.3",
                "null",
                "Too high λ causes no dramatic drop of test accuracy",
                regimes.no_dramatic_drop,
                f"−{DROP_MARGIN:.3f} test accuracy",
            ),
            Claim(
                "A.1",
                "A.3",
                "effect",
                "At learning rates above the λ = 0 optimum, increasing λ degrades "
                "test accuracy",
                regimes.degrades_at_high_lr,
            ),
            Claim(
                "A.1",
                "A.3",
                "trend",
                "At learning rates below the λ = 0 optimum (no augmentation), test "
                "accuracy rises with λ",
                regimes.improves_at_low_lr,
            ),
            Claim(
                "A.1",
                "A.3",
                "where",
                "With augmentation, λ helps only at the best learning rate",
                regimes.only_at_best_lr,
                _MARGIN_TEXT + " elsewhere",
            ),
            _CONTROL,
        ],
        _MNIST1D,
        selects=True,
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
                regimes.smoothing_improves,
            ),
            Claim(
                "A.2",
                "A.4",
                "trend",
                "With little or no smoothing (below the best ε), test accuracy "
                "rises with λ",
                regimes.low_smoothing,
            ),
            Claim(
                "A.2",
                "A.4",
                "trend",
                "At the best smoothing and above, λ lowers test accuracy at every step",
                regimes.at_and_above_best_smoothing,
            ),
            Claim(
                "A.2",
                "A.4",
                "null",
                "At the largest λ, label smoothing has no significant effect",
                f.no_effect(
                    regimes.smoothing_pairs_at_max_lambda,
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
                regimes.smoothing_beats_lambda,
            ),
            _CONTROL,
        ],
        _MNIST1D,
        selects=True,
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
                    f.pairs("single_output", "false", "true", regimes.augmented),
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
                    f.pairs("single_output", "false", "true", regimes.not_augmented),
                    -1,
                    TEST_ACC,
                    "single output − baseline, test accuracy",
                ),
            ),
            Claim(
                "A.3",
                "A.5",
                "effect",
                "The single-output variant still learns the random labels (above "
                "the class-only level)",
                f.above_class_only(_single_output_points),
            ),
            _CONTROL,
        ],
        _MNIST1D,
    ),
    "profile": Figure(
        "Memorization profile: λ at d = 1, probes deeper (VGG16)",
        "profile",
        [
            Claim(
                "",
                "the paper's open question, §4",
                "effect",
                "λ > 0 at the heads (d = 1) lowers training random-label "
                "accuracy there",
                _lambda_at_heads,
                ours=True,
            ),
            _ABOVE_CLASS_ONLY,
            Claim(
                "",
                "the paper's open question, §4",
                "null",
                "At every deeper probe, training random-label accuracy stays or "
                "rises under that λ (memorization moves to earlier layers "
                "instead of vanishing)",
                _probes_not_lowered,
                f"−{RLA_MARGIN:.3f} random-label accuracy",
                ours=True,
            ),
            _CONTROL,
        ],
        "none (fig3a_cpu trains the same slim VGG16 on digits32, with other settings)",
    ),
}


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

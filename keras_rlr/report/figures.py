"""The figure registry: a sweep config's `--figure` name -> its layout and
the findings checked on its data."""

import dataclasses

from keras_rlr.report.findings import (
    above_chance,
    largest_jump,
    lowers,
    not_improves,
    rises_after_fit,
    test_at_chance,
    widening_not_explains,
)


@dataclasses.dataclass
class Figure:
    title: str
    layout: str  # "lines", "heatmaps" or "bars"
    findings: list


_CONTROL = test_at_chance("Control: test random-label accuracy stays at chance")
_FINDING_1 = [
    above_chance("1. Training random-label accuracy is well above chance"),
    rises_after_fit(
        "1. It keeps rising after class training accuracy reaches 100 % (≥ 0.99)"
    ),
]
FIGURES = {
    "fig2": Figure(
        "Fig. 2: dropout, weight decay and label smoothing",
        "lines",
        _FINDING_1
        + [
            lowers("dropout", "2. Dropout lowers random-label accuracy"),
            lowers("weight_decay", "2. Weight decay lowers random-label accuracy"),
            lowers(
                "label_smoothing", "2. Label smoothing lowers random-label accuracy"
            ),
            _CONTROL,
        ],
    ),
    "fig3a": Figure(
        "Fig. 3A: copy depth of the random-label heads (VGG16)",
        "lines",
        [
            largest_jump(
                "copy_depth",
                5,
                7,
                "3. Random-label accuracy jumps between copy depths 5 and 7",
            ),
            widening_not_explains(
                "copy_depth",
                "copy_width_multiplier",
                5,
                7,
                "3. Widening the copies at depth 5 does not explain the jump",
            ),
            _CONTROL,
        ],
    ),
    "fig3b": Figure(
        "Fig. 3B/C: the regularizer weight λ",
        "lines",
        _FINDING_1
        + [
            lowers("reg_lambda", "4. λ > 0 lowers random-label accuracy"),
            not_improves("reg_lambda", "4. λ > 0 does not improve test accuracy"),
            _CONTROL,
        ],
    ),
    "figa1": Figure(
        "Fig. A.1: λ × learning rate, with and without augmentation",
        "heatmaps",
        [
            lowers("reg_lambda", "4. λ > 0 lowers random-label accuracy"),
            not_improves("reg_lambda", "4. λ > 0 does not improve test accuracy"),
            _CONTROL,
        ],
    ),
    "figa2": Figure(
        "Fig. A.2: λ × label smoothing",
        "heatmaps",
        [
            lowers("reg_lambda", "4. λ > 0 lowers random-label accuracy"),
            lowers(
                "label_smoothing", "2. Label smoothing lowers random-label accuracy"
            ),
            not_improves("reg_lambda", "4. λ > 0 does not improve test accuracy"),
            _CONTROL,
        ],
    ),
    "figa3": Figure(
        "Fig. A.3: the single-output variant, with and without weight decay",
        "bars",
        [
            lowers(
                "weight_decay",
                "2. Weight decay lowers random-label accuracy (single-output)",
            ),
            _CONTROL,
        ],
    ),
}


def findings(results):
    """The `Outcome` of every finding of the sweep's figure."""
    figure = FIGURES.get(results.figure)
    return [check(results) for check in (figure.findings if figure else [_CONTROL])]

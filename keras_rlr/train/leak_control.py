"""The leak control: is a random-label accuracy on held-out data at chance?

Random labels of examples that were never trained on are unpredictable, so
their accuracy is `Binomial(n, 1/R) / n`. A value outside a band of `z`
binomial standard deviations around chance means the labels leaked (into the
inputs, the pipeline or the model). With `k` decisions made together (every
run of a sweep), `z` is chosen so that the chance of any false alarm is
`alpha` (Bonferroni): a fixed 2-std band would flag some runs by chance.

One definition, used by the run summary (`train.py`) and the sweep report.
"""

import dataclasses
import math
import statistics

ALPHA = 0.05


@dataclasses.dataclass(frozen=True)
class LeakCheck:
    """The decision for one accuracy, with its evidence."""

    accuracy: float
    chance: float
    band: float  # half-width of the band around chance
    z: float  # the band in binomial standard deviations

    @property
    def at_chance(self):
        return abs(self.accuracy - self.chance) <= self.band

    @property
    def distance(self):
        """|accuracy - chance| in units of the band (<= 1: at chance)."""
        return abs(self.accuracy - self.chance) / self.band


def z_value(num_decisions=1, alpha=ALPHA):
    """The two-sided `z` whose family-wise false-alarm rate over
    `num_decisions` decisions is `alpha` (Bonferroni)."""
    if num_decisions < 1:
        raise ValueError(f"num_decisions must be >= 1. Received: {num_decisions}")
    return statistics.NormalDist().inv_cdf(1 - alpha / 2 / num_decisions)


def check(accuracy, chance, num_examples, num_decisions=1, alpha=ALPHA):
    """The `LeakCheck` of `accuracy` measured on `num_examples` examples.

    Args:
        accuracy: the random-label accuracy on held-out data.
        chance: `1 / R`.
        num_examples: the examples it was measured on.
        num_decisions: how many such checks are made together.
        alpha: the family-wise false-alarm rate.
    """
    z = z_value(num_decisions, alpha)
    band = z * math.sqrt(chance * (1 - chance) / num_examples)
    return LeakCheck(float(accuracy), float(chance), band, z)

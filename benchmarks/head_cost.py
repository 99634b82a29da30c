r"""Do the heads cost what their arithmetic costs? Small and wide heads.

    python benchmarks/head_cost.py            # or: make bench

Two parts, each in one process, variants alternating round after round
(`_timing.alternate`), median per-round ratios. Every step is timed two ways
(`--loops`): `train_on_batch` (what a custom loop calls: Keras resets the
metrics and converts the logs on every call) and `fit`, the compiled function
`fit` calls once per step, on a dataset iterator (metrics reset once an epoch).

1. The quickstart CNN (`small_cnn`, 8x8x1 digits, 512 features, C = R = 10,
   batch 32): `RandomLabelModel` at lambda = 0 and 1 against the plain Keras
   classifier `extractor -> Dense(C)`, judged against issue #13's goal (<= 1.03,
   <= 1.05 under load), and `same_arithmetic` (below) on the same extractor:
   the heads' arithmetic done the plainest way Keras can. `plain_again`, a
   second plain classifier, is the control: its ratio is 1 but for the
   machine's noise, and its interval is what one run can resolve. Small
   models pay per op, not per FLOP. `--busy_processes=1` times it with one
   core kept busy ("under load").
2. A grid D x C (R = 10, batch 64) on a one-layer extractor
   `Dense(D, relu)` of a 256-dim input:
   - `plain`: the classifier `extractor -> Dense(C)`;
   - `same_arithmetic`: the same arithmetic done plainly, a class head plus
     one `Dense(C * R)` on held (stop-gradient) features, both trained by
     sparse cross-entropy (target `y * R + rho` for the wide head);
   - `rlr`: `RandomLabelModel` at lambda = 0.
   Printed: `rlr / same_arithmetic` (goal <= 1.10), and the overhead
   `rlr / plain - 1` against its budget `1.2 * share + 0.02`, where the
   heads' FLOP share is their multiply-adds relative to the plain
   classifier's, `D*C*R / (256*D + D*C)`.

Every ratio is the median over rounds with its 95 % confidence interval
(`_timing.ratio_interval`), and a goal's verdict is "met", "not met" or
"can't tell" by that interval.
"""

import functools
import itertools
import statistics

import _timing as timing
import keras
import numpy as np
import tensorflow as tf
from absl import app, flags

import keras_rlr

flags.DEFINE_integer("rounds", 31, "Rounds; each times every variant.")
flags.DEFINE_integer("steps_per_round", 10, "Timed steps per variant per round.")
flags.DEFINE_integer("warmup_steps", 3, "Untimed steps per variant (tracing).")
flags.DEFINE_float(
    "min_round_seconds",
    0.2,
    "More steps per round where a round would be shorter (millisecond steps).",
)
flags.DEFINE_list("dims", ["64", "512", "2048"], "Feature sizes D of the grid.")
flags.DEFINE_list("classes", ["10", "100", "1000"], "Class counts C of the grid.")
flags.DEFINE_bool("grid", True, "Run part 2 (the D x C grid).")
flags.DEFINE_integer(
    "busy_processes",
    0,
    "Busy loops (one core each) running while the quickstart part is timed: "
    "1 on a 2-core machine is the issue's 'under load'.",
)
flags.DEFINE_multi_enum(
    "loops", ["train_on_batch", "fit"], ["train_on_batch", "fit"], "How steps run."
)
FLAGS = flags.FLAGS

R, INPUT_DIM, GRID_BATCH = 10, 256, 64
ROUNDS_TEXT = (
    "{rounds} rounds x at least {steps_per_round} steps (rounds of at least "
    "{min_round_seconds} s)"
)


def sgd():
    return keras.optimizers.SGD(0.01, momentum=0.9)


def cross_entropy():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def step(model, x, y, loop):
    """One training step of `model` on `(x, y)`, run as `loop` runs it."""
    if loop == "train_on_batch":
        return functools.partial(model.train_on_batch, x, y)
    model.make_train_function()
    iterator = iter(tf.data.Dataset.from_tensors((x, y)).repeat())
    return functools.partial(model.train_function, iterator)


def labels(rng, batch, num_classes):
    y = tf.constant(rng.integers(0, num_classes, batch), tf.int32)
    rho = tf.constant(rng.integers(0, R, batch), tf.int32)
    return y, rho


def quickstart_cnn():
    batch, num_classes = 32, 10
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(size=(batch, 8, 8, 1)), tf.float32)
    y, rho = labels(rng, batch, num_classes)

    def extractor():
        keras.utils.set_random_seed(0)
        return keras_rlr.backbones.small_cnn((8, 8, 1), width=32, feature_dim=512)

    def plain():
        model = keras.Sequential([extractor(), keras.layers.Dense(num_classes)])
        model.compile(optimizer=sgd(), loss=cross_entropy(), jit_compile=False)
        return model

    models = {
        "plain": (plain(), y),
        "plain_again": (plain(), y),
        "same_arithmetic": (
            same_arithmetic(extractor(), num_classes),
            (y, y * R + rho),
        ),
    }
    for lam in (0, 1):
        model = keras_rlr.RandomLabelModel(extractor(), num_classes, R, reg_lambda=lam)
        model.compile(optimizer=sgd(), jit_compile=False)
        models[f"rlr_lambda{lam}"] = (model, {"label": y, "random_label": rho})
    goal = 1.05 if FLAGS.busy_processes else 1.03
    print(
        f"Quickstart CNN, batch {batch}, C={num_classes}, R={R}, "
        f"{ROUNDS_TEXT.format(**FLAGS.flag_values_dict())}, "
        f"{FLAGS.busy_processes} busy processes; goal for rlr: <= {goal}"
    )
    print(
        f"{'loop':<16}{'variant':<17}{'median step (s)':>16}"
        f"{'ratio to plain [95% CI]':>26}  {'goal':<12}"
        f"{'to same_arithmetic':>26}"
    )
    for loop in FLAGS.loops:
        variants = {
            name: step(m, x, target, loop) for name, (m, target) in models.items()
        }
        with timing.busy(FLAGS.busy_processes):
            times = timing.alternate(
                variants,
                FLAGS.rounds,
                FLAGS.steps_per_round,
                FLAGS.warmup_steps,
                FLAGS.min_round_seconds,
            )
        for name in models:
            ratio = timing.ratio_interval(times, name, "plain")
            judged, to_same = "", ""
            if name.startswith("rlr"):
                judged = timing.verdict(*ratio[1:], goal)
                to_same = timing.interval_text(
                    *timing.ratio_interval(times, name, "same_arithmetic")
                )
            print(
                f"{loop:<16}{name:<17}{statistics.median(times[name]):>16.5f}"
                f"{timing.interval_text(*ratio):>26}  {judged:<12}{to_same:>26}"
            )


@keras.saving.register_keras_serializable(package="benchmarks")
class StopGradient(keras.layers.Layer):
    def call(self, inputs):
        return keras.ops.stop_gradient(inputs)


def same_arithmetic(fe, num_classes):
    """`fe`'s classifier plus the heads' arithmetic done plainly: a class head
    and one `Dense(C * R)` on held features, each trained by cross-entropy
    (targets `y` and `y * R + rho`)."""
    features = fe.outputs[0]
    wide = keras.layers.Dense(num_classes * R)(StopGradient()(features))
    model = keras.Model(fe.inputs, [keras.layers.Dense(num_classes)(features), wide])
    model.compile(
        optimizer=sgd(), loss=[cross_entropy(), cross_entropy()], jit_compile=False
    )
    return model


def grid_models(dim, num_classes):
    def extractor():
        keras.utils.set_random_seed(0)
        inputs = keras.Input((INPUT_DIM,))
        return keras.Model(inputs, keras.layers.Dense(dim, activation="relu")(inputs))

    plain = keras.Sequential([extractor(), keras.layers.Dense(num_classes)])
    plain.compile(optimizer=sgd(), loss=cross_entropy(), jit_compile=False)
    same = same_arithmetic(extractor(), num_classes)
    rlr = keras_rlr.RandomLabelModel(extractor(), num_classes, R)
    rlr.compile(optimizer=sgd(), jit_compile=False)
    return plain, same, rlr


def grid():
    print(
        f"\nGrid: Dense(D) extractor on {INPUT_DIM} inputs, R={R}, batch "
        f"{GRID_BATCH}, lambda = 0, {ROUNDS_TEXT.format(**FLAGS.flag_values_dict())}"
    )
    print(
        f"{'loop':<16}{'D':>6}{'C':>6}{'rlr step (s)':>14}"
        f"{'rlr/same [95% CI]':>25}  {'goal 1.10':<11}"
        f"{'rlr/plain-1 [95% CI]':>25}{'budget':>8}  budget"
    )
    rng = np.random.default_rng(0)
    for dim, num_classes in itertools.product(
        map(int, FLAGS.dims), map(int, FLAGS.classes)
    ):
        x = tf.constant(rng.normal(size=(GRID_BATCH, INPUT_DIM)), tf.float32)
        y, rho = labels(rng, GRID_BATCH, num_classes)
        plain, same, rlr = grid_models(dim, num_classes)
        heads = dim * num_classes * R
        budget = 1.2 * heads / (INPUT_DIM * dim + dim * num_classes) + 0.02
        for loop in FLAGS.loops:
            times = timing.alternate(
                {
                    "plain": step(plain, x, y, loop),
                    "same": step(same, x, (y, y * R + rho), loop),
                    "rlr": step(rlr, x, {"label": y, "random_label": rho}, loop),
                },
                FLAGS.rounds,
                FLAGS.steps_per_round,
                FLAGS.warmup_steps,
                FLAGS.min_round_seconds,
            )
            to_same = timing.ratio_interval(times, "rlr", "same")
            to_plain = timing.ratio_interval(times, "rlr", "plain")
            print(
                f"{loop:<16}{dim:>6}{num_classes:>6}"
                f"{statistics.median(times['rlr']):>14.5f}"
                f"{timing.interval_text(*to_same):>25}  "
                f"{timing.verdict(*to_same[1:], 1.10):<11}"
                f"{timing.interval_text(*to_plain, offset=1):>25}{budget:>8.3f}  "
                f"{timing.verdict(*to_plain[1:], 1 + budget)}"
            )


def main(argv):
    del argv
    quickstart_cnn()
    if FLAGS.grid:
        grid()


if __name__ == "__main__":
    app.run(main)

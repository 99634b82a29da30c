r"""What does an epoch of `train.py` cost against a plain Keras `fit` epoch?

    python benchmarks/epoch_cost.py            # or: make bench

The quickstart's setting (`configs/quickstart.cfg`: digits, the small CNN,
batch 32, 44 steps an epoch), built by `train.py`'s own builders, in one
process; every variant fits a few epochs per call, alternating round after
round (`_timing.alternate`). An epoch is timed from its start to the end of
the last callback's `on_epoch_end`, so per-epoch callbacks count and `fit`'s
own setup does not; printed: median per-round ratios against `plain`:

- `plain`: the same CNN as a plain Keras classifier (`extractor -> Dense(C)`,
  sparse cross-entropy, accuracy, the same optimizer), compiled with Keras's
  defaults, `fit` on the same batches with the same test set as validation
  data: the issue's "plain `model.fit` epoch";
- `plain_spe`: `plain` compiled with `train.py`'s steps per execution, the
  stricter baseline: it has `train.py`'s one speed-up that is not about the
  heads;
- `rlr`: `RandomLabelModel` as `train.py` compiles it, the same `fit`, no
  callbacks;
- `train_py`: `rlr` with `train.py`'s callbacks (`run_callbacks`: the clean
  train-set evaluation, CSV and TensorBoard logs, the epoch backup, ...).

Each ratio comes with its 95 % confidence interval over rounds
(`_timing.ratio_interval`), against both baselines, and `train_py`'s with
the verdict on issue #13's goal (<= 1.15 against `plain`): "met", "not met"
or "can't tell". `train_py / rlr` is what the per-epoch callbacks cost.
Every fit starts after a garbage collection, untimed, so that no variant's
epochs pay for collecting another's garbage (without it, `rlr`, always the
first fit of its model after `plain`'s, ran 5-10 % slower than `rlr` with any
one cheap callback). With `--per_callback`, one more variant per callback of
`run_callbacks`, `rlr` with that callback alone, each printed as its share of
a `plain_spe` epoch.
"""

import dataclasses
import gc
import statistics
import tempfile
import time

import _timing as timing
import keras
from absl import app, flags

from keras_rlr.train import builders, experiment
from keras_rlr.train import config as config_lib
from keras_rlr.train import flags as flags_lib
from keras_rlr.train.run_directory import RunDirectory

flags.DEFINE_string("config", "configs/quickstart.cfg", "The run's flagfile.")
flags.DEFINE_integer("rounds", 15, "Rounds; each fits every variant once.")
flags.DEFINE_integer("epochs_per_fit", 4, "Epochs of each fit (the first untimed).")
flags.DEFINE_bool("per_callback", False, "Also time each callback alone.")
FLAGS = flags.FLAGS

GOAL = 1.15  # issue #13: a train.py epoch / a plain fit epoch


def main(argv):
    del argv
    parsed = flags_lib.parse_flagfile(FLAGS.config)
    config, _ = config_lib.from_values(
        {name: parsed[name].value for name in flags_lib.names()}
    )
    epochs = (1 + FLAGS.rounds) * FLAGS.epochs_per_fit
    config = dataclasses.replace(config, epochs=epochs)
    inputs = builders.build_inputs(config)
    splits = inputs.splits

    train_py_steps = builders.steps_per_execution(
        config.steps_per_execution, inputs.steps_per_epoch, None
    )

    def compiled(model, steps_per_execution=train_py_steps, **kwargs):
        model.compile(
            optimizer=builders.build_optimizer(config, inputs.steps_per_epoch),
            steps_per_execution=steps_per_execution,
            **kwargs,
        )
        return model

    def build_model():
        keras.utils.set_random_seed(config.seed)  # the same initial weights
        return builders.build_model(config, splits.image_shape, splits.num_classes)

    def plain(steps_per_execution):
        return compiled(
            keras.Sequential(
                [
                    build_model().feature_extractor,
                    keras.layers.Dense(splits.num_classes),
                ]
            ),
            steps_per_execution,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )

    rlr = compiled(build_model())
    plains = {"plain": plain(1), "plain_spe": plain(train_py_steps)}

    def class_labels_only(x, y):
        return x, y["label"]

    test = inputs.test(config)
    plain_data = inputs.train.map(class_labels_only), test.map(class_labels_only)
    run = RunDirectory(tempfile.mkdtemp(prefix="epoch_cost_"))
    callbacks = experiment.run_callbacks(run, inputs, config)
    alone = {}
    if FLAGS.per_callback:
        # Apart from `train_py`'s run directory: a backup restores its epoch.
        own = RunDirectory(tempfile.mkdtemp(prefix="epoch_cost_"))
        alone = {
            type(c).__name__: c for c in experiment.run_callbacks(own, inputs, config)
        }
    epoch = {name: 0 for name in (*plains, "rlr", "train_py", *alone)}
    durations = {name: [] for name in epoch}

    def fit(name, model, train, validation, callbacks=()):
        # Every epoch of the fit is timed from its start to the end of the
        # last callback's `on_epoch_end` (the timer is last in the list); the
        # first epoch of each fit, which opens the iterators, is left out.
        timer = EpochTimer()

        def run_fit():
            gc.collect()
            model.fit(
                train,
                epochs=epoch[name] + FLAGS.epochs_per_fit,
                initial_epoch=epoch[name],
                steps_per_epoch=inputs.steps_per_epoch,
                validation_data=validation,
                callbacks=[*callbacks, timer],
                shuffle=False,
                verbose=0,
            )
            epoch[name] += FLAGS.epochs_per_fit
            durations[name].append(statistics.median(timer.seconds[1:]))

        return run_fit

    fits = {
        **{name: fit(name, model, *plain_data) for name, model in plains.items()},
        "rlr": fit("rlr", rlr, inputs.train, test),
        "train_py": fit("train_py", rlr, inputs.train, test, callbacks),
    }
    for name, callback in alone.items():
        fits[name] = fit(name, rlr, inputs.train, test, [callback])
    timing.alternate(fits, FLAGS.rounds, 1, warmup_steps=0)
    print(
        f"{FLAGS.config}: {inputs.steps_per_epoch} steps an epoch, batch "
        f"{config.batch_size}, train.py's steps per execution {train_py_steps}; "
        f"{FLAGS.rounds} rounds, each one fit of {FLAGS.epochs_per_fit} epochs "
        "per variant (median epoch of each fit)"
    )
    print(
        f"{'variant':<20}{'median epoch (s)':>17}{'ratio to plain [95% CI]':>26}"
        f"  {'goal <= ' + str(GOAL):<14}{'to plain_spe [95% CI]':>26}"
    )
    for name in fits:
        ratio = timing.ratio_interval(durations, name, "plain")
        judged = timing.verdict(*ratio[1:], GOAL) if name == "train_py" else ""
        to_spe = timing.ratio_interval(durations, name, "plain_spe")
        print(
            f"{name:<20}{statistics.median(durations[name]):>17.3f}"
            f"{timing.interval_text(*ratio):>26}  {judged:<14}"
            f"{timing.interval_text(*to_spe):>26}"
        )
    print(
        "callbacks: train_py / rlr = "
        f"{timing.median_ratio(durations, 'train_py', 'rlr'):.3f}"
    )
    for name in alone:
        extra = [
            (a - b) / c
            for a, b, c in zip(
                durations[name], durations["rlr"], durations["plain_spe"], strict=True
            )
        ]
        print(f"{name} alone: {statistics.median(extra):+.3f} of a plain_spe epoch")


class EpochTimer(keras.callbacks.Callback):
    """Seconds from each `on_epoch_begin` to its `on_epoch_end`."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


if __name__ == "__main__":
    app.run(main)

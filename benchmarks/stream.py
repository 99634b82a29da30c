r"""Building and reading the training stream, for few and for many epochs.

    python benchmarks/stream.py            # or: make bench

`keras_rlr.data.training_dataset` yields every epoch of a run back to back. In
one process, alternating round after round, with quickstart-shaped synthetic
data (1,437 digits-sized images, batch 32, no augmentation):

- `build_10`, `build_200`: building the stream for 10 and for 200 epochs;
- `read_first_of_10`, `read_first_of_200`: opening an iterator and reading the
  first epoch of a stream of 10 and of 200 epochs;
- `read_last_of_200`: the same for epoch 199 of 200 (a resumed run's stream,
  `initial_epoch=199`).

Ratios against `build_10` and `read_first_of_10`, medians over rounds with
their 95 % confidence intervals (`_timing.ratio_interval`), should stay near
1: the stream's cost must not depend on the number of epochs.
"""

import statistics

import _timing as timing
import numpy as np
import tensorflow as tf
from absl import app, flags

from keras_rlr import data

flags.DEFINE_integer("num_examples", 1437, "Synthetic training examples.")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_integer("rounds", 15, "Rounds; each times every variant.")
flags.DEFINE_integer("steps_per_round", 2, "Timed steps per variant per round.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(FLAGS.num_examples, 8, 8, 1)).astype(np.float32)
    labels = rng.integers(0, 10, FLAGS.num_examples).astype(np.int32)
    source = tf.data.Dataset.from_tensor_slices((images, labels))
    steps = data.steps_per_epoch(source, FLAGS.batch_size)

    def build(epochs, initial_epoch=0):
        return data.training_dataset(
            source,
            batch_size=FLAGS.batch_size,
            num_random_labels=10,
            seed=0,
            epochs=epochs,
            initial_epoch=initial_epoch,
        )

    def reader(stream):
        def read_one_epoch():
            batches = iter(stream)
            for _ in range(steps):
                next(batches)

        return read_one_epoch

    times = timing.alternate(
        {
            "build_10": lambda: build(10),
            "build_200": lambda: build(200),
            "read_first_of_10": reader(build(10)),
            "read_first_of_200": reader(build(200)),
            "read_last_of_200": reader(build(200, initial_epoch=199)),
        },
        rounds=FLAGS.rounds,
        steps_per_round=FLAGS.steps_per_round,
    )
    print(
        f"{FLAGS.num_examples} examples, batch {FLAGS.batch_size} ({steps} steps "
        f"per epoch), {FLAGS.rounds} rounds x {FLAGS.steps_per_round} steps"
    )
    print(f"{'variant':<20}{'median (s)':>12}{'ratio [95% CI]':>26}  baseline")
    for name, baseline in (
        ("build_10", "build_10"),
        ("build_200", "build_10"),
        ("read_first_of_10", "read_first_of_10"),
        ("read_first_of_200", "read_first_of_10"),
        ("read_last_of_200", "read_first_of_10"),
    ):
        print(
            f"{name:<20}{statistics.median(times[name]):>12.4f}"
            f"{timing.interval_text(*timing.ratio_interval(times, name, baseline)):>26}"
            f"  {baseline}"
        )


if __name__ == "__main__":
    app.run(main)

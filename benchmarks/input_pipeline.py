r"""Is training ever input-bound? Pipeline throughput against the model's.

    python benchmarks/input_pipeline.py

In one process, alternating, round after round:

- `pipeline`: images/s that `keras_rlr.data.training_dataset` delivers for
  CIFAR-shaped data (32x32x3, float32), augmentation on, random labels
  attached, batched, after its first (cache-filling) epoch;
- `model`: images/s that `RandomLabelModel` on WideResNet-16-4 (C = 100,
  R = 10) consumes in training steps.

Prints the median of each and the median per-round ratio; the pipeline should
be at least 5x faster than the model. Both share the machine's cores, timed one
at a time (`_timing.alternate`).
"""

import functools
import statistics

import _timing as timing
import keras
import numpy as np
import tensorflow as tf
from absl import app, flags

import keras_rlr
from keras_rlr import data

flags.DEFINE_integer("num_examples", 10_000, "Synthetic training examples.")
flags.DEFINE_integer("pipeline_batch_size", 256, "Batch size of the pipeline.")
flags.DEFINE_integer("model_batch_size", 64, "Batch size of the timed model steps.")
flags.DEFINE_integer("rounds", 3, "Rounds; each measures both.")
flags.DEFINE_integer(
    "steps_per_round",
    3,
    "Timed steps of each per round: a model step is one training step, a "
    "pipeline step reads --batches_per_step batches.",
)
flags.DEFINE_integer("batches_per_step", 10, "Batches a pipeline step reads.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(FLAGS.num_examples, 32, 32, 3)).astype(np.float32)
    labels = rng.integers(0, 100, FLAGS.num_examples).astype(np.int32)
    source = tf.data.Dataset.from_tensor_slices((images, labels))
    steps = data.steps_per_epoch(source, FLAGS.pipeline_batch_size)
    timed_batches = FLAGS.rounds * FLAGS.steps_per_round * FLAGS.batches_per_step
    stream = data.training_dataset(
        source,
        batch_size=FLAGS.pipeline_batch_size,
        num_random_labels=10,
        seed=0,
        epochs=3 + timed_batches // steps,
        augment=True,
    )
    batches = iter(stream)
    for _ in range(steps):
        next(batches)  # the first epoch fills the cache

    model = keras_rlr.RandomLabelModel(
        keras_rlr.backbones.wide_resnet(16, 4, (32, 32, 3)), 100, 10
    )
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), jit_compile=False)
    x, y = next(batches)
    x, y = (
        x[: FLAGS.model_batch_size],
        {k: v[: FLAGS.model_batch_size] for k, v in y.items()},
    )
    model.train_on_batch(x, y)  # trace

    def read_batches():
        for _ in range(FLAGS.batches_per_step):
            next(batches)

    times = timing.alternate(
        {
            "pipeline": read_batches,
            "model": functools.partial(model.train_on_batch, x, y),
        },
        rounds=FLAGS.rounds,
        steps_per_round=FLAGS.steps_per_round,
        warmup_steps=0,  # the cache is filled and the model traced above
    )
    per_pipeline_step = FLAGS.batches_per_step * FLAGS.pipeline_batch_size
    pipeline = per_pipeline_step / statistics.median(times["pipeline"])
    consumed = FLAGS.model_batch_size / statistics.median(times["model"])
    # images/s of the pipeline over the model's, round by round.
    ratio = timing.median_ratio(times, "model", "pipeline") * (
        per_pipeline_step / FLAGS.model_batch_size
    )
    print(f"{FLAGS.rounds} rounds, medians (images/s):")
    print(f"  input pipeline (augment, random labels)  {pipeline:10.0f}")
    print(f"  WRN-16-4 RandomLabelModel training       {consumed:10.0f}")
    print(f"  median ratio pipeline / model             {ratio:10.1f}x")


if __name__ == "__main__":
    app.run(main)

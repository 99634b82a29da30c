r"""Is training ever input-bound? Pipeline throughput against the model's.

    python benchmarks/input_pipeline.py

In one process, alternating, round after round:

- `pipeline`: images/s that `keras_rlr.data.training_dataset` delivers for
  CIFAR-shaped data (32x32x3, float32), augmentation on, random labels
  attached, batched, after its first (cache-filling) epoch;
- `model`: images/s that `RandomLabelModel` on WideResNet-16-4 (C = 100,
  R = 10) consumes in training steps.

Prints the median of each and their ratio; the pipeline should be at least 5x
faster than the model. Both share the machine's cores, measured one at a time.
"""

import statistics
import time

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
flags.DEFINE_integer("pipeline_batches", 30, "Batches read per pipeline round.")
flags.DEFINE_integer("model_steps", 3, "Training steps per model round.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(FLAGS.num_examples, 32, 32, 3)).astype(np.float32)
    labels = rng.integers(0, 100, FLAGS.num_examples).astype(np.int32)
    source = tf.data.Dataset.from_tensor_slices((images, labels))
    steps = data.steps_per_epoch(source, FLAGS.pipeline_batch_size)
    stream = data.training_dataset(
        source,
        batch_size=FLAGS.pipeline_batch_size,
        num_random_labels=10,
        seed=0,
        epochs=3 + FLAGS.rounds * FLAGS.pipeline_batches // steps,
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

    pipeline_rates, model_rates = [], []
    for _ in range(FLAGS.rounds):
        start = time.perf_counter()
        for _ in range(FLAGS.pipeline_batches):
            next(batches)
        pipeline_rates.append(
            FLAGS.pipeline_batches
            * FLAGS.pipeline_batch_size
            / (time.perf_counter() - start)
        )
        start = time.perf_counter()
        for _ in range(FLAGS.model_steps):
            model.train_on_batch(x, y)
        model_rates.append(
            FLAGS.model_steps * FLAGS.model_batch_size / (time.perf_counter() - start)
        )

    pipeline, consumed = (
        statistics.median(pipeline_rates),
        statistics.median(model_rates),
    )
    print(f"{FLAGS.rounds} rounds, medians (images/s):")
    print(f"  input pipeline (augment, random labels)  {pipeline:10.0f}")
    print(f"  WRN-16-4 RandomLabelModel training       {consumed:10.0f}")
    print(f"  ratio pipeline / model                    {pipeline / consumed:10.1f}x")


if __name__ == "__main__":
    app.run(main)

r"""XLA or not: `RandomLabelModel` training steps with `jit_compile` off and on.

    python benchmarks/jit_compile.py

Two copies of the same model (WideResNet-16-4, C = 100, R = 10, CIFAR-shaped
synthetic batch), compiled with `jit_compile=False` and `True`, timed in
alternating rounds in one process; prints the median step times and the
median per-round ratio on/off. `train.py` defaults to `--jit_compile=off`
because this ratio was above 1 on CPU.
"""

import functools
import statistics
import time

import _timing as timing
import keras
import numpy as np
from absl import app, flags

import keras_rlr

flags.DEFINE_integer("batch_size", 64, "Batch size of every timed step.")
flags.DEFINE_integer("rounds", 6, "Rounds; each times both variants.")
flags.DEFINE_integer("steps_per_round", 3, "Timed steps per variant per round.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(FLAGS.batch_size, 32, 32, 3)).astype(np.float32)
    y = {
        "label": rng.integers(0, 100, FLAGS.batch_size),
        "random_label": rng.integers(0, 10, FLAGS.batch_size),
    }
    models = {}
    for name, jit in (("off", False), ("on", True)):
        keras.utils.set_random_seed(0)
        model = keras_rlr.RandomLabelModel(
            keras_rlr.backbones.wide_resnet(16, 4, (32, 32, 3)), 100, 10
        )
        model.compile(
            optimizer=keras.optimizers.SGD(0.01, momentum=0.9), jit_compile=jit
        )
        start = time.perf_counter()
        model.train_on_batch(x, y)  # trace (and compile)
        print(
            f"jit_compile={name}: first step (tracing/compiling) "
            f"{time.perf_counter() - start:.1f} s"
        )
        models[name] = model

    times = timing.alternate(
        {name: functools.partial(m.train_on_batch, x, y) for name, m in models.items()},
        rounds=FLAGS.rounds,
        steps_per_round=FLAGS.steps_per_round,
        warmup_steps=0,  # traced and compiled above
    )
    print(
        f"WRN-16-4, batch {FLAGS.batch_size}, {FLAGS.rounds} rounds x "
        f"{FLAGS.steps_per_round} steps"
    )
    for name in models:
        print(
            f"  jit_compile={name:<4} median step "
            f"{statistics.median(times[name]):.3f} s"
        )
    print(f"  median ratio on/off: {timing.median_ratio(times, 'on', 'off'):.2f}")


if __name__ == "__main__":
    app.run(main)

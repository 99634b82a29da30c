r"""Cost of probes: one run with k probes vs k separate runs, and vs no probes.

    python benchmarks/probes.py                       # VGG16 at width 1/8, CPU
    python benchmarks/probes.py --width=1 --rounds=5  # the paper's VGG16 (GPU)

For VGG16 on CIFAR-shaped synthetic data (C classes, R = 10) times one training
step (`train_on_batch`) of:

- `none`: heads at `--copy_depth`, no probes;
- `probes`: the same, with probes at every depth of `--probe_depths`;
- `sep_d<k>`: a separate model with its heads at depth `k`, no probes (what a
  run per depth costs, the alternative to probes).

Variants alternate in a shuffled order, round after round, in one process
(`_timing.alternate`); a ratio is the median over rounds of the per-round
ratio. Goal: `probes / sum(sep)` < 1 (one run with k probes costs less than k
separate runs). `probes / none` is the price of the probes.
"""

import functools
import statistics

import _timing as timing
import keras
import numpy as np
from absl import app, flags

import keras_rlr
from keras_rlr import backbones

flags.DEFINE_float("width", 0.125, "VGG16 width multiplier (1: 64...512 channels).")
flags.DEFINE_integer("num_classes", 10, "C.")
flags.DEFINE_integer("batch_size", 32, "Batch size of every timed step.")
flags.DEFINE_integer("rounds", 3, "Rounds; each times every variant.")
flags.DEFINE_integer("steps_per_round", 2, "Timed steps per variant per round.")
flags.DEFINE_integer("copy_depth", 1, "Depth of the main heads.")
flags.DEFINE_list("probe_depths", ["3", "5", "7"], "Depths of the probes.")
FLAGS = flags.FLAGS

R = 10


def make_variants():
    def model(depth, probe_depths=()):
        keras.utils.set_random_seed(0)
        vgg = backbones.vgg16(FLAGS.num_classes, (32, 32, 3), width=FLAGS.width)
        built = keras_rlr.RandomLabelModel.from_classifier(
            vgg,
            split_layer=backbones.vgg16_split_layer(depth),
            probe_layers=[backbones.vgg16_split_layer(d) for d in probe_depths],
            num_random_labels=R,
        )
        built.compile(
            optimizer=keras.optimizers.SGD(0.01, momentum=0.9), jit_compile=False
        )
        return built

    depths = [int(d) for d in FLAGS.probe_depths]
    variants = {
        "none": model(FLAGS.copy_depth),
        "probes": model(FLAGS.copy_depth, depths),
    }
    for depth in depths:
        variants[f"sep_d{depth}"] = model(depth)
    return variants


def main(argv):
    del argv
    rng = np.random.default_rng(0)
    n = FLAGS.batch_size
    x = rng.uniform(size=(n, 32, 32, 3)).astype(np.float32)
    targets = {
        "label": rng.integers(0, FLAGS.num_classes, n),
        "random_label": rng.integers(0, R, n),
    }
    variants = make_variants()
    times = timing.alternate(
        {
            name: functools.partial(model.train_on_batch, x, targets)
            for name, model in variants.items()
        },
        rounds=FLAGS.rounds,
        steps_per_round=FLAGS.steps_per_round,
        warmup_steps=2,
    )
    separate = [name for name in times if name.startswith("sep_")]
    times["sum_sep"] = [
        sum(row) for row in zip(*(times[name] for name in separate), strict=True)
    ]
    print(
        f"VGG16 width {FLAGS.width:g}, C={FLAGS.num_classes}, R={R}, batch {n}, "
        f"heads at d={FLAGS.copy_depth}, probes at d={','.join(FLAGS.probe_depths)}; "
        f"{FLAGS.rounds} rounds x {FLAGS.steps_per_round} steps, medians"
    )
    for name, values in times.items():
        print(f"  {name:>8}: {statistics.median(values):.3f} s/step")
    print(
        f"  probes / sum(sep) = {timing.median_ratio(times, 'probes', 'sum_sep'):.2f}"
        f"   probes / none = {timing.median_ratio(times, 'probes', 'none'):.2f}",
        flush=True,
    )


if __name__ == "__main__":
    app.run(main)

r"""Cost of copy-depth heads: fused copies vs C separate copies vs the FLOP ideal.

    python benchmarks/copy_depth.py                 # VGG16 at width 1/8, CPU-sized
    python benchmarks/copy_depth.py --width=1       # the paper's VGG16 (a GPU job)

For VGG16 on CIFAR-shaped synthetic data, R = 10, C in {100, 10} and copy
depths d in {1, 3, 4, 7}, times one training step (`train_on_batch`) of:

- `plain`: the VGG16 classifier alone (sparse cross-entropy);
- `fused`: `RandomLabelModel.from_classifier`, heads = one `CopiedHeads` layer;
- `naive`: the same model with the heads as `C` separate Keras copies
  (`keras_rlr.reference.separate_copies`), stacked.

The ideal is what the copies' arithmetic costs if it ran as efficiently as the
network's own: `t_plain * (1 + C * FLOPs_copy / FLOPs_network)`, with
multiply-adds of every conv and dense layer counted from the built models
(`FLOPs_copy`: one copy of the tail, `R` outputs). Variants alternate in a
shuffled order, round after round, in one process; each printed ratio is the
median over rounds of the per-round ratio. Goal: `fused / ideal <= 1.3` and
`fused < naive`.
"""

import functools
import statistics

import _timing as timing
import keras
import numpy as np
from absl import app, flags
from keras import ops

import keras_rlr
from keras_rlr import backbones, reference

flags.DEFINE_float("width", 0.125, "VGG16 width multiplier (1: 64...512 channels).")
flags.DEFINE_integer("batch_size", 32, "Batch size of every timed step.")
flags.DEFINE_integer("rounds", 3, "Rounds; each times every variant.")
flags.DEFINE_integer("steps_per_round", 2, "Timed steps per variant per round.")
flags.DEFINE_list("num_classes", ["100", "10"], "Values of C.")
flags.DEFINE_list("depths", ["1", "3", "4", "7"], "Copy depths d.")
flags.DEFINE_bool("naive", True, "Also time C separate copies (slow to trace).")
FLAGS = flags.FLAGS

R = 10


class SeparateCopies(keras.layers.Layer):
    """The naive heads: `C` Keras models called one after another, stacked."""

    def __init__(self, copies, **kwargs):
        super().__init__(**kwargs)
        self.copies = copies

    def call(self, features, training=None):
        return ops.stack([m(features, training=training) for m in self.copies], 1)


def multiply_adds(model):
    """Forward multiply-adds per example of every Conv2D and Dense layer."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            h, w = layer.output.shape[1:3]
            total += h * w * kh * kw * cin * cout
        elif isinstance(layer, keras.layers.Dense):
            total += layer.kernel.shape[0] * layer.kernel.shape[1]
    return total


def make_variants(num_classes, depth):
    def vgg():
        keras.utils.set_random_seed(0)
        return backbones.vgg16(num_classes, (32, 32, 3), width=FLAGS.width)

    def sgd():
        return keras.optimizers.SGD(0.01, momentum=0.9)

    split = backbones.vgg16_split_layer(depth)
    plain = vgg()
    plain.compile(
        optimizer=sgd(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=False,
    )
    fused = keras_rlr.RandomLabelModel.from_classifier(
        vgg(), split_layer=split, num_random_labels=R
    )
    fused.compile(optimizer=sgd(), jit_compile=False)
    feature_shape = fused.feature_extractor.output_shape
    copies = reference.separate_copies(fused.random_heads, feature_shape)
    variants = {"plain": plain, "fused": fused}
    if FLAGS.naive:
        base = keras_rlr.RandomLabelModel.from_classifier(
            vgg(), split_layer=split, num_random_labels=R
        )
        naive = keras_rlr.RandomLabelModel(
            base.feature_extractor,
            num_classes,
            R,
            class_head=base.class_head,
            random_heads=SeparateCopies(copies),
        )
        naive.compile(optimizer=sgd(), jit_compile=False)
        variants["naive"] = naive
    flops_ratio = multiply_adds(copies[0]) / multiply_adds(plain)
    return variants, flops_ratio


def main(argv):
    del argv
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(FLAGS.batch_size, 32, 32, 3)).astype(np.float32)
    print(
        f"VGG16 width {FLAGS.width:g}, batch {FLAGS.batch_size}, R={R}, "
        f"{FLAGS.rounds} rounds x {FLAGS.steps_per_round} steps; "
        f"ideal = plain x (1 + C x FLOPs_copy / FLOPs_network)"
    )
    print(
        f"{'C':>4}{'d':>3}{'C*copy/net':>12}{'plain (s)':>11}{'fused (s)':>11}"
        f"{'naive (s)':>11}{'fused/ideal':>13}{'naive/fused':>13}"
    )
    for num_classes in [int(c) for c in FLAGS.num_classes]:
        for depth in [int(d) for d in FLAGS.depths]:
            variants, flops_ratio = make_variants(num_classes, depth)
            y = rng.integers(0, num_classes, FLAGS.batch_size)
            rho = rng.integers(0, R, FLAGS.batch_size)
            targets = {"label": y, "random_label": rho}

            def step(name, variants=variants, y=y, targets=targets):
                target = y if name == "plain" else targets
                variants[name].train_on_batch(x, target)

            times = timing.alternate(
                {name: functools.partial(step, name) for name in variants},
                rounds=FLAGS.rounds,
                steps_per_round=FLAGS.steps_per_round,
                warmup_steps=2,
            )
            extra = num_classes * flops_ratio
            fused_ideal = timing.median_ratio(times, "fused", "plain") / (1 + extra)
            nan = float("nan")
            naive_fused = (
                timing.median_ratio(times, "naive", "fused")
                if "naive" in times
                else nan
            )
            naive_time = statistics.median(times.get("naive", [nan]))
            print(
                f"{num_classes:>4}{depth:>3}{extra:>12.3f}"
                f"{statistics.median(times['plain']):>11.3f}"
                f"{statistics.median(times['fused']):>11.3f}"
                f"{naive_time:>11.3f}"
                f"{fused_ideal:>13.2f}"
                f"{naive_fused:>13.2f}",
                flush=True,
            )
            keras.backend.clear_session()


if __name__ == "__main__":
    app.run(main)

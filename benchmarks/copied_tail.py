r"""What `C` copies of a tail cost: fused, a loop of the template, vectorized,
against a loop of `C` Keras clones and against one tail's time (and FLOPs) x C.

    python benchmarks/copied_tail.py
    python benchmarks/copied_tail.py --cases=transformer --copies=100

Each case cuts a classifier with `from_classifier`'s splitter and copies the
tail after the cut `C` times, then times a training step's worth of work
(forward in training mode, then gradients with respect to every copy's
weights) in a `tf.function`:

- `clones`: the baseline, `C` separate Keras models (fresh clones of the
  tail), called one after another and stacked;
- `loop`: `CopiedTail(implementation="loop")`, the template's
  `stateless_call` on each copy's slice of the stacked weights;
- `vectorized`: `CopiedTail(implementation="vectorized")`,
  `tf.vectorized_map` over the copies;
- `fused`: `CopiedHeads`, where the tail is a chain it supports;
- `one`: a single tail (one copy); `C x one` is what the copies would cost if
  they ran at one tail's speed, and `FLOPs x C` (forward, counted by TF's
  profiler on one tail) is the arithmetic they must do.

Variants alternate in a shuffled order, round after round (`_timing`); the
printed ratios are medians over rounds of each variant's time over the
baseline's in the same round. The result decides `copied_tail.choose`.
"""

import copy
import statistics

import _timing as timing
import keras
import numpy as np
import tensorflow as tf
from absl import app, flags

from keras_rlr import classifier_split
from keras_rlr.copied_heads import CopiedHeads
from keras_rlr.copied_tail import CopiedTail

flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_integer("copies", 10, "C, the copies (classes).")
flags.DEFINE_integer("rounds", 7, "Rounds; each times every variant.")
flags.DEFINE_integer("steps_per_round", 3, "Timed steps per variant per round.")
flags.DEFINE_list("cases", [], "Only these cases (default: all of CASES).")
FLAGS = flags.FLAGS

R = 10


def mobilenetv2(classes):
    model = keras.applications.MobileNetV2(
        weights=None, input_shape=(32, 32, 3), classes=classes, alpha=0.35
    )
    return model, "block_14_add"


def resnet50(classes):
    model = keras.applications.ResNet50(
        weights=None, input_shape=(32, 32, 3), classes=classes
    )
    return model, "conv5_block2_out"


def efficientnetb0(classes):
    model = keras.applications.EfficientNetB0(
        weights=None, input_shape=(32, 32, 3), classes=classes
    )
    return model, "block6d_add"


def transformer(classes):
    """Two pre-norm transformer blocks on 16 tokens of width 32."""
    inputs = keras.Input((16,), dtype="int32")
    x = keras.layers.Embedding(100, 32)(inputs)
    for i in range(2):
        y = keras.layers.LayerNormalization(name=f"ln{i}")(x)
        y = keras.layers.MultiHeadAttention(2, 16, name=f"mha{i}")(y, y)
        x = keras.layers.Add(name=f"add{i}a")([x, y])
        y = keras.layers.LayerNormalization(name=f"ln{i}b")(x)
        y = keras.layers.Dense(64, activation="gelu", name=f"ffn{i}")(y)
        y = keras.layers.Dense(32, name=f"ffn{i}b")(y)
        x = keras.layers.Add(name=f"block{i}")([x, y])
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes)(x)), "block0"


def vgg_chain(classes):
    """A chain CopiedHeads fuses: conv, batch norm, pooling, two dense."""
    inputs = keras.Input((8, 8, 32))
    x = keras.layers.Conv2D(32, 3, padding="same", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(64, activation="relu", name="fc")(x)
    return keras.Model(inputs, keras.layers.Dense(classes)(x)), "input"


CASES = {
    "mobilenetv2": mobilenetv2,
    "resnet50": resnet50,
    "efficientnetb0": efficientnetb0,
    "transformer": transformer,
    "vgg_chain": vgg_chain,
}


def variants(case):
    classifier, cut_after = CASES[case](FLAGS.copies)
    if cut_after == "input":
        cut_after = classifier.inputs[0]._keras_history.operation.name
    graph = classifier_split._Graph(classifier, [])
    cut = graph.cut_after(cut_after, "split_after")
    tail = graph.tail(cut)
    extractor = keras.Model(classifier.inputs, cut)
    shape = (FLAGS.batch_size, *classifier.inputs[0].shape[1:])
    if classifier.inputs[0].dtype == "int32":
        x = np.random.default_rng(0).integers(0, 100, shape)
    else:
        x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    features = tf.constant(extractor(x))
    copied = classifier_split._copies(
        tail, cut, "heads", FLAGS.copies, R, 1.0, conv_implementation="auto"
    )
    if isinstance(copied, CopiedHeads):
        fused, copied = copied, _generic(tail, cut)
    else:
        fused = None
    template = copied._template
    heads = {
        "loop": CopiedTail(copied.template, FLAGS.copies, implementation="loop"),
        "vectorized": CopiedTail(
            copied.template, FLAGS.copies, implementation="vectorized"
        ),
        "one": CopiedTail(copied.template, 1, implementation="loop"),
    }
    if fused is not None:
        heads["fused"] = fused
    clones = [
        keras.saving.deserialize_keras_object(copy.deepcopy(copied.template))
        for _ in range(FLAGS.copies)
    ]
    heads["clones"] = _Clones(clones)
    steps = {}
    for name, head in heads.items():
        head(features)  # build
        steps[name] = _step(head, features)
    return steps, _flops(template, features)


def _generic(tail, cut):
    """The CopiedTail of a chain that CopiedHeads would fuse."""
    inputs = keras.Input(tuple(cut.shape[1:]))
    last = tail[-1].operation

    def clone(op):
        config = op.get_config()
        if op is last:
            config.update(units=R, activation="linear")
        return op.__class__.from_config(config)

    tensors = classifier_split._rebuild(tail, cut, inputs, clone)
    return CopiedTail(
        keras.Model(inputs, tensors[id(tail[-1].outputs[0])]), FLAGS.copies
    )


class _Clones(keras.layers.Layer):
    def __init__(self, clones):
        super().__init__(name="clones")
        self.clones = clones

    def call(self, x, training=None):
        return tf.stack([c(x, training=training) for c in self.clones], axis=1)


def _step(head, features):
    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(head(features, training=True))
        return tape.gradient(loss, head.trainable_variables)

    return step


def _flops(template, features):
    """Forward FLOPs of one tail on the batch, counted by TF's profiler."""
    function = tf.function(lambda x: template(x, training=False))
    graph = function.get_concrete_function(
        tf.TensorSpec(features.shape, features.dtype)
    ).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(graph, options=options).total_float_ops


def main(argv):
    del argv
    keras.utils.set_random_seed(0)
    print(
        f"C = {FLAGS.copies} copies, R = {R}, batch {FLAGS.batch_size}; "
        "time of a training step (forward + weight gradients) over clones' "
        "(a loop of C Keras models), median over rounds"
    )
    print(
        "| case | tail GFLOP x C | clones ms | fused | loop | vectorized | "
        "C x one | fastest |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for case in FLAGS.cases or CASES:
        steps, flops = variants(case)
        times = timing.alternate(
            steps, FLAGS.rounds, FLAGS.steps_per_round, warmup_steps=2
        )
        ratio = {name: timing.median_ratio(times, name, "clones") for name in steps}
        cells = []
        for name in ("fused", "loop", "vectorized"):
            cells.append(f"{ratio[name]:.2f}" if name in ratio else "-")
        fastest = min(
            (n for n in ("fused", "loop", "vectorized") if n in ratio),
            key=ratio.get,
        )
        print(
            f"| {case} | {flops * FLAGS.copies / 1e9:.3f} | "
            f"{1e3 * statistics.median(times['clones']):.1f} | {' | '.join(cells)} | "
            f"{FLAGS.copies * ratio['one']:.2f} | {fastest} |"
        )


if __name__ == "__main__":
    app.run(main)

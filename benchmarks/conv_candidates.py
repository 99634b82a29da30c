r"""Which per-copy convolution is fastest here: grouped, a loop, patches, dense?

    python benchmarks/conv_candidates.py
    python benchmarks/conv_candidates.py --candidates=patches,dense  # no grouped

`CopiedHeads` runs `C` copies of a convolution, copy `c` on its own channel
slice of a `(batch, H, W, C * in)` tensor. Four candidates compute the same
numbers (`keras_rlr.per_copy_conv.per_copy_conv`):

- `grouped`: one `Conv2D`-style grouped convolution (`groups = C`);
- `loop`: `C` ordinary convolutions on channel slices, concatenated;
- `patches`: extract 3x3 patches once, then one batched matrix product over the
  copies;
- `dense`: each copy's convolution as a dense `(H * W * in, H' * W' * out)`
  matrix (one gather of the kernel), then one batched matrix product.

Each case times a training step's worth of work (forward, then gradients with
respect to the input and the kernel) in a `tf.function`, on shapes of the
copied VGG16 convolutions (batch 32). The candidates alternate in a shuffled
order, round after round; the printed ratio is the median over rounds of each
candidate's time over `loop`'s time in the same round. The result decides
`per_copy_conv.AUTO_CONV` per device type (docs/heads_at_any_depth.md).
"""

import functools
import statistics

import _timing as timing
import numpy as np
import tensorflow as tf
from absl import app, flags

from keras_rlr.per_copy_conv import per_copy_conv

flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_integer("rounds", 7, "Rounds; each times every candidate.")
flags.DEFINE_integer("steps_per_round", 3, "Timed steps per candidate per round.")
flags.DEFINE_list(
    "cases", [], "Only these cases, as C:H:in:out (default: all of CASES)."
)
flags.DEFINE_list(
    "candidates",
    [],
    "Only these candidates besides loop (default: all of CANDIDATES; grouped "
    "takes minutes per case on CPU).",
)
FLAGS = flags.FLAGS

CANDIDATES = ("loop", "grouped", "patches", "dense")
# (copies C, spatial size H = W, channels in, channels out): VGG16 convolutions
# on 32x32 inputs at width 1/8 (C = 100) and full width (C = 10).
CASES = (
    (100, 2, 64, 64),
    (100, 4, 32, 64),
    (100, 8, 32, 32),
    (10, 2, 512, 512),
    (10, 4, 256, 512),
    (10, 8, 256, 256),
)


def make_step(implementation):
    @tf.function(jit_compile=False)
    def step(x, kernel):
        with tf.GradientTape() as tape:
            tape.watch([x, kernel])
            y = per_copy_conv(x, kernel, implementation=implementation)
            loss = tf.reduce_sum(y * y)
        return tape.gradient(loss, [x, kernel])

    return step


def candidate_names():
    chosen = FLAGS.candidates or CANDIDATES
    return ("loop",) + tuple(c for c in CANDIDATES if c != "loop" and c in chosen)


def time_case(copies, size, channels_in, channels_out):
    rng = np.random.default_rng(0)
    x = tf.constant(
        rng.normal(size=(FLAGS.batch_size, size, size, copies * channels_in)),
        tf.float32,
    )
    kernel = tf.constant(
        rng.normal(size=(copies, 3, 3, channels_in, channels_out)) * 0.05, tf.float32
    )
    candidates = candidate_names()
    steps = {name: make_step(name) for name in candidates}
    reference = steps["loop"](x, kernel)
    for step in steps.values():  # trace, warm up and check agreement
        for got, want in zip(step(x, kernel), reference, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)

    def run(name):
        [g.numpy() for g in steps[name](x, kernel)]  # wait for the results

    return timing.alternate(
        {name: functools.partial(run, name) for name in candidates},
        rounds=FLAGS.rounds,
        steps_per_round=FLAGS.steps_per_round,
        warmup_steps=0,  # traced and warmed up by the check above
    )


def main(argv):
    del argv
    device = "GPU" if tf.config.list_logical_devices("GPU") else "CPU"
    print(
        f"{device}; batch {FLAGS.batch_size}, {FLAGS.rounds} rounds x "
        f"{FLAGS.steps_per_round} steps; forward + input and kernel gradients"
    )
    header = f"{'C':>4}{'HxW':>6}{'in->out':>10}"
    for name in candidate_names():
        header += f"{name + ' (s)':>14}{'ratio':>7}"
    print(header)
    cases = [tuple(int(v) for v in c.split(":")) for c in FLAGS.cases] or CASES
    for case in cases:
        times = time_case(*case)
        copies, size, channels_in, channels_out = case
        line = f"{copies:>4}{f'{size}x{size}':>6}{f'{channels_in}->{channels_out}':>10}"
        for name in candidate_names():
            line += (
                f"{statistics.median(times[name]):>14.4f}"
                f"{timing.median_ratio(times, name, 'loop'):>7.2f}"
            )
        print(line, flush=True)


if __name__ == "__main__":
    app.run(main)

"""Per-copy convolutions: `C` convolutions, copy `c` on its own channel slice.

How `CopiedHeads` runs the convolutions of its copies after the first (the
first sees one shared input and is one wide convolution). Several
implementations compute the same numbers at very different speeds per device
(`benchmarks/conv_candidates.py`); `choose` picks one for `"auto"`.
"""

import keras
import numpy as np
from keras import ops

IMPLEMENTATIONS = ("auto", "grouped", "loop", "patches", "dense")

# Which per-copy convolution `conv_implementation="auto"` runs, per device
# type: the fastest in `benchmarks/conv_candidates.py` (numbers in
# docs/heads_at_any_depth.md). On this project's CPU, grouped convolution was 29x to
# 94x slower than a loop (benchmarks/conv_candidates.py); on input maps of at most
# `DENSE_MAX_PIXELS` pixels a batched product with each copy's dense
# convolution matrix ("dense") took 0.14x the loop's time (C = 100, 2x2, 64
# channels; patches 0.41x), and the loop won on larger maps (4x4: dense 1.7x
# and 3.4x the loop's time at C = 100 and C = 10, patches 1.6x and 0.95x). On
# GPUs cuDNN runs grouped convolutions natively (not measured here).
AUTO_CONV = {"cpu": "loop", "gpu": "grouped"}
DENSE_MAX_PIXELS = 4


def choose(implementation, pixels):
    """The implementation to run: `implementation`, or for `"auto"` the fastest
    measured for this device type on input maps of `pixels` pixels."""
    if implementation != "auto":
        return implementation
    implementation = AUTO_CONV[_device_type()]
    if implementation == "loop" and pixels <= DENSE_MAX_PIXELS:
        return "dense"
    return implementation


def per_copy_conv(x, kernel, strides=(1, 1), padding="same", implementation="loop"):
    """`C` convolutions, copy `c` reading and writing its own channel slice.

    Args:
        x: `(batch, H, W, C * in)`, copy-major channels; for
            `implementation="wide"`, `(batch, H, W, in)`, shared by all copies.
        kernel: `(C, kh, kw, in, out)`.
        strides: the convolution strides.
        padding: `"same"` or `"valid"`.
        implementation: `"grouped"` (one grouped convolution), `"loop"` (`C`
            convolutions on channel slices), `"patches"` (one batched matrix
            product over extracted patches), `"dense"` (one batched matrix
            product with each copy's dense convolution matrix), or `"wide"`
            (shared input: one convolution with `C * out` filters).

    Returns:
        `(batch, H', W', C * out)`, copy-major channels.
    """
    copies, kh, kw, channels_in, filters = kernel.shape
    if implementation in ("wide", "grouped"):
        # (kh, kw, in, C * out): one wide conv, or a grouped one whose group c
        # reads input channels [c * in, (c + 1) * in).
        wide = ops.reshape(
            ops.transpose(kernel, (1, 2, 3, 0, 4)), (kh, kw, channels_in, -1)
        )
        return ops.conv(x, wide, strides=strides, padding=padding)
    if implementation == "loop":
        slices = ops.split(x, copies, axis=-1)
        return ops.concatenate(
            [
                ops.conv(s, kernel[c], strides=strides, padding=padding)
                for c, s in enumerate(slices)
            ],
            axis=-1,
        )
    if implementation == "dense":
        return _dense_conv(x, kernel, strides, padding)
    if implementation != "patches":
        raise ValueError(
            "implementation must be 'wide', 'grouped', 'loop', 'patches' or "
            f"'dense'. Received: implementation={implementation!r}"
        )
    # The kh * kw shifted (and strided) views of the padded input, stacked:
    # (B, H', W', kh * kw, C, in); then one batched matmul over the copies.
    height, width = x.shape[1], x.shape[2]
    out_h, pad_h = conv_extent(height, kh, strides[0], padding)
    out_w, pad_w = conv_extent(width, kw, strides[1], padding)
    x = ops.pad(x, ((0, 0), pad_h, pad_w, (0, 0)))
    views = [
        x[
            :,
            i : i + (out_h - 1) * strides[0] + 1 : strides[0],
            j : j + (out_w - 1) * strides[1] + 1 : strides[1],
        ]
        for i in range(kh)
        for j in range(kw)
    ]
    patches = ops.reshape(ops.stack(views, axis=3), (-1, kh * kw, copies, channels_in))
    batch, height, width = ops.shape(x)[0], out_h, out_w
    patches = ops.reshape(
        ops.transpose(patches, (2, 0, 1, 3)), (copies, -1, kh * kw * channels_in)
    )
    y = ops.matmul(patches, ops.reshape(kernel, (copies, -1, filters)))
    return ops.reshape(
        ops.transpose(y, (1, 0, 2)), (batch, height, width, copies * filters)
    )


def _dense_conv(x, kernel, strides, padding):
    """Per-copy convolution as one batched product with each copy's dense matrix.

    On a map of `H x W` pixels, a convolution is a linear map from the
    `H * W * in` inputs to the `H' * W' * out` outputs: block `(p, o)` of its
    matrix is the kernel tap that input pixel `p` meets at output pixel `o`
    (zero where none does). Built by one gather, it turns the convolution into
    a batched matmul `(C, B, H * W * in) x (C, H * W * in, H' * W' * out)` that
    skips the taps that only ever see padding: on a 2x2 map a 3x3 "same"
    convolution multiplies 4 of 9 taps per output pixel, so this does 4/9 of
    the patches' multiply-adds, and extracts no patches.
    """
    copies, kh, kw, channels_in, filters = kernel.shape
    height, width = x.shape[1], x.shape[2]
    out_h, (top, _) = conv_extent(height, kh, strides[0], padding)
    out_w, (left, _) = conv_extent(width, kw, strides[1], padding)
    # taps[p, o]: the tap index (a * kw + b) joining input p and output o, or
    # kh * kw, a zero tap appended below, where they do not meet.
    taps = np.full((height * width, out_h * out_w), kh * kw, np.int32)
    for i in range(height):
        for j in range(width):
            for p in range(out_h):
                for q in range(out_w):
                    a, b = i - p * strides[0] + top, j - q * strides[1] + left
                    if 0 <= a < kh and 0 <= b < kw:
                        taps[i * width + j, p * out_w + q] = a * kw + b
    flat = ops.reshape(kernel, (copies, kh * kw, channels_in, filters))
    if (taps == kh * kw).any():
        flat = ops.pad(flat, ((0, 0), (0, 1), (0, 0), (0, 0)))
    matrix = ops.take(flat, ops.convert_to_tensor(taps.reshape(-1)), axis=1)
    # (C, HW, H'W', in, out) -> (C, HW * in, H'W' * out)
    matrix = ops.reshape(
        matrix, (copies, height * width, out_h * out_w, channels_in, filters)
    )
    matrix = ops.reshape(
        ops.transpose(matrix, (0, 1, 3, 2, 4)),
        (copies, height * width * channels_in, out_h * out_w * filters),
    )
    batch = ops.shape(x)[0]
    x = ops.reshape(x, (-1, height * width, copies, channels_in))
    x = ops.reshape(
        ops.transpose(x, (2, 0, 1, 3)), (copies, -1, height * width * channels_in)
    )
    y = ops.matmul(x, matrix)  # (C, B, H'W' * out)
    y = ops.reshape(y, (copies, -1, out_h * out_w, filters))
    return ops.reshape(
        ops.transpose(y, (1, 2, 0, 3)), (batch, out_h, out_w, copies * filters)
    )


def conv_extent(size, kernel, stride, padding):
    """Output size and (before, after) padding of one spatial axis, as TF pads."""
    if padding == "valid":
        return (size - kernel) // stride + 1, (0, 0)
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, (total // 2, total - total // 2)


def _device_type():
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
    return "cpu"

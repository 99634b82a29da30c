"""`CopiedHeads`: `C` fresh copies of a network's last layers, run as one layer."""

import copy
import math

import keras
import numpy as np
from keras import ops

from keras_rlr._arguments import check_arg

CONV_IMPLEMENTATIONS = ("auto", "grouped", "loop", "patches", "dense")

# Which per-copy convolution `conv_implementation="auto"` runs, per device
# type: the fastest in `benchmarks/conv_candidates.py` (numbers in README,
# "Heads at any depth"). On this project's CPU, grouped convolution was 29x to
# 94x slower than a loop (benchmarks/conv_candidates.py); on input maps of at most
# `DENSE_MAX_PIXELS` pixels a batched product with each copy's dense
# convolution matrix ("dense") took 0.14x the loop's time (C = 100, 2x2, 64
# channels; patches 0.41x), and the loop won on larger maps (4x4: dense 1.7x
# and 3.4x the loop's time at C = 100 and C = 10, patches 1.6x and 0.95x). On
# GPUs cuDNN runs grouped convolutions natively (not measured here).
AUTO_CONV = {"cpu": "loop", "gpu": "grouped"}
DENSE_MAX_PIXELS = 4

_ELEMENTWISE = (
    "ReLU",
    "Activation",
    "Dropout",
    "MaxPooling2D",
    "AveragePooling2D",
)
_SUPPORTED = _ELEMENTWISE + (
    "Dense",
    "Conv2D",
    "BatchNormalization",
    "Flatten",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
)


@keras.saving.register_keras_serializable(package="keras_rlr")
class CopiedHeads(keras.layers.Layer):
    """`C` fresh copies of a tail of layers, each ending in `R` outputs, fused.

    The copy-depth heads of the paper (docs/method.md, "Split point"): the
    network is split `d` layers before its output, and each class gets its own
    fresh copy of those `d` layers whose last layer has `R` outputs instead of
    `C`. Running `C` Keras sub-models would cost `C` layer calls per layer;
    here the copies run as one computation whose result is exactly what `C`
    separate copies with the same weights compute:

    - the first weighted layer sees the same input for every copy, so it is one
      layer `C` times as wide;
    - after it, activations are packed copy-major along the last axis,
      `(batch, ..., C * width)`. Batch norm, pooling, activations and dropout
      are per channel, hence per copy, as they are;
    - later dense layers are one batched matrix product over the copies;
      later convolutions run as `conv_implementation` says (`"grouped"`: one
      grouped convolution; `"loop"`: `C` convolutions on channel slices;
      `"patches"`: one batched matrix product over extracted patches;
      `"dense"`: one batched matrix product with each copy's convolution
      written as a dense matrix, for tiny maps; `"auto"`: the fastest measured
      for the device type and map size, `AUTO_CONV` and `DENSE_MAX_PIXELS`);
    - `Flatten` reorders each copy's features as a separate copy's `Flatten`
      would.

    Weights are stored per copy, `(C, ...)`, whatever the implementation, so a
    model trained on one device type loads on another. Each copy is
    initialized as a separate layer would be (fan-in and fan-out of one copy),
    with its own draw. The copies carry no weight penalty: they are the
    measuring instrument. Dropout placed before the first weighted layer draws
    one mask for all copies.

    Supported layers: `Dense`, `Conv2D` (channels last, no dilation or groups),
    `BatchNormalization`, `ReLU`, `Activation`, `Dropout`, `MaxPooling2D`,
    `AveragePooling2D`, `Flatten`, `GlobalAveragePooling2D`,
    `GlobalMaxPooling2D`. The last layer must be a `Dense`.

    Args:
        tail: the layers to copy, in order: Keras layers or their
            `keras.layers.serialize` dicts. Only their configurations are used,
            never their weights.
        num_copies: `C`, the number of copies (one per class).
        num_outputs: `R`, the outputs of each copy's last layer (linear).
        width_multiplier: multiplies the units and filters of every weighted
            layer but the last (the paper's capacity control).
        conv_implementation: one of `CONV_IMPLEMENTATIONS`.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Example:

    >>> tail = [keras.layers.Dense(64, activation="relu"), keras.layers.Dense(10)]
    >>> heads = CopiedHeads(tail, num_copies=10, num_outputs=5)
    >>> heads(keras.ops.ones((8, 32))).shape
    (8, 10, 5)
    """

    def __init__(
        self,
        tail,
        num_copies,
        num_outputs,
        width_multiplier=1.0,
        conv_implementation="auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_arg("num_copies", num_copies, num_copies >= 1, ">= 1")
        check_arg("num_outputs", num_outputs, num_outputs >= 1, ">= 1")
        check_arg("width_multiplier", width_multiplier, width_multiplier > 0, "> 0")
        check_arg(
            "conv_implementation",
            conv_implementation,
            conv_implementation in CONV_IMPLEMENTATIONS,
            f"one of {CONV_IMPLEMENTATIONS}",
        )
        self.tail = [
            copy.deepcopy(t) if isinstance(t, dict) else keras.layers.serialize(t)
            for t in tail
        ]
        self.num_copies = int(num_copies)
        self.num_outputs = int(num_outputs)
        self.width_multiplier = float(width_multiplier)
        self.conv_implementation = conv_implementation
        self.copy_configs = _copy_configs(
            self.tail, self.num_outputs, self.width_multiplier
        )

    # -- Structure -------------------------------------------------------------

    def build(self, input_shape):
        shape = tuple(input_shape[1:])  # what one copy sees, batch left out
        steps = []
        for spec in self.copy_configs:
            kind, config = spec["class_name"], spec["config"]
            step = {"kind": kind, "config": config}
            if kind == "Dense":
                if len(shape) != 1:
                    raise ValueError(
                        f"Dense layer {config['name']!r} of the copied tail needs "
                        "flat input; put a Flatten or pooling layer before it. "
                        f"Received: input shape={(None,) + shape}"
                    )
                kernel_shape = (shape[0], config["units"])
                shape = (config["units"],)
            elif kind == "Conv2D":
                if len(shape) != 3:
                    raise ValueError(
                        f"Conv2D layer {config['name']!r} of the copied tail needs "
                        f"(batch, H, W, channels) input. Received: input "
                        f"shape={(None,) + shape}"
                    )
                kernel_shape = tuple(config["kernel_size"]) + (
                    shape[-1],
                    config["filters"],
                )
                shape = _conv_output_shape(shape, config)
            if kind in ("Dense", "Conv2D"):
                step["kernel"] = self.add_weight(
                    name=f"{config['name']}_kernel",
                    shape=(self.num_copies,) + kernel_shape,
                    initializer=_per_copy(config["kernel_initializer"]),
                )
                if config["use_bias"]:
                    step["bias"] = self.add_weight(
                        name=f"{config['name']}_bias",
                        shape=(self.num_copies, kernel_shape[-1]),
                        initializer=_per_copy(config["bias_initializer"]),
                    )
                step["activation"] = keras.activations.get(config["activation"])
            elif kind == "BatchNormalization":
                layer = keras.layers.BatchNormalization.from_config(
                    {**config, "axis": -1, "dtype": self.dtype_policy}
                )
                layer.build((None,) + shape[:-1] + (self.num_copies * shape[-1],))
                step["layer"] = layer
            elif kind in _ELEMENTWISE:
                layer = _layer(kind, {**config, "dtype": self.dtype_policy})
                layer.build((None,) + shape)
                step["layer"] = layer
                shape = tuple(layer.compute_output_shape((None,) + shape)[1:])
            elif kind == "Flatten":
                shape = (math.prod(shape),)
            else:  # global pooling
                shape = shape[-1:]
            steps.append(step)
        # The plan stays untracked (plain Python); weights are tracked by
        # add_weight and the sublayers through `copy_layers`.
        object.__setattr__(self, "_steps", steps)
        self.copy_layers = [s["layer"] for s in steps if "layer" in s]

    def call(self, inputs, training=None):
        x, shared = inputs, True
        for step in self._steps:
            kind = step["kind"]
            if kind == "Dense":
                x = self._dense(x, step, shared)
                shared = False
            elif kind == "Conv2D":
                x = self._conv(x, step, shared)
                shared = False
            elif kind == "BatchNormalization":
                if shared:  # each copy normalizes the same input its own way
                    x = ops.tile(x, (1,) * (len(x.shape) - 1) + (self.num_copies,))
                    shared = False
                x = step["layer"](x, training=training)
            elif kind in _ELEMENTWISE:
                x = step["layer"](x, training=training)
            elif kind == "Flatten":
                x = self._flatten(x, shared)
            elif kind == "GlobalAveragePooling2D":
                x = ops.mean(x, axis=(1, 2))
            else:
                x = ops.max(x, axis=(1, 2))
        return ops.reshape(x, (-1, self.num_copies, self.num_outputs))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_copies, self.num_outputs)

    # -- The fused operations --------------------------------------------------

    def _dense(self, x, step, shared):
        kernel = step["kernel"]  # (C, in, out)
        copies, units_in, units = kernel.shape
        if shared:  # one matmul C times as wide
            wide = ops.reshape(ops.transpose(kernel, (1, 0, 2)), (units_in, -1))
            y = ops.matmul(x, wide)
        else:  # one batched matmul over the copies
            x = ops.transpose(ops.reshape(x, (-1, copies, units_in)), (1, 0, 2))
            y = ops.matmul(x, kernel)  # (C, batch, out)
            y = ops.reshape(ops.transpose(y, (1, 0, 2)), (-1, copies * units))
        if "bias" in step:
            y = y + ops.reshape(step["bias"], (-1,))
        return step["activation"](y)

    def _conv(self, x, step, shared):
        config = step["config"]
        implementation = self.conv_implementation
        if implementation == "auto":
            implementation = AUTO_CONV[_device_type()]
            pixels = x.shape[1] * x.shape[2]
            if implementation == "loop" and pixels <= DENSE_MAX_PIXELS:
                implementation = "dense"
        y = per_copy_conv(
            x,
            step["kernel"],
            strides=tuple(config["strides"]),
            padding=config["padding"],
            implementation="wide" if shared else implementation,
        )
        if "bias" in step:
            y = y + ops.reshape(step["bias"], (-1,))
        return step["activation"](y)

    def _flatten(self, x, shared):
        if shared or len(x.shape) == 2:
            return ops.reshape(x, (-1, math.prod(x.shape[1:])))
        # (B, H, W, C * k) -> (B, C, H, W, k): each copy's own row-major order.
        spatial, channels = tuple(x.shape[1:-1]), x.shape[-1] // self.num_copies
        x = ops.reshape(x, (-1,) + spatial + (self.num_copies, channels))
        rank = len(x.shape)
        x = ops.transpose(x, (0, rank - 2) + tuple(range(1, rank - 2)) + (rank - 1,))
        return ops.reshape(x, (-1, self.num_copies * math.prod(spatial) * channels))

    # -- Checks and the naive equivalent ---------------------------------------

    def separate_copies(self, input_shape):
        """`C` separate Keras models with this layer's current weights.

        Copy `c` is a `keras.Sequential` of ordinary layers built from the
        copied configurations; its output equals `self(x)[:, c]`. For checks and
        for the naive baseline of `benchmarks/copy_depth.py`.

        Args:
            input_shape: the input shape, batch included, e.g. `(None, 512)`.

        Returns:
            A list of `C` built `keras.Sequential` models.
        """
        if not self.built:
            self.build(input_shape)
        models = []
        for c in range(self.num_copies):
            layers = []
            for step, spec in zip(self._steps, self.copy_configs, strict=True):
                config = {**spec["config"], "name": f"copy{c}_{spec['config']['name']}"}
                layer = _layer(spec["class_name"], config)
                layers.append((layer, step))
            model = keras.Sequential(
                [keras.Input(tuple(input_shape[1:]))] + [layer for layer, _ in layers],
                name=f"copy{c}",
            )
            for layer, step in layers:
                if "kernel" in step:
                    weights = [step["kernel"].numpy()[c]]
                    if "bias" in step:
                        weights.append(step["bias"].numpy()[c])
                    layer.set_weights(weights)
                elif step["kind"] == "BatchNormalization":
                    layer.set_weights(
                        [
                            w.numpy().reshape(self.num_copies, -1)[c]
                            for w in step["layer"].weights
                        ]
                    )
            models.append(model)
        return models

    def get_config(self):
        return {
            **super().get_config(),
            "tail": copy.deepcopy(self.tail),
            "num_copies": self.num_copies,
            "num_outputs": self.num_outputs,
            "width_multiplier": self.width_multiplier,
            "conv_implementation": self.conv_implementation,
        }


def _copy_configs(tail, num_outputs, width_multiplier):
    """The layer configurations of one copy: widths scaled, last layer `R` wide."""
    configs = []
    for spec in tail:
        kind = spec.get("class_name")
        name = spec.get("config", {}).get("name")
        if kind not in _SUPPORTED:
            raise ValueError(
                f"Layer {name!r} ({kind}) cannot be copied into fused heads; "
                f"supported layers: {', '.join(_SUPPORTED)}. "
                f"Received: tail layer={name!r}"
            )
        config = copy.deepcopy(spec["config"])
        config.pop("dtype", None)
        for key in ("kernel_regularizer", "bias_regularizer", "activity_regularizer"):
            if key in config:
                config[key] = None  # the copies are never decayed
        if kind == "Conv2D" and (
            config.get("data_format") not in (None, "channels_last")
            or tuple(config.get("dilation_rate", (1, 1))) != (1, 1)
            or config.get("groups", 1) != 1
        ):
            raise ValueError(
                f"Conv2D layer {name!r} cannot be copied: only channels-last "
                "convolutions without dilation or groups are supported. "
                f"Received: tail layer={name!r}"
            )
        if kind == "BatchNormalization" and config.get("axis") not in (-1, [-1], 3):
            raise ValueError(
                f"BatchNormalization layer {name!r} cannot be copied: it must "
                f"normalize the last axis. Received: axis={config.get('axis')}"
            )
        configs.append({"class_name": kind, "config": config})
    if not configs or configs[-1]["class_name"] != "Dense":
        raise ValueError(
            "The copied tail must end with a Dense layer (the copies' R outputs). "
            f"Received: tail={[c.get('config', {}).get('name') for c in tail]}"
        )
    weighted = [c for c in configs if c["class_name"] in ("Dense", "Conv2D")]
    for config in weighted[:-1]:
        key = "units" if config["class_name"] == "Dense" else "filters"
        config["config"][key] = max(1, round(config["config"][key] * width_multiplier))
    weighted[-1]["config"]["units"] = num_outputs
    weighted[-1]["config"]["activation"] = "linear"
    return configs


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
    out_h, pad_h = _conv_extent(height, kh, strides[0], padding)
    out_w, pad_w = _conv_extent(width, kw, strides[1], padding)
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
    out_h, (top, _) = _conv_extent(height, kh, strides[0], padding)
    out_w, (left, _) = _conv_extent(width, kw, strides[1], padding)
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


def _layer(class_name, config):
    return getattr(keras.layers, class_name).from_config(config)


def _per_copy(initializer_config):
    """An initializer of a `(C, ...)` weight: each copy drawn as its own layer."""

    def initialize(shape, dtype=None):
        draws = []
        for c in range(shape[0]):
            config = copy.deepcopy(initializer_config)
            seed = config.get("config", {}).get("seed") if config else None
            if isinstance(seed, int):  # a fixed seed would make the copies equal
                config["config"]["seed"] = seed + c
            draws.append(keras.initializers.get(config)(shape[1:], dtype=dtype))
        return ops.stack(draws)

    return initialize


def _conv_extent(size, kernel, stride, padding):
    """Output size and (before, after) padding of one spatial axis, as TF pads."""
    if padding == "valid":
        return (size - kernel) // stride + 1, (0, 0)
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, (total // 2, total - total // 2)


def _conv_output_shape(shape, config):
    sizes = [
        _conv_extent(size, k, s, config["padding"])[0]
        for size, k, s in zip(
            shape[:2], config["kernel_size"], config["strides"], strict=True
        )
    ]
    return (*sizes, config["filters"])


def _device_type():
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
    return "cpu"

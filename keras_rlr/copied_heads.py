"""`CopiedHeads`: `C` fresh copies of a network's last layers, run as one layer."""

import copy
import math

import keras
from keras import ops

from keras_rlr import per_copy_conv
from keras_rlr._arguments import check_arg

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
      for the device type and map size, `keras_rlr.per_copy_conv.choose`);
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
            conv_implementation in per_copy_conv.IMPLEMENTATIONS,
            f"one of {per_copy_conv.IMPLEMENTATIONS}",
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
                layer = layer_from_config(kind, {**config, "dtype": self.dtype_policy})
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
        if shared:
            implementation = "wide"
        else:
            implementation = per_copy_conv.choose(
                self.conv_implementation, x.shape[1] * x.shape[2]
            )
        y = per_copy_conv.per_copy_conv(
            x,
            step["kernel"],
            strides=tuple(config["strides"]),
            padding=config["padding"],
            implementation=implementation,
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


def layer_from_config(class_name, config):
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


def _conv_output_shape(shape, config):
    sizes = [
        per_copy_conv.conv_extent(size, k, s, config["padding"])[0]
        for size, k, s in zip(
            shape[:2], config["kernel_size"], config["strides"], strict=True
        )
    ]
    return (*sizes, config["filters"])


def supports(tail):
    """Whether `CopiedHeads` can fuse copies of the chain of layers `tail`."""
    return (
        bool(tail)
        and all(layer.__class__.__name__ in _SUPPORTED for layer in tail)
        and type(tail[-1]) is keras.layers.Dense
        and all(
            type(layer) is getattr(keras.layers, layer.__class__.__name__)
            for layer in tail
        )
        and all(_fusable(layer) for layer in tail)
    )


def _fusable(layer):
    config = layer.get_config()
    if isinstance(layer, keras.layers.Conv2D):
        return (
            config.get("data_format") in (None, "channels_last")
            and tuple(config.get("dilation_rate", (1, 1))) == (1, 1)
            and config.get("groups", 1) == 1
        )
    if isinstance(layer, keras.layers.BatchNormalization):
        return config.get("axis") in (-1, [-1], 3)
    return True

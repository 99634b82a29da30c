"""Feature extractors and classifiers (Keras functional models), by name.

`NAMES` lists the registered backbones; `get(name)` returns its `Backbone`:
the builder and what it returns, either an `extractor` (images -> flat
features, heads attach on top) or a `classifier` (images -> logits, split by
`RandomLabelModel.from_classifier` at a copy depth). `train.py`'s `--model`
choices come from this registry. Importing this package loads no TensorFlow:
the builders' modules are imported when first used.
"""

import dataclasses
import importlib


@dataclasses.dataclass(frozen=True)
class Backbone:
    """A registered backbone: `module.function` builds it."""

    name: str
    module: str
    function: str
    kind: str  # "extractor" or "classifier"
    # For a classifier: the function of its module that names the first layer
    # of the last `d` layers (the split point at copy depth `d`).
    split_layer: str | None = None

    @property
    def build(self):
        return getattr(importlib.import_module(self.module), self.function)

    def split_layer_name(self, copy_depth):
        return getattr(importlib.import_module(self.module), self.split_layer)(
            copy_depth
        )


_REGISTRY = {
    b.name: b
    for b in (
        Backbone("wide_resnet", f"{__name__}.wrn", "wide_resnet", "extractor"),
        Backbone("small_cnn", f"{__name__}.cnn", "small_cnn", "extractor"),
        Backbone("small_cnn1d", f"{__name__}.cnn1d", "small_cnn1d", "extractor"),
        Backbone(
            "vgg16", f"{__name__}.vgg", "vgg16", "classifier", "vgg16_split_layer"
        ),
    )
}
NAMES = tuple(_REGISTRY)


def get(name):
    """The `Backbone` called `name`."""
    if name not in _REGISTRY:
        raise ValueError(
            f"Unknown backbone: expected one of {NAMES}. Received: model={name!r}"
        )
    return _REGISTRY[name]


# The builders, loaded on first use: keras_rlr.backbones.wide_resnet(...).
_LAZY = {
    "wide_resnet": "wrn",
    "small_cnn": "cnn",
    "small_cnn1d": "cnn1d",
    "vgg16": "vgg",
    "vgg16_split_layer": "vgg",
    "VGG16_LAYERS": "vgg",
}
__all__ = ["NAMES", "Backbone", "get", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

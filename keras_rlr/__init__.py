"""keras_rlr: random-label prediction heads for Keras.

Measure how much a classifier memorizes single training examples, and push it
back, with heads that learn a random label fixed to each example.

The core (model, heads, losses, random labels and input pipelines, datasets,
backbones, callbacks, export) sits at the top of the package; the experiment
tooling lives in subpackages that depend on it, never the other way round:
`keras_rlr.train` (one run), `keras_rlr.sweep` (grids of runs) and
`keras_rlr.report` (a sweep's figure and findings).

Importing the package loads no TensorFlow: each name below is imported on
first use, so tools that only read run directories start in a fraction of a
second. Imported after Keras, it registers its saved models' classes at once
(`keras.saving.load_model` finds only registered ones).
"""

import importlib
import sys

__version__ = "0.1.0"

# Public name -> the module that defines it (a module itself where equal).
_EXPORTS = {
    "RandomLabelModel": "keras_rlr.model",
    "RandomLabelHeads": "keras_rlr.heads",
    "CopiedHeads": "keras_rlr.copied_heads",
    "CopiedTail": "keras_rlr.copied_tail",
    "backbones": "keras_rlr.backbones",
    "callbacks": "keras_rlr.callbacks",
    "data": "keras_rlr.data",
    "datasets": "keras_rlr.datasets",
    "export": "keras_rlr.export",
    "label_noise": "keras_rlr.label_noise",
    "losses": "keras_rlr.losses",
    "memorization": "keras_rlr.memorization",
    "memorization_scores": "keras_rlr.memorization",
}
__all__ = sorted(_EXPORTS)


# Keras finds a saved model's custom classes only once they are registered,
# that is imported. With Keras loaded already (no start-up cost left), import
# them now: `import keras; import keras_rlr; keras.saving.load_model(path)`.
_SERIALIZABLE = (
    "keras_rlr.model",
    "keras_rlr.heads",
    "keras_rlr.copied_heads",
    "keras_rlr.copied_tail",
)
if "keras" in sys.modules:
    for _module in _SERIALIZABLE:
        importlib.import_module(_module)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    value = module if module.__name__ == f"{__name__}.{name}" else getattr(module, name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))

"""keras_rlr: random-label prediction heads for Keras.

Measure how much a classifier memorizes single training examples, and push it
back, with heads that learn a random label fixed to each example.
"""

from keras_rlr import backbones, callbacks, data, datasets, export, losses
from keras_rlr.copied_heads import CopiedHeads
from keras_rlr.heads import RandomLabelHeads
from keras_rlr.model import RandomLabelModel

__all__ = [
    "CopiedHeads",
    "RandomLabelHeads",
    "RandomLabelModel",
    "backbones",
    "callbacks",
    "data",
    "datasets",
    "export",
    "losses",
]
__version__ = "0.1.0"

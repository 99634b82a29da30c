"""Feature extractors: Keras functional models from images to flat features."""

from keras_rlr.backbones.small_cnn import small_cnn
from keras_rlr.backbones.wide_resnet import wide_resnet

__all__ = ["small_cnn", "wide_resnet"]

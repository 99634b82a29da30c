"""Feature extractors and classifiers: Keras functional models."""

from keras_rlr.backbones.small_cnn import small_cnn
from keras_rlr.backbones.vgg import VGG16_LAYERS, vgg16, vgg16_split_layer
from keras_rlr.backbones.wide_resnet import wide_resnet

__all__ = ["VGG16_LAYERS", "small_cnn", "vgg16", "vgg16_split_layer", "wide_resnet"]

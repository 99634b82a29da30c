"""Export a trained `RandomLabelModel` as a TF SavedModel for serving."""

import contextlib
import logging

import keras
import tensorflow as tf
from absl import logging as absl_logging

SERVING_ENDPOINT = "serve"  # also the `serving_default` signature
RANDOM_LABEL_ENDPOINT = "random_label_logits"


def export_saved_model(model, path, image_shape=None):
    """Write `model` as a SavedModel with two named-output endpoints.

    - `serve(x)`, also the `serving_default` signature:
      `{"logits": (B, C), "probabilities": (B, C)}`, the class prediction
      (`probabilities = softmax(logits)`);
    - `random_label_logits(x)` -> `{"random_label_logits": (B, C, R)}`.

    The serving input takes its shape and dtype from the model's inputs (the
    shape it was built with; the dtype of a functional extractor's `Input` or
    of the first batch it saw), with a batch of any size. Float inputs are
    served as float32 `image`, whatever the model's dtype policy (a
    `mixed_float16` model casts inside); integer inputs (token ids) keep their
    dtype and are named `inputs`. Outputs are float32. `model.export` would
    serve `__call__` only and, for a subclassed model under mixed precision,
    infer a float16 input: hence an explicit `ExportArchive`.

    Args:
        model: a `RandomLabelModel`.
        path: the SavedModel directory to write.
        image_shape: the input shape without the batch, e.g. `(H, W, channels)`
            or `(tokens,)`; by default the shape the model was built with (an
            unbuilt model is built for it).

    Example:

    ```python
    export_saved_model(model, "/tmp/rlr_savedmodel")
    served = tf.saved_model.load("/tmp/rlr_savedmodel")
    served.serve(images)["probabilities"]
    served.random_label_logits(images)["random_label_logits"]
    ```
    """
    if image_shape is None:
        input_shape = (model.get_build_config() or {}).get("input_shape")
        if not input_shape:
            raise ValueError(
                "The model is not built, so its input shape is unknown: build it "
                "(model.build(input_shape), or fit it) or pass "
                "image_shape=(H, W, channels) (or (tokens,) for text). "
                "Received: image_shape=None"
            )
        image_shape = tuple(input_shape)[1:]
    if not model.built:
        model.build((None, *image_shape))
    dtype = tf.as_dtype(model.input_dtype)
    name = "image" if dtype.is_floating else "inputs"
    spec = tf.TensorSpec(
        (None, *image_shape), tf.float32 if dtype.is_floating else dtype, name=name
    )

    def serve(x):
        logits = tf.cast(model(x, training=False), tf.float32)
        return {"logits": logits, "probabilities": tf.nn.softmax(logits)}

    def random_label_logits(x):
        logits = model.random_label_logits(x, training=False)
        return {"random_label_logits": tf.cast(logits, tf.float32)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(SERVING_ENDPOINT, serve, input_signature=[spec])
    archive.add_endpoint(
        RANDOM_LABEL_ENDPOINT, random_label_logits, input_signature=[spec]
    )
    with _quiet_tensorflow_info():
        archive.write_out(path, verbose=False)
    return path


@contextlib.contextmanager
def _quiet_tensorflow_info():
    """TensorFlow's SavedModel writer logs each step at INFO ("Assets written
    to ...", fingerprints, renamed inputs), some through absl (whose INFO
    `absl.app` turns on), some through the `tensorflow` logger (which a root
    logger at INFO prints). A library call prints none of it, unless the
    `tensorflow` logger's own level asks for INFO."""
    logger = tf.get_logger()
    level, verbosity = logger.level, absl_logging.get_verbosity()
    if level == logging.NOTSET or level > logging.INFO:
        logger.setLevel(max(level, logging.WARNING))
        absl_logging.set_verbosity(min(verbosity, absl_logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)
        absl_logging.set_verbosity(verbosity)

"""Export a trained `RandomLabelModel` as a TF SavedModel for serving."""

import keras
import tensorflow as tf

SERVING_ENDPOINT = "serve"  # also the `serving_default` signature
RANDOM_LABEL_ENDPOINT = "random_label_logits"


def export_saved_model(model, path, image_shape=None):
    """Write `model` as a SavedModel with two named-output endpoints.

    - `serve(image)`, also the `serving_default` signature:
      `{"logits": (B, C), "probabilities": (B, C)}`, the class prediction
      (`probabilities = softmax(logits)`);
    - `random_label_logits(image)` -> `{"random_label_logits": (B, C, R)}`.

    Both take a float32 `image` batch of any size, whatever the model's dtype
    policy (a `mixed_float16` model casts inside), and return float32. `model.export`
    would serve `__call__` only and, for a subclassed model under mixed
    precision, infer a float16 input: hence an explicit `ExportArchive`.

    Args:
        model: a built `RandomLabelModel`.
        path: the SavedModel directory to write.
        image_shape: `(H, W, channels)`; by default the shape the model was
            built with (an unbuilt model is built for it).

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
                "The model is not built, so its image shape is unknown: build it or "
                "pass image_shape=(H, W, channels). Received: image_shape=None"
            )
        image_shape = tuple(input_shape)[1:]
    if not model.built:
        model.build((None, *image_shape))
    spec = tf.TensorSpec((None, *image_shape), tf.float32, name="image")

    def serve(image):
        logits = tf.cast(model(image, training=False), tf.float32)
        return {"logits": logits, "probabilities": tf.nn.softmax(logits)}

    def random_label_logits(image):
        logits = model.random_label_logits(image, training=False)
        return {"random_label_logits": tf.cast(logits, tf.float32)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(SERVING_ENDPOINT, serve, input_signature=[spec])
    archive.add_endpoint(
        RANDOM_LABEL_ENDPOINT, random_label_logits, input_signature=[spec]
    )
    archive.write_out(path, verbose=False)
    return path

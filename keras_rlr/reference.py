"""Naive references that the fused heads are checked and benchmarked against.

Ordinary Keras layers, one model per copy: slow, obviously right. Used by the
tests (`tests/test_copied_heads.py`) and `benchmarks/copy_depth.py`.
"""

import keras

from keras_rlr.copied_heads import layer_from_config


def separate_copies(heads, input_shape):
    """`C` separate Keras models with the current weights of `heads`.

    Copy `c` is a `keras.Sequential` of ordinary layers built from the
    copied configurations; its output equals `heads(x)[:, c]`.

    Args:
        heads: a `CopiedHeads` layer.
        input_shape: the input shape, batch included, e.g. `(None, 512)`.

    Returns:
        A list of `C` built `keras.Sequential` models.
    """
    if not heads.built:
        heads.build(input_shape)
    models = []
    for c in range(heads.num_copies):
        layers = []
        for step, spec in zip(heads._steps, heads.copy_configs, strict=True):
            config = {**spec["config"], "name": f"copy{c}_{spec['config']['name']}"}
            layer = layer_from_config(spec["class_name"], config)
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
                        w.numpy().reshape(heads.num_copies, -1)[c]
                        for w in step["layer"].weights
                    ]
                )
        models.append(model)
    return models

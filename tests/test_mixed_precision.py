"""Mixed precision: the loss-scaled step moves every part as float32 does."""

import keras
import numpy as np
import pytest

import keras_rlr


def x_shape():
    """The batch of `one_step_deltas`: (examples, height, width, channels)."""
    return (32, 8, 8, 1)


def one_step_deltas(policy):
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = keras_rlr.RandomLabelModel(
            keras_rlr.backbones.small_cnn(width=8, feature_dim=32),
            num_classes=5,
            num_random_labels=4,
            reg_lambda=1.0,
        )
        model.compile(optimizer=keras.optimizers.SGD(0.1))
        rng = np.random.default_rng(0)
        x = rng.uniform(size=x_shape()).astype(np.float32)
        y = {"label": rng.integers(0, 5, 32), "random_label": rng.integers(0, 4, 32)}
        parts = {
            "extractor": model.feature_extractor.trainable_variables[0],
            "class_head": model.class_head.kernel,
            "random_heads": model.random_heads.kernel,
        }
        before = {k: v.numpy().astype(np.float64) for k, v in parts.items()}
        model.train_on_batch(x, y)
        deltas = {k: v.numpy() - before[k] for k, v in parts.items()}
        return model, deltas
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_one_step_moves_each_part_as_in_float32(policy):
    _, reference = one_step_deltas("float32")
    model, deltas = one_step_deltas(policy)
    if policy == "mixed_float16":
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.random_heads.compute_dtype == "float32"
    assert model.class_head.compute_dtype == "float32"
    # The bound comes from the format, not from one CPU's result (bfloat16
    # arithmetic differs between CPUs with and without native bf16
    # instructions). A sum of n products rounded to p significand bits is off
    # by about sqrt(n) * 2**-p relative (rounding errors of unit roundoff
    # 2**-p that accumulate as a random walk; Higham & Mary, "A new approach
    # to probabilistic rounding error analysis", 2019). The longest sum of
    # this step is the first convolution's kernel gradient: one product per
    # example and output position ("same" padding, stride 1).
    significand_bits = {"mixed_float16": 11, "mixed_bfloat16": 8}[policy]
    n = x_shape()[0] * x_shape()[1] * x_shape()[2]
    tolerance = np.sqrt(n) * 2.0**-significand_bits
    assert tolerance < 0.5  # still far below what the checks below catch
    for part, delta in deltas.items():
        ref = reference[part]
        assert np.linalg.norm(ref) > 0, part
        # An unscaled loss would move its part 2**15 times too little (a
        # relative error of 1), a wrong gradient in another direction.
        assert np.linalg.norm(delta - ref) <= tolerance * np.linalg.norm(ref), part

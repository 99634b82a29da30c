"""Mixed precision: the loss-scaled step moves every part as float32 does."""

import keras
import numpy as np
import pytest

import keras_rlr


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
        x = rng.uniform(size=(32, 8, 8, 1)).astype(np.float32)
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
    tolerance = 0.02 if policy == "mixed_float16" else 0.1  # bf16: 8-bit mantissa
    for part, delta in deltas.items():
        ref = reference[part]
        assert np.linalg.norm(ref) > 0, part
        # An unscaled loss would move its part 2**15 times too little.
        assert np.linalg.norm(delta - ref) <= tolerance * np.linalg.norm(ref), part

"""SavedModel export: both endpoints, float32 input, any batch size."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl import logging

import keras_rlr
from keras_rlr.export import export_saved_model


@pytest.fixture
def policy(request):
    keras.mixed_precision.set_global_policy(request.param)
    yield request.param
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"], indirect=True)
def test_served_outputs_equal_the_keras_model(tmp_path, policy):
    model = keras_rlr.RandomLabelModel(
        keras_rlr.backbones.small_cnn(width=4, feature_dim=16), 10, 4
    )
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(16, 8, 8, 1)).astype(np.float32)
    y = {"label": rng.integers(0, 10, 16), "random_label": rng.integers(0, 4, 16)}
    model.compile(optimizer="sgd")
    model.fit(x, y, epochs=1, verbose=0)  # batch-norm statistics away from init
    path = str(tmp_path / "saved")
    export_saved_model(model, path)
    served = tf.saved_model.load(path)
    # The model's own graph (as `predict` runs it): under mixed_float16 an
    # eager call picks other float16 kernels, ~1e-4 apart.
    heads_graph = tf.function(lambda t: model.random_label_logits(t))
    for batch in (1, 7):
        images = x[:batch]
        logits = model.predict(images, verbose=0)
        out = served.serve(tf.constant(images))
        assert set(out) == {"logits", "probabilities"}
        assert out["logits"].dtype == tf.float32
        np.testing.assert_allclose(out["logits"], logits, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(
            out["probabilities"], tf.nn.softmax(logits), atol=1e-6
        )
        heads = served.random_label_logits(tf.constant(images))
        assert heads["random_label_logits"].shape == (batch, 10, 4)
        np.testing.assert_allclose(
            heads["random_label_logits"],
            heads_graph(tf.constant(images)),
            rtol=1e-5,
            atol=1e-5,
        )
    signature = served.signatures["serving_default"]
    assert signature.structured_input_signature[1]["image"].dtype == tf.float32


def test_saved_model_cli_lists_both_endpoints(tmp_path):
    model = keras_rlr.RandomLabelModel(
        keras_rlr.backbones.small_cnn(width=4, feature_dim=16), 10, 4
    )
    path = str(tmp_path / "saved")
    export_saved_model(model, path)
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run(
        [cli, "show", "--dir", path, "--all"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "signature_def['serving_default']" in shown
    assert "signature_def['random_label_logits']" in shown
    assert "outputs['probabilities']" in shown


def test_unbuilt_model_needs_an_image_shape(tmp_path):
    class Flat(keras.layers.Layer):
        def call(self, x):
            return keras.ops.reshape(x, (-1, 4))

        def compute_output_shape(self, input_shape):
            return (input_shape[0], 4)

    model = keras_rlr.RandomLabelModel(Flat(), 3, 2)
    with pytest.raises(ValueError, match="image_shape"):
        export_saved_model(model, str(tmp_path / "x"))
    export_saved_model(model, str(tmp_path / "y"), image_shape=(2, 2, 1))
    served = tf.saved_model.load(str(tmp_path / "y"))
    assert served.serve(tf.zeros((3, 2, 2, 1)))["logits"].shape == (3, 3)


def test_a_text_model_serves_int32_tokens(tmp_path):
    tokens = keras.Input((5,), dtype="int32")
    h = keras.layers.Embedding(9, 4, mask_zero=True)(tokens)
    extractor = keras.Model(tokens, keras.layers.LSTM(3, return_sequences=True)(h))
    model = keras_rlr.RandomLabelModel(extractor, 3, 2)
    x = np.array([[1, 2, 3, 0, 0], [4, 5, 6, 7, 8]], np.int32)
    path = str(tmp_path / "text")
    export_saved_model(model, path)
    served = tf.saved_model.load(path)
    spec = served.signatures["serving_default"].structured_input_signature[1]
    assert {name: s.dtype for name, s in spec.items()} == {"inputs": tf.int32}
    assert spec["inputs"].shape.as_list() == [None, 5]
    np.testing.assert_allclose(
        served.serve(tf.constant(x))["logits"], model(x), atol=1e-6
    )


def test_export_logs_nothing_at_info(tmp_path, caplog):
    # absl's INFO is on under `absl.app` (train.py): the SavedModel writer
    # would log each step ("Assets written to ...", fingerprints).
    model = keras_rlr.RandomLabelModel(
        keras_rlr.backbones.small_cnn(width=4, feature_dim=16), 10, 4
    )
    verbosity = logging.get_verbosity()
    logging.set_verbosity(logging.INFO)
    try:
        with caplog.at_level("INFO"):
            export_saved_model(model, str(tmp_path / "saved"))
        assert logging.get_verbosity() == logging.INFO  # restored
    finally:
        logging.set_verbosity(verbosity)
    assert [r.getMessage() for r in caplog.records if r.levelname == "INFO"] == []

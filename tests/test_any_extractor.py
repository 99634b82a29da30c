"""Any extractor Keras can train, with the default heads: lazily built,
Sequential without `Input`, subclassed, token features `(B, T, D)` with and
without a mask. Each fits on NumPy and tf.data (twice), trains at lambda = 0
as the plain classifier does, and reloads (`.keras`, SavedModel) in a fresh
process to the same numbers."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_rlr
from keras_rlr.export import export_saved_model

C, R, B, T, VOCAB, IN = 3, 4, 8, 6, 11, 5


@keras.saving.register_keras_serializable(package="keras_rlr_tests")
class Subclassed(keras.Model):
    """A subclassed extractor without `build` or `compute_output_shape`."""

    def __init__(self, units=6, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden = keras.layers.Dense(units, activation="tanh")
        self.out = keras.layers.Dense(units, activation="tanh")

    def call(self, x):
        return self.out(self.hidden(x))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def sequential_without_input():
    return keras.Sequential([keras.layers.Dense(6, activation="tanh")])


def text_transformer():
    """Tokens -> `(B, T, D)`: embedding, one self-attention block."""
    tokens = keras.Input((T,), dtype="int32")
    h = keras.layers.Embedding(VOCAB, 8)(tokens)
    attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)(h, h)
    h = keras.layers.LayerNormalization()(keras.layers.Add()([h, attended]))
    return keras.Model(tokens, keras.layers.Dense(8, activation="relu")(h))


def masked_lstm():
    """Tokens (0 = padding) -> `(B, T, D)` with a mask on the padding."""
    tokens = keras.Input((T,), dtype="int32")
    h = keras.layers.Embedding(VOCAB, 8, mask_zero=True)(tokens)
    return keras.Model(tokens, keras.layers.LSTM(6, return_sequences=True)(h))


EXTRACTORS = {
    "sequential": (sequential_without_input, "float"),
    "subclassed": (lambda: Subclassed(name="subclassed"), "float"),
    "transformer": (text_transformer, "tokens"),
    "masked_lstm": (masked_lstm, "tokens"),
}


def data(kind, n=2 * B, seed=0):
    rng = np.random.default_rng(seed)
    if kind == "float":
        x = rng.normal(size=(n, IN)).astype(np.float32)
    else:  # token ids, the tail of each sequence padded with zeros
        x = rng.integers(1, VOCAB, size=(n, T)).astype(np.int32)
        lengths = rng.integers(2, T + 1, size=n)
        x[np.arange(T)[None, :] >= lengths[:, None]] = 0
    y = {"label": rng.integers(0, C, n), "random_label": rng.integers(0, R, n)}
    return x, y


def tf_dataset(x, y):
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(B, drop_remainder=True)


@pytest.mark.parametrize("name", sorted(EXTRACTORS))
def test_fits_on_numpy_and_tf_data_twice(name):
    make, kind = EXTRACTORS[name]
    model = keras_rlr.RandomLabelModel(make(), C, R, reg_lambda=0.5)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    x, y = data(kind)
    first = model.fit(x, y, batch_size=B, epochs=1, verbose=0).history
    before = model.random_heads.kernel.numpy().copy()
    second = model.fit(tf_dataset(x, y), epochs=1, shuffle=False, verbose=0).history
    assert np.isfinite(first["loss"][0]) and np.isfinite(second["loss"][0])
    assert not np.array_equal(before, model.random_heads.kernel.numpy())
    assert int(model.optimizer.iterations) == 4
    # Every weight, extractor included, is known to the optimizer.
    assert len(model.optimizer.momentums) == len(model.trainable_variables) > 4


def plain_classifier(extractor, kind):
    """The same extractor with a Dense class head, as Keras users build it;
    token features are averaged by Keras's own (mask-aware) pooling."""
    inputs = keras.Input((IN,) if kind == "float" else (T,), dtype=kind_dtype(kind))
    features = extractor(inputs)
    if len(features.shape) == 3:
        features = keras.layers.GlobalAveragePooling1D()(features)
    return keras.Model(inputs, keras.layers.Dense(C)(features))


def kind_dtype(kind):
    return "float32" if kind == "float" else "int32"


@pytest.mark.parametrize("name", sorted(EXTRACTORS))
def test_lambda_zero_trains_like_the_plain_classifier(name):
    make, kind = EXTRACTORS[name]
    keras.utils.set_random_seed(0)
    model = keras_rlr.RandomLabelModel(make(), C, R)
    plain_extractor = make()
    plain = plain_classifier(plain_extractor, kind)
    x, y = data(kind, n=B)
    if not model.built:  # the lazy ones: build to copy their weights
        model.build((None, *x.shape[1:]))
    plain_extractor.set_weights(model.feature_extractor.get_weights())
    plain.layers[-1].set_weights(model.class_head.get_weights())
    initial = model.class_head.kernel.numpy().copy()
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    plain.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, y, batch_size=B, epochs=2, shuffle=False, verbose=0)
    plain.fit(x, y["label"], batch_size=B, epochs=2, shuffle=False, verbose=0)
    theirs = plain_extractor.weights + plain.layers[-1].weights
    ours = model.feature_extractor.weights + model.class_head.weights
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(
            a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6, err_msg=a.path
        )
    # The test can fail: the weights did move.
    assert not np.allclose(model.class_head.kernel.numpy(), initial)


RELOAD = """
import json, sys
import keras, numpy as np, tensorflow as tf
sys.path.insert(0, {tests!r})
import keras_rlr, test_any_extractor
out = {{}}
for name, (x, keras_path, saved_path) in json.load(open({index!r})).items():
    x = np.load(x)
    model = keras.saving.load_model(keras_path)
    served = tf.saved_model.load(saved_path)
    spec = served.signatures["serving_default"].structured_input_signature[1]
    out[name] = {{
        "keras": model(x).numpy().tolist(),
        "keras_heads": model.random_label_logits(x).numpy().tolist(),
        "served": served.serve(x)["logits"].numpy().tolist(),
        "served_heads": served.random_label_logits(x)[
            "random_label_logits"].numpy().tolist(),
        "dtype": next(iter(spec.values())).dtype.name,
        "iterations": int(model.optimizer.iterations),
    }}
print(json.dumps(out))
"""


def test_keras_and_saved_model_reload_in_a_fresh_process(tmp_path):
    index, expected = {}, {}
    for name, (make, kind) in EXTRACTORS.items():
        model = keras_rlr.RandomLabelModel(make(), C, R, reg_lambda=0.5)
        model.compile(optimizer="sgd")
        x, y = data(kind)
        model.fit(x, y, batch_size=B, epochs=1, verbose=0)
        np.save(tmp_path / f"{name}.npy", x)
        model.save(tmp_path / f"{name}.keras")
        export_saved_model(model, str(tmp_path / name))
        index[name] = (
            str(tmp_path / f"{name}.npy"),
            str(tmp_path / f"{name}.keras"),
            str(tmp_path / name),
        )
        expected[name] = (model(x), model.random_label_logits(x), kind)
    (tmp_path / "index.json").write_text(json.dumps(index))
    tests = os.path.dirname(os.path.abspath(__file__))
    code = RELOAD.format(tests=tests, index=str(tmp_path / "index.json"))
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.splitlines()[-1])
    for name, (logits, heads, kind) in expected.items():
        got = loaded[name]
        assert got["iterations"] == 2, name
        assert got["dtype"] == kind_dtype(kind), name
        for key in ("keras", "served"):
            np.testing.assert_allclose(got[key], logits, atol=1e-6, err_msg=name)
        for key in ("keras_heads", "served_heads"):
            np.testing.assert_allclose(got[key], heads, atol=1e-6, err_msg=name)


def test_masked_tokens_are_averaged_over_the_valid_positions_only():
    model = keras_rlr.RandomLabelModel(masked_lstm(), C, R)
    x, _ = data("tokens")
    assert (x == 0).any() and (x != 0).any()
    features = model.feature_extractor(x).numpy().astype(np.float64)
    valid = (x != 0).astype(np.float64)[:, :, None]  # Embedding(mask_zero=True)
    pooled = (features * valid).sum(axis=1) / valid.sum(axis=1)
    kernel, bias = (w.numpy().astype(np.float64) for w in model.class_head.weights)
    np.testing.assert_allclose(model(x), pooled @ kernel + bias, atol=1e-5)
    # The test can fail: the mean over every position is another number.
    unmasked = features.mean(axis=1) @ kernel + bias
    assert not np.allclose(model(x), unmasked, atol=1e-3)


@pytest.mark.parametrize("name", ["subclassed", "masked_lstm"])
def test_classifier_predicts_saves_and_exports_as_the_model(tmp_path, name):
    make, kind = EXTRACTORS[name]
    model = keras_rlr.RandomLabelModel(make(), C, R, reg_lambda=0.5)
    model.compile(optimizer="sgd")
    x, y = data(kind)
    model.fit(x, y, batch_size=B, epochs=1, verbose=0)
    classifier = model.classifier()
    assert isinstance(classifier, keras.Model)
    assert not isinstance(classifier, keras_rlr.RandomLabelModel)
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(classifier.predict(x, verbose=0), expected, atol=1e-6)
    # Only the class path: no random heads.
    assert len(classifier.weights) == len(model.feature_extractor.weights) + 2
    classifier.save(tmp_path / "classifier.keras")
    loaded = keras.saving.load_model(tmp_path / "classifier.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-6)
    classifier.export(str(tmp_path / "served"), verbose=False)
    served = tf.saved_model.load(str(tmp_path / "served"))
    np.testing.assert_allclose(served.serve(x), expected, atol=1e-6)


def test_classifier_refusals():
    unbuilt = keras_rlr.RandomLabelModel(sequential_without_input(), C, R)
    with pytest.raises(ValueError, match=r"model.build.*Received: model.built=False"):
        unbuilt.classifier()
    single = keras_rlr.RandomLabelModel(
        sequential_without_input(), C, R, single_output=True
    )
    with pytest.raises(ValueError, match="no class head.*single_output=True"):
        single.classifier()


def test_after_from_classifier_the_trained_classifier_is_model_classifier():
    inputs = keras.Input((IN,))
    hidden = keras.layers.Dense(6, activation="tanh", name="fc1")(inputs)
    original = keras.Model(inputs, keras.layers.Dense(C, name="fc2")(hidden))
    model = keras_rlr.RandomLabelModel.from_classifier(original, num_random_labels=R)
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    x, y = data("float")
    model.fit(x, y, batch_size=B, epochs=1, verbose=0)
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(model.classifier().predict(x, verbose=0), expected)
    # The object passed in pairs the trained extractor with its untrained tail.
    assert not np.allclose(original.predict(x, verbose=0), expected, atol=1e-3)


def test_class_token_pooling_reads_the_first_token():
    model = keras_rlr.RandomLabelModel(
        text_transformer(), C, R, feature_pooling="class_token"
    )
    x, _ = data("tokens")
    first = model.feature_extractor(x).numpy()[:, 0].astype(np.float64)
    kernel, bias = (w.numpy().astype(np.float64) for w in model.class_head.weights)
    np.testing.assert_allclose(model(x), first @ kernel + bias, atol=1e-5)
    heads = model.random_label_logits(x)
    np.testing.assert_allclose(heads, model.random_heads(first.astype(np.float32)))
    config = model.get_config()
    assert config["feature_pooling"] == "class_token"
    assert keras_rlr.RandomLabelModel.from_config(config).feature_pooling == (
        "class_token"
    )


def test_an_extractor_that_cannot_run_on_the_inputs_is_named():
    extractor = keras.Sequential(
        [keras.layers.Reshape((4,)), keras.layers.Dense(3)], name="tower"
    )
    model = keras_rlr.RandomLabelModel(extractor, C, R)
    model.compile(optimizer="sgd")
    x, y = data("float")  # 5 features each: not 4
    with pytest.raises(
        ValueError,
        match=r"\(Sequential 'tower'\) cannot run on inputs of shape \(None, 5\) "
        r"and dtype float32.*Received: ValueError: The total size of the tensor "
        r"must be unchanged",
    ) as error:
        model.fit(x, y, verbose=0)
    assert "\n" not in str(error.value)

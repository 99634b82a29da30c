"""Probes: observer heads at further depths that never change the network."""

import csv
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from train_utils import ROOT, run_train, tiny_config

import keras_rlr
from keras_rlr.train import builders

L = keras.layers
C, R = 3, 4


def small_classifier():
    """No batch norm or dropout: a step's features do not depend on the mode."""
    inputs = keras.Input((6, 6, 2), name="image")
    x = L.Conv2D(3, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = L.Conv2D(5, 3, padding="same", name="conv2")(x)
    x = L.ReLU(name="relu")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(8, activation="relu", name="fc1")(x)
    outputs = L.Dense(C, name="predictions")(x)
    return keras.Model(inputs, outputs)


def batch_norm_classifier():
    """Batch norm before every split point: its statistics must update once."""
    inputs = keras.Input((6, 6, 2), name="image")
    x = inputs
    for i, width in enumerate((3, 4, 5), start=1):
        x = L.Conv2D(width, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = L.BatchNormalization(momentum=0.5, name=f"conv{i}_bn")(x)
        x = L.ReLU(name=f"conv{i}_relu")(x)
    x = L.MaxPooling2D(2, name="pool")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(8, activation="relu", name="fc1")(x)
    outputs = L.Dense(C, name="predictions")(x)
    return keras.Model(inputs, outputs)


def twin(classifier, build):
    """The same classifier again (fresh layers, equal weights)."""
    other = build()
    other.set_weights(classifier.get_weights())
    return other


def data(n, shape, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *shape)).astype(np.float32)
    return x, {"label": rng.integers(0, C, n), "random_label": rng.integers(0, R, n)}


def with_and_without_probes(build, probe_layers, split_layer=None, **kwargs):
    keras.utils.set_random_seed(0)
    classifier = build()
    plain_classifier = twin(classifier, build)
    probed = keras_rlr.RandomLabelModel.from_classifier(
        classifier,
        split_layer=split_layer,
        num_random_labels=R,
        probe_layers=probe_layers,
        **kwargs,
    )
    plain = keras_rlr.RandomLabelModel.from_classifier(
        plain_classifier, split_layer=split_layer, num_random_labels=R, **kwargs
    )
    plain.random_heads.set_weights(probed.random_heads.get_weights())
    return probed, plain


def network_weights(model):
    return (
        model.feature_extractor.weights
        + model.class_head.weights
        + model.random_heads.weights
    )


def test_with_lambda_0_the_network_trains_exactly_as_without_probes():
    # With reg_lambda > 0: the next test (one step, a network without batch norm).
    # Probes before the split (one on the image itself) and inside the class head.
    probed, plain = with_and_without_probes(
        batch_norm_classifier, ["conv1", "conv3", "fc1"], split_layer="conv2"
    )
    assert probed.probe_names == ("d5", "d3", "d2")
    before = [[v.numpy() for v in p.trainable_variables] for p in probed.probes]
    x, y = data(48, (6, 6, 2))
    for model in (probed, plain):
        model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
        model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    # Every weight of the network, batch-norm statistics included, is equal.
    for ours, theirs in zip(
        network_weights(probed), network_weights(plain), strict=True
    ):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=ours.path)
    # ...while the probes learned.
    assert probed.optimizer.iterations.numpy() == plain.optimizer.iterations.numpy()
    for probe, values in zip(probed.probes, before, strict=True):
        for variable, value in zip(probe.trainable_variables, values, strict=True):
            assert np.any(variable.numpy() != value), variable.path


def rand_loss(logits, y):
    """`L_rand` written out: joint log-softmax over C * R, mean over the batch."""
    flat = tf.reshape(logits, (len(y["label"]), C * R))
    target = y["label"] * R + y["random_label"]
    return -tf.reduce_mean(
        tf.gather(tf.nn.log_softmax(flat), target, axis=1, batch_dims=1)
    )


def test_a_probe_moves_by_its_own_gradient_and_never_the_network():
    lr = 0.1
    probed, plain = with_and_without_probes(
        small_classifier, ["predictions", "conv2"], split_layer="fc1", reg_lambda=0.5
    )
    # The deeper probe reads the extractor, the shallower one the class head.
    assert probed.probe_names == ("d3", "d1")
    x, y = data(16, (6, 6, 2))
    # Before the step: each probe's features, held constant, and its gradient.
    classifier = probed.probe_extractor
    kernel, bias = probed.class_head.get_layer("fc1").get_weights()
    features = {
        "d3": keras.Model(classifier.input, classifier.get_layer("conv1").output)(x),
        # Inside the class head: its fc1 written out on the main features.
        "d1": np.maximum(probed.feature_extractor(x).numpy() @ kernel + bias, 0),
    }
    expected = {}
    for name, probe in zip(probed.probe_names, probed.probes, strict=True):
        with tf.GradientTape() as tape:
            loss = rand_loss(probe(features[name]), y)
        gradients = tape.gradient(loss, probe.trainable_variables)
        expected[name] = [
            v.numpy() - lr * g.numpy()
            for v, g in zip(probe.trainable_variables, gradients, strict=True)
        ]
    for model in (probed, plain):
        model.compile(optimizer=keras.optimizers.SGD(lr))
        model.train_on_batch(x, y)
    for name, probe in zip(probed.probe_names, probed.probes, strict=True):
        for variable, value in zip(
            probe.trainable_variables, expected[name], strict=True
        ):
            np.testing.assert_allclose(
                variable.numpy(), value, rtol=1e-5, atol=1e-6, err_msg=variable.path
            )
    for ours, theirs in zip(
        network_weights(probed), network_weights(plain), strict=True
    ):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=ours.path)


def test_probe_metrics_against_numpy():
    keras.utils.set_random_seed(2)
    model = keras_rlr.RandomLabelModel.from_classifier(
        small_classifier(), num_random_labels=R, probe_layers=["fc1"]
    )
    model.compile(optimizer="sgd")
    x, y = data(32, (6, 6, 2), seed=3)
    history = model.fit(x, y, validation_data=(x, y), epochs=1, verbose=0)
    for prefix in ("", "val_"):
        for metric in ("random_label_loss_d2", "random_label_accuracy_d2"):
            assert prefix + metric in history.history
    # The probe's fused copies written out in NumPy: per class, fc1 then R outputs.
    extractor = model.probe_extractor
    f = keras.Model(extractor.input, extractor.get_layer("flatten").output)(x).numpy()
    w1, b1, w2, b2 = [v.numpy() for v in model.probes[0].weights]
    hidden = np.maximum(np.einsum("bi,cio->bco", f, w1) + b1, 0)
    z = np.einsum("bci,cir->bcr", hidden, w2) + b2  # (B, C, R)
    rows = np.arange(len(x))
    own = z[rows, y["label"]]
    flat = z.reshape(len(x), -1)
    top = flat.max(axis=1)
    log_norm = top + np.log(np.exp(flat - top[:, None]).sum(axis=1))
    loss = np.mean(log_norm - own[rows, y["random_label"]])
    accuracy = np.mean(own.argmax(axis=1) == y["random_label"])
    results = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    np.testing.assert_allclose(results["random_label_loss_d2"], loss, rtol=1e-5)
    assert results["random_label_accuracy_d2"] == pytest.approx(accuracy)
    # The probe is not part of `loss`: it is what it is without probes.
    assert results["loss"] == pytest.approx(
        results["class_loss"] + results["random_label_loss"], rel=1e-5
    )


def test_keras_round_trip_restores_the_probes(tmp_path):
    model = keras_rlr.RandomLabelModel.from_classifier(
        small_classifier(),
        split_layer="fc1",
        num_random_labels=R,
        probe_layers=["conv2", "predictions"],
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    x, y = data(16, (6, 6, 2))
    model.train_on_batch(x, y)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.probe_names == model.probe_names
    # One set of layers behind the main and the probe features, as before.
    assert loaded.feature_extractor.get_layer("conv1") is (
        loaded.probe_extractor.get_layer("conv1")
    )
    assert loaded.class_head.layers[-1] is loaded.probe_class_head.layers[-1]
    for ours, theirs in zip(
        model.weights + model.optimizer.variables,
        loaded.weights + loaded.optimizer.variables,
        strict=True,
    ):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=ours.path)
    assert model.evaluate(x, y, verbose=0, return_dict=True) == (
        loaded.evaluate(x, y, verbose=0, return_dict=True)
    )


@pytest.mark.parametrize(
    "split_layer, probe_layers, match",
    [
        (None, ["predictions"], "has the main heads' copy depth 1"),
        ("conv2", ["fc1"], "single_output has none"),
        (None, ["nope"], "no layer named 'nope'"),
        (None, ["flatten", "fc1"], "Two probe layers have copy depth 2"),
    ],
)
def test_bad_probe_layers_are_named(split_layer, probe_layers, match):
    with pytest.raises(ValueError, match=match):
        keras_rlr.RandomLabelModel.from_classifier(
            small_classifier(),
            split_layer=split_layer,
            probe_layers=probe_layers,
            single_output=match == "single_output has none",
        )


@pytest.mark.parametrize(
    "settings, match",
    [
        (dict(model="small_cnn", probe_depths="3"), "--probe_depths needs a model"),
        (dict(probe_depths="3,17"), "--probe_depths: copy_depth must be in 1...16"),
        (dict(copy_depth=3, probe_depths="5,3"), "must differ from --copy_depth=3"),
        (dict(probe_depths="3,five"), "--probe_depths must be comma-separated"),
    ],
)
def test_bad_probe_depths_name_the_flag(settings, match):
    config = tiny_config(**(dict(model="vgg16", vgg_width=1 / 16) | settings))
    with pytest.raises(ValueError, match=match):
        builders.build_model(config, (8, 8, 1), 10)


def test_train_py_logs_every_probe(tmp_path):
    result = run_train(
        "--model=vgg16",
        "--vgg_width=0.0625",
        "--dataset=digits",
        "--copy_depth=1",
        "--probe_depths=3,5",
        "--epochs=1",
        "--max_train_examples=128",
        "--batch_size=64",
        "--verbose=0",
        f"--output_dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "history.csv") as f:
        columns = next(csv.reader(f))
    summary = json.loads((tmp_path / "summary.json").read_text())
    for depth in (3, 5):
        for prefix in ("", "train_", "val_"):
            name = f"{prefix}random_label_accuracy_d{depth}"
            assert name in columns, name
            assert 0 <= summary[name] <= 1, name
    assert (tmp_path / "curves.png").is_file()
    assert "random-label accuracy, training set, probe d5" in result.stdout
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert loaded.probe_names == ("d3", "d5")


def test_same_probe_updates_on_one_and_two_replicas():
    # The probes' loss is averaged over the global batch once: optimizer.apply
    # sums the replicas' gradients (a plain mean would double their step).
    here = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.run(
        [sys.executable, os.path.join(here, "probe_replicas.py")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=here,
        # This checkout's keras_rlr, not an installed one.
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["least_probe_move"] > 1e-4
    assert result["max_weight_diff"] <= 1e-5 * max(1.0, result["max_weight"])

"""RandomLabelModel: gradient routing, equivalence at lambda = 0, saving, errors."""

import gc
import subprocess
import sys
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import special
from train_utils import (
    IN,
    LOGGED_METRICS,
    C,
    D,
    R,
    assert_sgd_step,
    batch,
    dense_extractor,
)

import keras_rlr
from keras_rlr import backbones


def test_call_returns_class_logits_and_parts_are_exposed():
    model = keras_rlr.RandomLabelModel(
        dense_extractor(), num_classes=C, num_random_labels=R
    )
    x, _ = batch()
    assert model(x).shape == (16, C)
    features = model.feature_extractor(x)
    assert model.class_head(features).shape == (16, C)
    assert model.random_heads(features).shape == (16, C, R)
    np.testing.assert_allclose(
        model.random_label_logits(x), model.random_heads(features)
    )
    # Built at construction: every weight, heads included, exists before fit.
    assert len(model.trainable_variables) == 2 + 2 + 2


def test_routing_each_group_moves_by_its_own_gradient():
    lr, lam = 0.1, 0.7
    model = keras_rlr.RandomLabelModel(
        dense_extractor(), num_classes=C, num_random_labels=R, reg_lambda=lam
    )
    model.compile(optimizer=keras.optimizers.SGD(lr))
    x, y = batch()
    w1, b1 = [v.numpy() for v in model.feature_extractor.trainable_variables]
    wc, bc = [v.numpy() for v in model.class_head.trainable_variables]
    wh, bh = [v.numpy() for v in model.random_heads.trainable_variables]

    # Independent computation: the network and the losses written out here.
    labels, rho = y["label"], y["random_label"]
    params = [tf.Variable(p.astype(np.float64)) for p in (w1, b1, wc, bc, wh, bh)]
    with tf.GradientTape(persistent=True) as tape:
        f = tf.tanh(x.astype(np.float64) @ params[0] + params[1])
        log_p = tf.nn.log_softmax(f @ params[2] + params[3])
        z = f @ params[4] + params[5]
        log_q = tf.reshape(tf.nn.log_softmax(z), (-1, C, R))
        rows = np.arange(len(x))
        l_class = -tf.reduce_mean(tf.gather_nd(log_p, np.stack([rows, labels], 1)))
        own_head = tf.gather(log_q, labels, axis=1, batch_dims=1)  # (B, R)
        l_reg = -tf.reduce_mean(tf.reduce_mean(own_head, axis=1))
        l_rand = -tf.reduce_mean(tf.gather(own_head, rho, axis=1, batch_dims=1))
        extractor_objective = l_class + lam * l_reg
        summed = extractor_objective + l_rand
    g_extractor = tape.gradient(extractor_objective, params[:2])
    g_class = tape.gradient(l_class, params[2:4])
    g_heads = tape.gradient(l_rand, params[4:])
    g_heads_wrong = tape.gradient(summed, params[4:])

    model.train_on_batch(x, y)
    order = (
        model.feature_extractor.trainable_variables
        + model.class_head.trainable_variables
        + model.random_heads.trainable_variables
    )
    grads = list(g_extractor) + list(g_class) + list(g_heads)
    assert_sgd_step(order, (w1, b1, wc, bc, wh, bh), grads, lr)
    # The test can fail: summing the losses would move the heads differently.
    assert not np.allclose(
        wh - lr * g_heads_wrong[0].numpy(), order[4].numpy(), atol=1e-6
    )


def small_conv_extractor():
    return backbones.small_cnn(input_shape=(8, 8, 1), width=4, feature_dim=16)


def test_lambda_zero_trains_the_class_path_like_a_plain_classifier():
    keras.utils.set_random_seed(1)
    fe = small_conv_extractor()
    model = keras_rlr.RandomLabelModel(fe, num_classes=C, num_random_labels=R)
    plain_fe = keras.models.clone_model(fe)
    plain_fe.set_weights(fe.get_weights())
    plain = keras.Sequential([plain_fe, keras.layers.Dense(C)])
    plain.build((None, 8, 8, 1))
    plain.layers[-1].set_weights(model.class_head.get_weights())

    rng = np.random.default_rng(0)
    x = rng.uniform(size=(64, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, C, 64)
    rho = rng.integers(0, R, 64)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    plain.compile(
        optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(
        x,
        {"label": y, "random_label": rho},
        batch_size=16,
        epochs=3,
        shuffle=False,
        verbose=0,
    )
    plain.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)

    # Every class-path weight, batch-norm statistics included, matches.
    for ours, theirs in zip(fe.weights, plain_fe.weights, strict=True):
        np.testing.assert_allclose(
            ours.numpy(), theirs.numpy(), rtol=1e-4, atol=1e-5, err_msg=ours.path
        )
    for ours, theirs in zip(
        model.class_head.weights, plain.layers[-1].weights, strict=True
    ):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-4, atol=1e-5)
    # ...and the heads did learn meanwhile.
    assert model.random_heads.kernel.numpy().std() > 0


def test_lambda_zero_extractor_gradient_does_not_pass_through_the_heads():
    # NaN head weights make NaN head logits: any op that carries a cotangent
    # from the heads into the extractor (even `0 * L_reg`) makes it NaN.
    def extractor_after_one_step(reg_lambda, head_kernel):
        keras.utils.set_random_seed(5)
        model = keras_rlr.RandomLabelModel(
            dense_extractor(), num_classes=C, num_random_labels=R, reg_lambda=reg_lambda
        )
        model.compile(optimizer=keras.optimizers.SGD(0.1))
        if head_kernel is not None:
            model.random_heads.kernel.assign(head_kernel)
        model.train_on_batch(*batch())
        return [v.numpy() for v in model.feature_extractor.trainable_variables]

    nan_kernel = np.full((D, C * R), np.nan, np.float32)
    untouched = extractor_after_one_step(0.0, None)
    with_nan_heads = extractor_after_one_step(0.0, nan_kernel)
    for a, b in zip(untouched, with_nan_heads, strict=True):
        assert np.isfinite(b).all()
        np.testing.assert_array_equal(a, b)
    # The test can fail: with lambda > 0 the heads' NaN reaches the extractor.
    assert np.isnan(extractor_after_one_step(0.5, nan_kernel)[0]).any()


def test_logged_metric_names():
    model = keras_rlr.RandomLabelModel(
        dense_extractor(), num_classes=C, num_random_labels=R
    )
    model.compile(optimizer="sgd")
    x, y = batch()
    history = model.fit(x, y, validation_data=(x, y), epochs=1, verbose=0)
    assert sorted(history.history) == sorted(
        [*LOGGED_METRICS, *(f"val_{name}" for name in LOGGED_METRICS)]
    )


def test_evaluated_metrics_against_numpy():
    # Two batches of unequal size (16 and 7): every metric is the mean over
    # examples, not over batches, and the loss carries the weight penalty.
    lam, wd = 0.5, 0.3
    keras.utils.set_random_seed(4)
    model = keras_rlr.RandomLabelModel(
        dense_extractor(),
        num_classes=C,
        num_random_labels=R,
        reg_lambda=lam,
        weight_decay=wd,
    )
    model.compile(optimizer="sgd")
    rng = np.random.default_rng(5)
    x = rng.normal(size=(23, IN)).astype(np.float32)
    labels, rho = rng.integers(0, C, 23), rng.integers(0, R, 23)
    results = model.evaluate(
        x,
        {"label": labels, "random_label": rho},
        batch_size=16,
        verbose=0,
        return_dict=True,
    )

    features = model.feature_extractor(x).numpy().astype(np.float64)
    wc, bc = (v.numpy().astype(np.float64) for v in model.class_head.weights)
    wh, bh = (v.numpy().astype(np.float64) for v in model.random_heads.weights)
    class_logits = features @ wc + bc
    z = features @ wh + bh  # (B, C * R)
    rows = np.arange(len(x))
    log_p = class_logits - special.logsumexp(class_logits, axis=1, keepdims=True)
    log_q = (z - special.logsumexp(z, axis=1, keepdims=True)).reshape(-1, C, R)
    own_head = log_q[rows, labels]  # (B, R)
    class_loss = -log_p[rows, labels]
    reg_loss = -own_head.mean(axis=1)
    random_label_loss = -own_head[rows, rho]
    penalty = 0.5 * wd * np.sum(wc**2)
    expected = {
        "class_loss": class_loss.mean(),
        "reg_loss": reg_loss.mean(),
        "random_label_loss": random_label_loss.mean(),
        "loss": (class_loss + lam * reg_loss + random_label_loss).mean() + penalty,
        "accuracy": np.mean(class_logits.argmax(axis=1) == labels),
        "random_label_accuracy": np.mean(own_head.argmax(axis=1) == rho),
    }
    assert sorted(results) == sorted(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(results[name], value, rtol=1e-5, err_msg=name)
    # The test can fail: the mean of the two batch means is another number.
    first, last = slice(0, 16), slice(16, 23)
    batch_means = (class_loss[first].mean() + class_loss[last].mean()) / 2
    assert not np.isclose(results["class_loss"], batch_means, rtol=1e-5)


def test_a_fresh_interpreter_loads_a_saved_model_after_import_keras_rlr(tmp_path):
    # Keras deserializes only registered classes; `keras_rlr` loads its
    # modules lazily, so `import keras_rlr` must register them itself.
    model = keras_rlr.RandomLabelModel(small_conv_extractor(), C, R, reg_lambda=0.5)
    model.compile(optimizer="sgd")
    model(np.zeros((1, 8, 8, 1), np.float32))
    path = tmp_path / "model.keras"
    model.save(path)
    code = (
        "import keras\nimport keras_rlr\n"
        f"model = keras.saving.load_model({str(path)!r})\n"
        "print(type(model).__name__, model.reg_lambda)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-2:] == ["RandomLabelModel", "0.5"]


def test_the_training_step_is_traced_once_with_slots_in_apply_order():
    """Keras builds an unbuilt optimizer inside the first trace when no
    strategy is set, and `tf.function` then traces the step again; the model
    builds it first, in the order its gradients are applied."""
    model = keras_rlr.RandomLabelModel(
        small_conv_extractor(), num_classes=C, num_random_labels=R, reg_lambda=0.5
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9), steps_per_execution=2
    )
    traces = []
    train_step = model.train_step

    def traced(data):
        traces.append(data)
        return train_step(data)

    model.train_step = traced
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(32, 8, 8, 1)).astype(np.float32)
    y = {"label": rng.integers(0, C, 32), "random_label": rng.integers(0, R, 32)}
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert len(traces) == 1
    applied = [v for group in model._trained_variables() for v in group]
    # The order Keras builds in under a strategy, and a backup restores in.
    assert [v.path for v in applied] == [v.path for v in model.trainable_variables]
    assert [m.name for m in model.optimizer.momentums] == [
        v.path.replace("/", "_") + "_momentum" for v in applied
    ]


def test_metrics_reset_in_one_traced_call_between_batches(monkeypatch):
    """`reset_metrics` (run by `train_on_batch`, `test_on_batch`, each epoch
    and each `evaluate`) zeroes every metric without one eager assign per
    variable: each batch's logs are that batch's alone."""
    model = keras_rlr.RandomLabelModel(
        dense_extractor(), num_classes=C, num_random_labels=R
    )
    model.compile(optimizer=keras.optimizers.SGD(0.0))  # the weights stay
    first, second = batch(seed=1), batch(seed=2)
    model.train_on_batch(*first)
    calls = []
    for metric in model.metrics:
        monkeypatch.setattr(
            metric, "reset_state", lambda name=metric.name: calls.append(name)
        )
    logs = model.train_on_batch(*second, return_dict=True)
    assert calls == []  # traced at the first reset, not run in Python again
    monkeypatch.undo()
    # No dropout or batch norm: training and inference see the same logits.
    alone = model.test_on_batch(*second, return_dict=True)
    for name in LOGGED_METRICS:
        assert logs[name] == pytest.approx(alone[name], rel=1e-6), name
    mixed = model.evaluate(
        np.concatenate([first[0], second[0]]),
        {k: np.concatenate([first[1][k], second[1][k]]) for k in first[1]},
        verbose=0,
        return_dict=True,
    )
    assert mixed["class_loss"] != pytest.approx(alone["class_loss"])  # can fail
    model.reset_metrics()
    for metric in model.metrics:
        for variable in metric.variables:
            assert not np.any(variable.numpy()), (metric.name, variable.path)


def test_the_metric_reset_does_not_keep_the_model_alive():
    model = keras_rlr.RandomLabelModel(
        dense_extractor(), num_classes=C, num_random_labels=R
    )
    model.compile(optimizer="sgd")
    model.train_on_batch(*batch())
    dead = weakref.ref(model)
    del model
    gc.collect()
    assert dead() is None


def test_keras_round_trip_restores_heads_and_optimizer(tmp_path):
    model = keras_rlr.RandomLabelModel(
        small_conv_extractor(),
        num_classes=C,
        num_random_labels=R,
        reg_lambda=0.5,
        label_smoothing=0.1,
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(32, 8, 8, 1)).astype(np.float32)
    y = {"label": rng.integers(0, C, 32), "random_label": rng.integers(0, R, 32)}
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)

    assert isinstance(loaded, keras_rlr.RandomLabelModel)
    assert loaded.reg_lambda == 0.5 and loaded.label_smoothing == 0.1
    assert len(loaded.weights) == len(model.weights)
    for a, b in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    np.testing.assert_allclose(
        loaded.random_label_logits(x), model.random_label_logits(x), atol=1e-6
    )
    # Optimizer state: iterations and momentum slots of every variable, heads too.
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 4
    assert len(loaded.optimizer.variables) == len(model.optimizer.variables)
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # Training goes on identically from the restored state.
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    loaded.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(
        loaded.random_heads.kernel.numpy(), model.random_heads.kernel.numpy(), atol=1e-5
    )


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(num_random_labels=1), "num_random_labels"),
        (dict(reg_lambda=-0.1), "reg_lambda"),
        (dict(label_smoothing=1.0), "label_smoothing"),
        (dict(num_classes=1), "num_classes"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, name):
    args = dict(num_classes=C, num_random_labels=R) | kwargs
    with pytest.raises(ValueError, match=name):
        keras_rlr.RandomLabelModel(dense_extractor(), **args)


def test_labels_outside_the_classes_are_an_error():
    model = keras_rlr.RandomLabelModel(
        dense_extractor(), num_classes=C, num_random_labels=R
    )
    model.compile(optimizer="sgd")
    x, y = batch()
    y["label"][3] = C
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_classes=3") as error:
        model.fit(x, y, epochs=1, verbose=0)
    # One line, the check's own: not TensorFlow's graph trace around it.
    assert str(error.value) == (
        "bad input data: a class label in the data is negative or >= "
        "num_classes=3: class labels must lie in [0, num_classes)"
    )
    y["label"][3] = -1
    with pytest.raises(tf.errors.InvalidArgumentError, match="negative") as error:
        model.evaluate(x, y, verbose=0)
    assert "\n" not in str(error.value)
    y["label"][3] = 0
    y["random_label"][3] = R
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        model.train_on_batch(x, y)
    assert str(error.value).startswith("bad input data: a random label")
    assert "num_random_labels=4" in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_inputs_are_an_error_and_leave_the_weights(bad):
    model = keras_rlr.RandomLabelModel(
        dense_extractor(), num_classes=C, num_random_labels=R
    )
    model.compile(optimizer="sgd")
    before = [w.numpy() for w in model.weights]
    x, y = batch()
    x[5, 2] = bad
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or Inf") as error:
        model.fit(x, y, batch_size=len(x), epochs=1, verbose=0)
    assert str(error.value).startswith("bad input data") and "\n" not in str(
        error.value
    )
    for value, weight in zip(before, model.weights, strict=True):
        np.testing.assert_array_equal(value, weight.numpy())


def test_targets_must_carry_random_labels():
    model = keras_rlr.RandomLabelModel(
        dense_extractor(), num_classes=C, num_random_labels=R
    )
    model.compile(optimizer="sgd")
    x, y = batch()
    with pytest.raises(
        ValueError,
        match=r"with_random_labels\. Received: y=a tensor of dtype int64 and "
        r"shape \(None,\)$",
    ):
        model.fit(x, y["label"], epochs=1, verbose=0)


def conv_map_extractor():
    inputs = keras.Input((4, 4, 1))
    return keras.Model(inputs, keras.layers.Conv2D(2, 3)(inputs))


def test_without_pooling_the_default_heads_refuse_a_feature_map():
    with pytest.raises(
        ValueError, match=r"feature_pooling='mean'.*feature_pooling=None"
    ):
        keras_rlr.RandomLabelModel(
            conv_map_extractor(),
            num_classes=C,
            num_random_labels=R,
            feature_pooling=None,
        )


def test_a_given_dense_class_head_refuses_a_feature_map():
    with pytest.raises(ValueError, match=r"given class_head \(Dense\).*pooling layer"):
        keras_rlr.RandomLabelModel(
            conv_map_extractor(),
            num_classes=C,
            num_random_labels=R,
            class_head=keras.layers.Dense(C),
        )


def test_class_token_pooling_refuses_a_spatial_map():
    with pytest.raises(ValueError, match=r"feature_pooling='mean'"):
        keras_rlr.RandomLabelModel(
            conv_map_extractor(),
            num_classes=C,
            num_random_labels=R,
            feature_pooling="class_token",
        )


def test_unknown_pooling_names_the_choices():
    with pytest.raises(ValueError, match=r"'mean', 'class_token'.*feature_pooling=max"):
        keras_rlr.RandomLabelModel(
            dense_extractor(), num_classes=C, num_random_labels=R, feature_pooling="max"
        )


def test_routing_with_copied_heads_at_depth_three():
    # Split 3 layers before the output: the class path keeps conv2, fc1, fc2;
    # the heads are C fused copies of them. Same routing as with dense heads.
    lr, lam = 0.1, 0.7
    keras.utils.set_random_seed(3)
    inputs = keras.Input((5, 5, 2))
    h = keras.layers.Conv2D(3, 3, padding="same", activation="tanh", name="conv1")(
        inputs
    )
    h = keras.layers.Conv2D(4, 3, padding="same", name="conv2")(h)
    h = keras.layers.Activation("tanh", name="conv2_tanh")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(5, activation="tanh", name="fc1")(h)
    classifier = keras.Model(inputs, keras.layers.Dense(C, name="fc2")(h))
    model = keras_rlr.RandomLabelModel.from_classifier(
        classifier, split_layer="conv2", num_random_labels=R, reg_lambda=lam
    )
    model.compile(optimizer=keras.optimizers.SGD(lr))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 5, 5, 2))
    labels, rho = rng.integers(0, C, 16), rng.integers(0, R, 16)
    groups = (
        model.feature_extractor.trainable_variables,
        model.class_head.trainable_variables,
        model.random_heads.trainable_variables,
    )
    old = [[v.numpy() for v in group] for group in groups]

    # Independent computation in float64: the network written out with tf.nn.
    params = [[tf.Variable(w.astype(np.float64)) for w in group] for group in old]
    (w1, b1), tail, heads = params

    def conv(a, kernel, bias):
        return tf.nn.conv2d(a, kernel, strides=1, padding="SAME") + bias

    def tail_logits(f, w2, b2, w3, b3, w4, b4):
        a = tf.reshape(tf.tanh(conv(f, w2, b2)), (len(x), -1))
        return tf.tanh(a @ w3 + b3) @ w4 + b4

    with tf.GradientTape(persistent=True) as tape:
        f = tf.tanh(conv(x, w1, b1))
        log_p = tf.nn.log_softmax(tail_logits(f, *tail))
        z = tf.stack([tail_logits(f, *[w[c] for w in heads]) for c in range(C)], axis=1)
        log_q = tf.reshape(tf.nn.log_softmax(tf.reshape(z, (len(x), -1))), (-1, C, R))
        l_class = -tf.reduce_mean(tf.gather(log_p, labels, axis=1, batch_dims=1))
        own_head = tf.gather(log_q, labels, axis=1, batch_dims=1)
        l_reg = -tf.reduce_mean(own_head)
        l_rand = -tf.reduce_mean(tf.gather(own_head, rho, axis=1, batch_dims=1))
        extractor_objective = l_class + lam * l_reg
    grads = (
        tape.gradient(extractor_objective, params[0]),
        tape.gradient(l_class, params[1]),
        tape.gradient(l_rand, params[2]),
    )
    assert np.abs(tape.gradient(l_reg, params[0])[0].numpy()).max() > 1e-4

    model.train_on_batch(x.astype(np.float32), {"label": labels, "random_label": rho})
    for group, before, grad in zip(groups, old, grads, strict=True):
        assert_sgd_step(group, before, grad, lr)


def compiled_dense_model():
    model = keras_rlr.RandomLabelModel(
        dense_extractor(), num_classes=C, num_random_labels=R
    )
    model.compile(optimizer="sgd")
    return model


@pytest.mark.parametrize(
    "key, value, message",
    [
        (
            "label",
            lambda y: np.eye(C)[y],
            r"one-hot.*with_random_labels.*tf.argmax.*"
            r"Received: y\['label'\].shape=\(None, 3\)",
        ),
        (
            "random_label",
            lambda y: np.eye(R)[y],
            r"one-hot.*Received: y\['random_label'\].shape=\(None, 4\)",
        ),
        (
            "label",
            lambda y: y.astype(np.float32),
            r"float32 labels, which would be truncated.*integer class ids of "
            r"shape \(batch,\) or \(batch, 1\).*Received: y\['label'\].dtype=float32",
        ),
        (
            "label",
            lambda y: y.reshape(16, 1, 1),
            r"rank 3.*Received: y\['label'\].shape=\(None, 1, 1\)",
        ),
    ],
)
def test_labels_that_are_not_class_ids_are_refused_in_one_line(key, value, message):
    model = compiled_dense_model()
    x, y = batch()
    y[key] = value(y[key])
    with pytest.raises(ValueError, match=message) as error:
        model.fit(x, y, epochs=1, verbose=0)
    assert "\n" not in str(error.value)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    with pytest.raises(ValueError, match=message):
        model.evaluate(dataset, verbose=0)


def test_labels_of_shape_batch_by_one_train_as_a_vector():
    x, y = batch()
    column = {k: v[:, None] for k, v in y.items()}
    results = []
    for targets in (y, column):
        keras.utils.set_random_seed(0)
        model = compiled_dense_model()
        model.train_on_batch(x, targets)
        results.append([w.numpy() for w in model.weights])
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(loss="sparse_categorical_crossentropy"), "loss"),
        (dict(metrics=["accuracy"]), "metrics"),
        (dict(loss_weights=[1.0]), "loss_weights"),
    ],
)
def test_compile_refuses_a_loss_or_metric_it_would_not_use(kwargs, name):
    model = keras_rlr.RandomLabelModel(
        dense_extractor(), num_classes=C, num_random_labels=R
    )
    with pytest.raises(
        ValueError, match=rf"no `{name}`.*logs loss, class_loss.*Received: {name}="
    ):
        model.compile(optimizer="sgd", **kwargs)
    model.compile(optimizer="sgd", metrics=[], jit_compile=False)  # nothing given


def test_sample_weights_are_refused_naming_them():
    model = compiled_dense_model()
    x, y = batch()
    with pytest.raises(
        ValueError,
        match=r"sample weights.*with_random_labels.*Received: sample_weight=",
    ):
        model.fit(x, y, sample_weight=np.ones(len(x)), epochs=1, verbose=0)


def test_given_heads_read_a_feature_map_as_it_is_even_without_pooling():
    # A single-output model whose given heads flatten the map themselves: no
    # default head reads the features, so feature_pooling=None refuses nothing.
    heads = keras.Sequential(
        [
            keras.layers.Flatten(),
            keras.layers.Dense(C * R),
            keras.layers.Reshape((C, R)),
        ]
    )
    model = keras_rlr.RandomLabelModel(
        conv_map_extractor(),
        num_classes=C,
        num_random_labels=R,
        single_output=True,
        feature_pooling=None,
        random_heads=heads,
    )
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 1)).astype(np.float32)
    features = model.feature_extractor(x)
    np.testing.assert_allclose(model.random_label_logits(x), heads(features))

"""Single-output variant (paper A.5): summed prediction, losses and routing."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import logsumexp
from train_utils import C, R, assert_sgd_step, batch, dense_extractor

import keras_rlr
from keras_rlr import backbones


def single_output_model(**kwargs):
    return keras_rlr.RandomLabelModel(
        dense_extractor(),
        num_classes=C,
        num_random_labels=R,
        single_output=True,
        **kwargs,
    )


def test_no_class_head_and_the_prediction_is_the_summed_joint_probability():
    model = single_output_model()
    assert model.class_head is None
    x, y = batch()
    z = model.random_label_logits(x).numpy().astype(np.float64)
    log_q = z - logsumexp(z.reshape(len(x), -1), axis=1)[:, None, None]
    log_p = np.log(np.exp(log_q).sum(axis=2))  # log sum_r q[c, r]
    out = model(x).numpy()
    np.testing.assert_allclose(out, log_p, rtol=1e-5, atol=1e-6)
    # Class log-probabilities: normalized, and logits whose softmax is p(c|x).
    np.testing.assert_allclose(np.exp(out).sum(axis=1), 1.0, rtol=1e-5)

    # Every logged value against NumPy on the same logits.
    model.compile(optimizer="sgd")
    logs = model.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)
    rows = np.arange(len(x))
    own = log_q[rows, y["label"]]  # (B, R)
    expected = {
        "class_loss": -log_p[rows, y["label"]].mean(),
        "reg_loss": -own.mean(axis=1).mean(),
        "random_label_loss": -own[rows, y["random_label"]].mean(),
        "accuracy": (log_p.argmax(axis=1) == y["label"]).mean(),
        "random_label_accuracy": (own.argmax(axis=1) == y["random_label"]).mean(),
    }
    # The applied objectives only: L_reg + L_rand (L_class is not trained).
    expected["loss"] = expected["reg_loss"] + expected["random_label_loss"]
    for name, value in expected.items():
        np.testing.assert_allclose(
            logs[name], value, rtol=1e-5, atol=1e-6, err_msg=name
        )


def test_routing_extractor_learns_from_reg_loss_alone():
    lr = 0.1
    model = single_output_model()
    model.compile(optimizer=keras.optimizers.SGD(lr))
    x, y = batch()
    w1, b1 = [v.numpy() for v in model.feature_extractor.trainable_variables]
    wh, bh = [v.numpy() for v in model.random_heads.trainable_variables]

    # Independent computation: the network and the losses written out here.
    labels, rho = y["label"], y["random_label"]
    params = [tf.Variable(p.astype(np.float64)) for p in (w1, b1, wh, bh)]
    with tf.GradientTape(persistent=True) as tape:
        f = tf.tanh(x.astype(np.float64) @ params[0] + params[1])
        z = f @ params[2] + params[3]
        log_q = tf.reshape(tf.nn.log_softmax(z), (-1, C, R))
        own_head = tf.gather(log_q, labels, axis=1, batch_dims=1)  # (B, R)
        l_reg = -tf.reduce_mean(tf.reduce_mean(own_head, axis=1))
        l_rand = -tf.reduce_mean(tf.gather(own_head, rho, axis=1, batch_dims=1))
    g_extractor = tape.gradient(l_reg, params[:2])
    g_heads = tape.gradient(l_rand, params[2:])
    g_extractor_from_rand = tape.gradient(l_rand, params[:2])

    model.train_on_batch(x, y)
    order = (
        model.feature_extractor.trainable_variables
        + model.random_heads.trainable_variables
    )
    assert_sgd_step(order, (w1, b1, wh, bh), list(g_extractor) + list(g_heads), lr)
    # L_rand has a gradient for the extractor, and the extractor did not get it.
    assert np.abs(g_extractor_from_rand[0].numpy()).max() > 1e-3
    moved = w1 - order[0].numpy()
    assert not np.allclose(
        moved, lr * (g_extractor[0] + g_extractor_from_rand[0]).numpy(), atol=1e-6
    )


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(reg_lambda=0.5), "reg_lambda"),
        (dict(label_smoothing=0.1), "label_smoothing"),
        (dict(class_head=keras.layers.Dense(C)), "class_head"),
    ],
)
def test_arguments_without_a_role_are_errors(kwargs, name):
    with pytest.raises(ValueError, match=f"{name}"):
        single_output_model(**kwargs)


def test_trains_and_round_trips_with_copied_heads(tmp_path):
    vgg = backbones.vgg16(num_classes=C, input_shape=(8, 8, 1), width=1 / 16)
    model = keras_rlr.RandomLabelModel.from_classifier(
        vgg,
        split_layer=backbones.vgg16_split_layer(4),
        num_random_labels=R,
        single_output=True,
    )
    assert model.class_head is None
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 8, 8, 1)).astype(np.float32)
    y = {"label": rng.integers(0, C, 16), "random_label": rng.integers(0, R, 16)}
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.single_output and loaded.class_head is None
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-5, atol=1e-6)

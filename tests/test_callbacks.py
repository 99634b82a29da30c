"""TrainSetEvaluation: clean, inference-mode training-set metrics in the logs."""

import keras
import numpy as np

import keras_rlr
from keras_rlr import backbones, data
from keras_rlr.callbacks import TrainSetEvaluation


def test_adds_end_of_epoch_train_metrics_that_match_evaluate(tmp_path):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(96, 8, 8, 1)).astype(np.float32)
    labels = rng.integers(0, 3, 96).astype(np.int32)
    ds = keras_rlr.datasets.from_arrays((images, labels), (images, labels), 3).train
    clean = data.evaluation_dataset(
        ds, batch_size=32, num_random_labels=4, seed=0, stream=data.TRAIN_STREAM
    )
    model = keras_rlr.RandomLabelModel(
        backbones.small_cnn(width=4, feature_dim=16, dropout=0.5),
        num_classes=3,
        num_random_labels=4,
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    train = data.training_dataset(
        ds, batch_size=16, num_random_labels=4, seed=0, epochs=3, augment=True
    )
    csv_path = tmp_path / "history.csv"
    history = model.fit(
        train,
        epochs=3,
        steps_per_epoch=6,
        shuffle=False,  # the stream is shuffled by seed; Keras warns otherwise
        callbacks=[TrainSetEvaluation(clean), keras.callbacks.CSVLogger(csv_path)],
        verbose=0,
    )
    logs = history.history
    assert len(logs["train_accuracy"]) == len(logs["train_random_label_accuracy"]) == 3
    final = model.evaluate(clean, return_dict=True, verbose=0)
    assert logs["train_accuracy"][-1] == final["accuracy"]
    assert logs["train_random_label_accuracy"][-1] == final["random_label_accuracy"]
    # Later callbacks see the added metrics.
    header = csv_path.read_text().splitlines()[0].split(",")
    assert {"train_accuracy", "train_random_label_accuracy"} <= set(header)


def test_an_epoch_short_of_its_steps_is_an_error_before_it_is_logged(tmp_path):
    """Keras ends an epoch whose input ran out with a warning; here it is an
    error, raised before the CSV logger records the short epoch."""
    import pytest

    from keras_rlr.callbacks import IncompleteEpochError, RequireFullEpochs

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((20, 2), "float32"), np.ones((20, 1), "float32")
    ds = tf_dataset(x, y).batch(4)  # 5 batches: epoch 1 full, epoch 2 has 1 of 4
    csv_path = tmp_path / "history.csv"
    callbacks = [RequireFullEpochs(4), keras.callbacks.CSVLogger(csv_path)]
    with (
        pytest.warns(UserWarning, match="ran out of data"),  # all Keras does
        pytest.raises(IncompleteEpochError, match="epoch 2 trained 1 of its 4 steps"),
    ):
        model.fit(
            ds,
            epochs=3,
            steps_per_epoch=4,
            callbacks=callbacks,
            shuffle=False,
            verbose=0,
        )
    assert [line.split(",")[0] for line in csv_path.read_text().splitlines()[1:]] == [
        "0"
    ]


def tf_dataset(x, y):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((x, y))

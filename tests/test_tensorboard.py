"""train.py's TensorBoard callback writes what Keras's writes, in fewer calls."""

import pathlib

import keras
import numpy as np
import tensorflow as tf
from train_utils import C, R, batch, dense_extractor

import keras_rlr
from keras_rlr.callbacks import TrainSetEvaluation
from keras_rlr.train.tensorboard import TensorBoard


def events(log_dir):
    """`{subdirectory: sorted (tag, step, value, plugin)}` of every summary
    written under `log_dir` (the model's graph is compared by its presence)."""
    found = {}
    for path in sorted(pathlib.Path(log_dir).rglob("events.out.tfevents*")):
        rows = found.setdefault(path.parent.name, [])
        for record in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            if event.graph_def:
                rows.append(("<graph>", event.step, None, None))
            for value in event.summary.value:
                array = tf.make_ndarray(value.tensor)
                rows.append(
                    (
                        value.tag,
                        event.step,
                        array.tolist() if array.dtype != object else array.tobytes(),
                        value.metadata.plugin_data.plugin_name,
                    )
                )
    return {name: sorted(rows, key=repr) for name, rows in found.items()}


def as_read_by_tensorboard(log_dir):
    """`{tag: [(step, value)]}` of the scalars, through TensorBoard's reader."""
    from tensorboard.backend.event_processing import event_accumulator

    reader = event_accumulator.EventAccumulator(
        str(log_dir), size_guidance={event_accumulator.TENSORS: 0}
    ).Reload()
    return {
        tag: [
            (e.step, tf.make_ndarray(e.tensor_proto).item())
            for e in reader.Tensors(tag)
        ]
        for tag in reader.Tags()["tensors"]
    }


def test_the_same_events_as_keras_tensorboard(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras_rlr.RandomLabelModel(dense_extractor(), C, R)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    x, y = batch(n=48)
    clean = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    theirs, ours = tmp_path / "keras", tmp_path / "ours"
    model.fit(
        x,
        y,
        batch_size=16,
        epochs=3,
        validation_data=(x[:20], {k: v[:20] for k, v in y.items()}),
        callbacks=[
            TrainSetEvaluation(clean),  # train_* metrics in the logs too
            keras.callbacks.TensorBoard(str(theirs)),
            TensorBoard(str(ours)),
        ],
        verbose=0,
    )
    expected, written = events(theirs), events(ours)
    assert set(expected) == {"train", "validation"}
    tags = {row[0] for row in expected["train"]} | {
        row[0] for row in expected["validation"]
    }
    # Every kind of scalar Keras writes is there: epoch metrics, the clean
    # train-set ones, the learning rate, validation per epoch and per evaluation.
    for tag in (
        "epoch_random_label_accuracy",
        "epoch_train_random_label_accuracy",
        "epoch_learning_rate",
        "evaluation_loss_vs_iterations",
    ):
        assert tag in tags
    assert written == expected
    # And as TensorBoard's own reader sees them: the same series per tag.
    for name in expected:
        series = [as_read_by_tensorboard(root / name) for root in (theirs, ours)]
        assert series[0] == series[1] and series[0], name
    assert np.isclose(
        [row[2] for row in written["train"] if row[0] == "epoch_learning_rate"],
        0.1,
    ).all()

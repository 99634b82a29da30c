"""train_and_evaluate on the CIFAR path: TFDS (mocked), WideResNet, augmentation."""

import json

import keras
import pytest
import tensorflow_datasets as tfds
from train_utils import tiny_config

from keras_rlr.train import experiment
from keras_rlr.train.config import Config


def test_cifar_path_on_mocked_tfds(tmp_path):
    config = Config(
        dataset="cifar100",
        model="wide_resnet",
        wrn_depth=10,
        wrn_width=1,
        epochs=2,
        batch_size=16,
        dropout=0.1,
        eval_batch_size=32,
        verbose=0,
    )
    with tfds.testing.mock_data(
        num_examples=48, policy=tfds.testing.MockPolicy.USE_CODE
    ):
        summary = experiment.train_and_evaluate(config, str(tmp_path))
    assert summary["num_train_examples"] == 48
    assert summary["num_test_examples"] == 48
    assert summary["chance"] == pytest.approx(0.1)
    # The CIFAR-100 classifier: 100 classes on WRN-10-1's 64 features.
    model = keras.saving.load_model(tmp_path / "model.keras")
    assert model.num_classes == 100
    assert tuple(model.random_heads.kernel.shape) == (64, 100 * 10)
    history = (tmp_path / "history.csv").read_text().splitlines()
    assert len(history) == 3
    config_written = json.loads((tmp_path / "config.json").read_text())
    assert config_written["dataset"] == "cifar100"


def test_unknown_model_is_a_run_error(tmp_path):
    config = tiny_config(model="resnet9000")
    with pytest.raises(experiment.RunError, match="resnet9000"):
        experiment.train_and_evaluate(config, str(tmp_path))


def test_train_set_metrics_on_a_subset(tmp_path):
    from keras_rlr import data, datasets

    config = tiny_config(max_train_examples=0, train_eval_examples=50)
    summary = experiment.train_and_evaluate(config, str(tmp_path))
    model = keras.saving.load_model(tmp_path / "model.keras")
    first_50 = data.evaluation_dataset(
        datasets.load("digits").train.take(50),
        batch_size=64,
        num_random_labels=10,
        seed=0,
        stream=data.TRAIN_STREAM,
    )
    expected = model.evaluate(first_50, return_dict=True, verbose=0)
    assert summary["train_accuracy"] == pytest.approx(expected["accuracy"])
    assert summary["train_random_label_accuracy"] == pytest.approx(
        expected["random_label_accuracy"]
    )


def test_steps_per_execution_ends_every_epoch_on_a_call(tmp_path):
    from keras_rlr.train import builders

    assert builders.steps_per_execution(32, 44) == 22
    assert builders.steps_per_execution(32, 195) == 15
    assert builders.steps_per_execution(32, 43) == 1
    assert builders.steps_per_execution(100, 4) == 4

    class TwoReplicas:
        num_replicas_in_sync = 2

    # Keras's multi-step loop fails under distribution (test_distribute.py
    # trains on two replicas through train_and_evaluate): one step per call.
    assert builders.steps_per_execution(32, 44, TwoReplicas()) == 1
    # Several steps per call train and log exactly what one step per call does.
    histories = []
    for steps in (1, 3):
        config = tiny_config(
            epochs=2, batch_size=16, max_train_examples=96, steps_per_execution=steps
        )
        experiment.train_and_evaluate(config, str(tmp_path / str(steps)))
        histories.append((tmp_path / str(steps) / "history.csv").read_text())
    assert histories[0] == histories[1]

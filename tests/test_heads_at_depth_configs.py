"""The copy-depth and single-output configs run end to end through train.py."""

import json
import logging

import numpy as np
import pytest
from train_utils import run_train, tiny_config

from keras_rlr.train import builders
from keras_rlr.train.config import Config

TINY = [
    "--dataset=digits",
    "--augment=false",
    "--epochs=1",
    "--max_train_examples=32",
    "--train_eval_examples=32",
    "--batch_size=32",
    "--verbose=0",
]


def test_vgg16_copy_depth_config(tmp_path):
    # A small depth keeps it cheap; d = 16 is checked below at the library level.
    result = run_train(
        "--flagfile=configs/vgg16_copy_depth.cfg",
        *TINY,
        "--vgg_width=0.0625",
        "--copy_depth=4",
        "--copy_width_multiplier=2",
        "--reg_lambda=0.5",
        f"--output_dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model"] == "vgg16" and config["copy_depth"] == 4
    assert config["copy_width_multiplier"] == 2
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert 0 <= summary["train_random_label_accuracy"] <= 1
    assert (tmp_path / "model.keras").is_file()


def test_copy_depth_16_copies_the_whole_network(caplog):
    # d = 16: the extractor is the identity; building says so, training goes on.
    config = tiny_config(
        model="vgg16", vgg_width=0.0625, copy_depth=16, copy_width_multiplier=2
    )
    model = builders.build_model(config, (8, 8, 1), 10)
    assert not model.feature_extractor.weights
    # The copies' hidden layers are twice as wide as the network's (4 -> 8).
    assert model.random_heads.copy_configs[0]["config"]["filters"] == 8
    with caplog.at_level(logging.WARNING):
        model.build((None, 8, 8, 1))
    assert "L_reg has nothing to train" in caplog.text
    model.compile(optimizer="sgd")
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(4, 8, 8, 1)).astype(np.float32)
    targets = {"label": np.arange(4) % 10, "random_label": np.arange(4) % 10}
    logs = model.train_on_batch(x, targets, return_dict=True)
    assert np.isfinite(logs["loss"])


def test_single_output_config(tmp_path):
    result = run_train(
        "--flagfile=configs/single_output.cfg",
        *TINY,
        "--model=small_cnn",
        "--cnn_width=4",
        "--cnn_feature_dim=8",
        f"--output_dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["single_output"] is True
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert 0 <= summary["val_accuracy"] <= 1


def test_copy_depth_needs_vgg16():
    config = Config(model="small_cnn", copy_depth=3)
    with pytest.raises(ValueError, match="copy_depth=3"):
        builders.build_model(config, (8, 8, 1), 10)

"""The copy-depth and single-output configs run end to end through train.py."""

import json
import os
import subprocess
import sys

import pytest

from keras_rlr import experiment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = [
    "--dataset=digits",
    "--augment=false",
    "--epochs=1",
    "--max_train_examples=64",
    "--batch_size=32",
    "--verbose=0",
]


def run_train(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, "train.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_vgg16_copy_depth_config_copies_the_whole_network(tmp_path):
    # d = 16: the extractor is the identity; the run says so and goes on.
    result = run_train(
        "--flagfile=configs/vgg16_copy_depth.cfg",
        *TINY,
        "--vgg_width=0.0625",
        "--copy_depth=16",
        "--copy_width_multiplier=2",
        "--reg_lambda=0.5",
        f"--output_dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "L_reg has nothing to train" in result.stderr
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model"] == "vgg16" and config["copy_depth"] == 16
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert 0 <= summary["train_random_label_accuracy"] <= 1
    assert (tmp_path / "model.keras").is_file()


def test_single_output_config(tmp_path):
    result = run_train(
        "--flagfile=configs/single_output.cfg",
        *TINY,
        "--model=vgg16",
        "--vgg_width=0.0625",
        "--copy_depth=4",
        f"--output_dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["single_output"] is True
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert 0 <= summary["val_accuracy"] <= 1


def test_copy_depth_needs_vgg16():
    config = experiment.Config(model="small_cnn", copy_depth=3)
    with pytest.raises(ValueError, match="copy_depth=3"):
        experiment.build_model(config, (8, 8, 1), 10)

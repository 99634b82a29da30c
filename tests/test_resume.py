"""A run killed with SIGKILL and started again ends as if never interrupted."""

import csv
import json
import os
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from train_utils import ROOT, tiny_config

from keras_rlr.train.experiment import RunError, train_and_evaluate
from keras_rlr.train.run_directory import RunDirectory, RunDirectoryError

FLAGS = [
    "--flagfile=configs/quickstart.cfg",
    "--epochs=4",
    "--max_train_examples=512",
    "--cnn_width=8",
    "--cnn_feature_dim=32",
    "--augment",
    "--dropout=0.1",
    "--deterministic",
    "--verbose=2",
]


def start(output_dir, log):
    return subprocess.Popen(
        [sys.executable, "train.py", *FLAGS, f"--output_dir={output_dir}"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )


def backed_up_epochs(output_dir):
    try:
        with open(os.path.join(output_dir, "backup", "training_metadata.json")) as f:
            return json.load(f)["epoch"]
    except (OSError, ValueError):
        return 0


def history(output_dir):
    with open(os.path.join(output_dir, "history.csv")) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("resume")
    straight, killed = tmp / "straight", tmp / "killed"
    with open(tmp / "straight.log", "w") as log:
        assert start(straight, log).wait(timeout=600) == 0
    with open(tmp / "killed.log", "w") as log:
        proc = start(killed, log)
        deadline = time.time() + 300
        while backed_up_epochs(killed) < 1 and proc.poll() is None:
            assert time.time() < deadline, "no backup after 5 minutes"
            time.sleep(0.05)
        proc.kill()  # SIGKILL, in the middle of the second epoch
        proc.wait()
    interrupted_at = backed_up_epochs(killed)
    with open(tmp / "resumed.log", "w") as log:
        assert start(killed, log).wait(timeout=600) == 0
    return straight, killed, interrupted_at, (tmp / "resumed.log").read_text()


def test_resumes_instead_of_starting_over(runs):
    _, _, interrupted_at, resumed_log = runs
    assert 1 <= interrupted_at < 4
    assert "Resuming" in resumed_log
    assert f"at epoch {interrupted_at + 1}/4" in resumed_log
    assert "Epoch 1/4" not in resumed_log  # the finished epochs are not redone


def test_same_final_weights_as_an_uninterrupted_run(runs):
    straight, killed, _, _ = runs
    a = keras.saving.load_model(straight / "model.keras")
    b = keras.saving.load_model(killed / "model.keras")
    assert int(a.optimizer.iterations) == int(b.optimizer.iterations) == 4 * 16
    for wa, wb in zip(a.weights, b.weights, strict=True):
        np.testing.assert_array_equal(wa.numpy(), wb.numpy(), err_msg=wa.path)


def test_same_history_as_an_uninterrupted_run(runs):
    straight, killed, _, _ = runs
    rows_a, rows_b = history(straight), history(killed)
    assert [r["epoch"] for r in rows_b] == ["0", "1", "2", "3"]
    assert rows_a == rows_b
    assert not (killed / "backup").exists()  # removed once the run finished


def test_corrupt_backup_is_named(tmp_path):
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "latest.weights.h5").write_bytes(b"not an hdf5 file")
    with pytest.raises(RunError, match="latest.weights.h5 is corrupt"):
        train_and_evaluate(tiny_config(), str(tmp_path))


def test_corrupt_backup_metadata_is_named(tmp_path):
    run = RunDirectory(str(tmp_path))
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    os.makedirs(run.backup_dir)
    model.save_weights(run.backup_weights)
    (tmp_path / "backup" / "training_metadata.json").write_text("{broken")
    with pytest.raises(RunDirectoryError, match="training_metadata.json is corrupt"):
        run.resume_epoch()
    (tmp_path / "backup" / "training_metadata.json").write_text('{"epoch": 3}')
    assert run.resume_epoch() == 3


def test_interrupted_run_with_other_settings_is_refused(tmp_path):
    run = RunDirectory(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"epochs": 5, "seed": 0}))
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    os.makedirs(run.backup_dir)
    model.save_weights(run.backup_weights)
    (tmp_path / "backup" / "training_metadata.json").write_text('{"epoch": 2}')
    run.check_config({"epochs": 5, "seed": 0, "verbose": 2})  # same run: fine
    with pytest.raises(RunDirectoryError, match=r"epochs: 5 -> 7"):
        run.check_config({"epochs": 7, "seed": 0})


def test_history_is_cut_back_to_the_backup(tmp_path):
    (tmp_path / "history.csv").write_text("epoch,loss\n0,3.0\n1,2.0\n2,1.0\n")
    RunDirectory(str(tmp_path)).truncate_history(2)
    assert (tmp_path / "history.csv").read_text().split() == [
        "epoch,loss",
        "0,3.0",
        "1,2.0",
    ]

"""A run killed with SIGKILL and started again ends as if never interrupted."""

import csv
import json
import os
import subprocess
import sys
import threading
import time

import keras
import numpy as np
import pytest
from train_utils import ROOT, restored_tiny_model, tiny_config, tiny_keras_model

from keras_rlr import _atomic
from keras_rlr.callbacks import BackupAndRestore
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
        return RunDirectory(str(output_dir)).resume_epoch()
    except RunDirectoryError:  # read while the run prunes an old backup
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
    # To the byte: the rows rebuilt from the backup and those appended after.
    name = "history.csv"
    assert (killed / name).read_bytes() == (straight / name).read_bytes()
    assert not (killed / "backup").exists()  # removed once the run finished


def make_backups(backup_dir, epochs, history_file=None):
    """Real backups of a tiny model after each of `epochs` epochs."""
    model = tiny_keras_model()
    x, y = np.ones((4, 2), "float32"), np.ones((4, 1), "float32")
    callbacks = [BackupAndRestore(str(backup_dir), history_file=history_file, keep=9)]
    if history_file:
        callbacks.insert(0, keras.callbacks.CSVLogger(history_file))
    model.fit(x, y, epochs=epochs, callbacks=callbacks, verbose=0)
    return model


def test_corrupt_backup_is_named(tmp_path):
    make_backups(tmp_path / "backup", 1)
    (tmp_path / "backup" / "epoch_1" / "variables.npz").write_bytes(b"not an npz")
    with pytest.raises(RunError, match=r"epoch_1/\S+ is damaged .* no older backup"):
        train_and_evaluate(tiny_config(), str(tmp_path))


def test_corrupt_latest_backup_falls_back_to_the_previous_one(tmp_path):
    run = RunDirectory(str(tmp_path))
    make_backups(run.backup_dir, 3)
    assert run.resume_epoch() == 3
    (tmp_path / "backup" / "epoch_3" / "state.json").write_text('{"epo')
    backup, corrupt = run.latest_backup()
    assert backup.epoch == run.resume_epoch() == 2
    assert [os.path.basename(error.backup) for error in corrupt] == ["epoch_3"]
    assert corrupt[0].path == str(tmp_path / "backup" / "epoch_3" / "state.json")
    # A half-renamed (temporary) backup is never taken for a backup.
    (tmp_path / "backup" / "epoch_2").rename(tmp_path / "backup" / ".epoch_2.tmp")
    assert run.resume_epoch() == 1


def test_backup_keeps_only_the_last_two(tmp_path):
    model = tiny_keras_model()
    x, y = np.ones((4, 2), "float32"), np.ones((4, 1), "float32")
    model.fit(x, y, epochs=4, callbacks=[BackupAndRestore(str(tmp_path))], verbose=0)
    assert sorted(os.listdir(tmp_path)) == ["epoch_3", "epoch_4"]


def test_restore_loads_the_backed_up_weights_and_optimizer(tmp_path):
    trained = make_backups(tmp_path, 2)
    fresh = restored_tiny_model(tmp_path)
    assert fresh._initial_epoch == 2
    assert int(fresh.optimizer.iterations) == int(trained.optimizer.iterations)
    for a, b in zip(trained.weights, fresh.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_backup_holds_the_epoch_end_state_while_the_next_epoch_trains(
    tmp_path, monkeypatch
):
    """The files are written in the background: what they hold is the state
    at the epoch's end, though the weights change before the write starts."""
    model = make_backups(tmp_path, 1)
    callback = BackupAndRestore(str(tmp_path))
    callback.set_model(model)
    updated = threading.Event()
    save = callback._save

    def after_the_update(*args):  # the writer thread starts late
        assert updated.wait(timeout=60)
        save(*args)

    monkeypatch.setattr(callback, "_save", after_the_update)
    at_epoch_end = [w.numpy().copy() for w in model.weights]
    callback.on_epoch_end(1)  # starts writing epoch_2
    for weight in model.weights:  # the next epoch's updates, in place
        weight.assign_add(np.ones(weight.shape, weight.dtype))
    model.train_on_batch(np.ones((4, 2)), np.ones((4, 1)))  # the optimizer's
    assert not np.array_equal(at_epoch_end[0], model.weights[0].numpy())
    updated.set()
    callback.wait()
    fresh = restored_tiny_model(tmp_path)
    assert fresh._initial_epoch == 2
    for a, b in zip(at_epoch_end, fresh.weights, strict=True):
        np.testing.assert_array_equal(a, b.numpy())


def test_a_failed_background_write_is_raised_once_by_wait(tmp_path, monkeypatch):
    model = make_backups(tmp_path, 1)
    callback = BackupAndRestore(str(tmp_path))
    callback.set_model(model)

    def full_disk(path):
        raise OSError(28, "No space left on device", path)

    monkeypatch.setattr(_atomic, "fsync_dir", full_disk)
    callback.on_epoch_end(1)
    with pytest.raises(OSError, match="No space left"):
        callback.wait()
    callback.wait()  # raised once: a later wait has nothing to report
    assert os.listdir(tmp_path) == ["epoch_1"]  # the old backup, no temporary


def test_interrupted_run_with_other_settings_is_refused(tmp_path):
    run = RunDirectory(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"epochs": 5, "seed": 0}))
    make_backups(run.backup_dir, 2)
    run.check_config({"epochs": 5, "seed": 0, "verbose": 2})  # same run: fine
    with pytest.raises(RunDirectoryError, match=r"epochs: 5 -> 7"):
        run.check_config({"epochs": 7, "seed": 0})


def test_history_is_rebuilt_from_the_backup(tmp_path):
    run = RunDirectory(str(tmp_path))
    make_backups(run.backup_dir, 2, history_file=run.file("history.csv"))
    backed_up = (tmp_path / "history.csv").read_bytes()
    assert len(backed_up.splitlines()) == 3  # header + 2 epochs
    # What a crash (or a second writer) may leave: a partial row, NUL bytes.
    (tmp_path / "history.csv").write_bytes(backed_up + b"2,0.5\x00\x00\n3,")
    backup, _ = run.latest_backup()
    run.rebuild_history(backup)
    # Byte for byte what CSVLogger wrote (its line ends too): it appends to it.
    assert (tmp_path / "history.csv").read_bytes() == backed_up
    run.rebuild_history(None)  # no backup: no history
    assert not (tmp_path / "history.csv").exists()


def test_a_backup_of_another_run_is_refused_by_name(tmp_path):
    from keras_rlr.callbacks import ForeignBackupError, choose_backup

    model = tiny_keras_model()
    x, y = np.ones((4, 2), "float32"), np.ones((4, 1), "float32")
    callback = BackupAndRestore(str(tmp_path), run={"seed": 1, "epochs": 5})
    model.fit(x, y, epochs=2, callbacks=[callback], verbose=0)
    backup, damaged = choose_backup(str(tmp_path), run={"seed": 1, "epochs": 5})
    assert (backup.epoch, damaged) == (2, [])
    with pytest.raises(ForeignBackupError, match=r"epoch_2 was written by another run"):
        choose_backup(str(tmp_path), run={"seed": 0, "epochs": 5})
    fresh = tiny_keras_model()
    restore = BackupAndRestore(str(tmp_path), run={"seed": 0, "epochs": 5})
    restore.set_model(fresh)
    with pytest.raises(ForeignBackupError, match=r"\(seed: 1 -> 0\)"):
        restore.on_train_begin()


def test_the_chosen_backup_is_the_one_restored(tmp_path):
    """Given a choice, BackupAndRestore restores exactly it (not the newest)."""
    from keras_rlr.callbacks import backups

    trained = make_backups(tmp_path, 3)
    (older,) = [b for b in backups(str(tmp_path)) if b.epoch == 2]
    older.verify()
    fresh = tiny_keras_model()
    callback = BackupAndRestore(str(tmp_path), restore=older)
    callback.set_model(fresh)
    callback.on_train_begin()
    assert fresh._initial_epoch == 2
    assert int(trained.optimizer.iterations) == 3  # one step an epoch
    assert int(fresh.optimizer.iterations) == 2
    with np.load(older.weights_path) as arrays:
        np.testing.assert_array_equal(fresh.weights[0].numpy(), arrays["arr_0"])


@pytest.mark.parametrize(
    "damage",
    [b"", b"PK\x03\x04", "flip"],
    ids=["zero bytes", "cut", "flipped"],
)
def test_every_array_is_read_to_verify_a_backup(tmp_path, damage):
    from keras_rlr.callbacks import BackupError, backups

    make_backups(tmp_path, 1)
    (backup,) = backups(str(tmp_path))
    data = bytearray(open(backup.weights_path, "rb").read())
    if damage == "flip":
        # The last byte of the last array: only a read of that array sees it.
        import struct
        import zipfile

        with zipfile.ZipFile(backup.weights_path) as archive:
            last = archive.infolist()[-1]
        name_length, extra_length = struct.unpack_from(
            "<HH", data, last.header_offset + 26
        )
        start = last.header_offset + 30 + name_length + extra_length
        data[start + last.compress_size - 1] ^= 0xFF
    else:
        data = damage
    with open(backup.weights_path, "wb") as f:
        f.write(bytes(data))
    with pytest.raises(BackupError, match=r"variables.npz is damaged \(\w+"):
        backup.verify()

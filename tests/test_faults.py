"""Nothing silently wrong: one writer per directory, atomic state, failures
that are failures, corrupt files named.

The fast checks run in `make test`; the kill campaign (SIGKILL at chosen system
calls with strace, a full tmpfs) is `tests/test_fault_campaign.py`, run by
`make faults`.
"""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from train_utils import (
    ROOT,
    flip,
    restored_tiny_model,
    run_train,
    tiny_config,
    tiny_keras_model,
)

from keras_rlr import _atomic
from keras_rlr.callbacks import BackupAndRestore, backups
from keras_rlr.sweep import config as sweep_config
from keras_rlr.sweep import grid, runner
from keras_rlr.train.experiment import RunError, train_and_evaluate
from keras_rlr.train.run_directory import RunDirectory, RunDirectoryError


def strict_json(path):
    """Parses like any strict JSON reader: `NaN` and `Infinity` are errors."""

    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    with open(path) as f:
        return json.load(f, parse_constant=refuse)


# -- One writer -------------------------------------------------------------------


def test_a_second_writer_stops_at_once_naming_the_holder(tmp_path):
    run = RunDirectory(str(tmp_path / "run"))
    held = run.lock()
    try:
        assert run.state() == "running"
        with pytest.raises(RunError, match=rf"in use by pid {os.getpid()} on "):
            train_and_evaluate(tiny_config(), run.path)
        assert not os.path.exists(run.file("config.json"))  # it touched nothing
    finally:
        held.close()
    assert run.state() == "interrupted"  # released with the file


def test_train_py_refuses_a_locked_directory_in_one_line(tmp_path):
    run = RunDirectory(str(tmp_path / "run"))
    held = run.lock()
    try:
        result = run_train(
            "--flagfile=configs/quickstart.cfg", f"--output_dir={run.path}"
        )
    finally:
        held.close()
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert f"train.py: error: the run directory {run.path} is in use by pid " in (
        result.stderr
    )


def test_sweep_lock_excludes_a_second_sweep_but_shards_share_it(tmp_path):
    config = sweep_config.parse_config_text(
        f"--name=t\n--base=configs/quickstart.cfg\n--output_dir={tmp_path}\n"
        "--seeds=0\n--grid=dropout:0.5\n"
    )
    sweep = grid.expand(config)
    shard_a = runner.lock_sweep(sweep, shared=True)
    shard_b = runner.lock_sweep(sweep, shared=True)
    with pytest.raises(RunDirectoryError, match="sweep directory .* is in use"):
        runner.lock_sweep(sweep)
    shard_a.close()
    shard_b.close()
    whole = runner.lock_sweep(sweep)
    with pytest.raises(RunDirectoryError, match="is in use by pid"):
        runner.lock_sweep(sweep, shared=True)
    whole.close()


# Stands in for train.py: records its pid, then sleeps or writes summary.json.
FAKE_TRAIN = textwrap.dedent(
    """\
    import json, os, sys, time
    out = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--output_dir=")][0]
    os.makedirs(out, exist_ok=True)
    with open(out + ".pid", "w") as f:
        f.write(str(os.getpid()))
    time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump({"chance": 0.1, "num_random_labels": 10}, f)
    """
)


def _fake_sweep(tmp_path, seeds="0,1"):
    (tmp_path / "fake_train.py").write_text(FAKE_TRAIN)
    config = sweep_config.parse_config_text(
        f"--name=t\n--base={ROOT}/configs/quickstart.cfg\n"
        f"--output_dir={tmp_path}/sweep\n--seeds={seeds}\n--grid=dropout:0.5\n"
    )
    return grid.expand(config)


def test_runner_never_starts_a_run_whose_directory_is_locked(tmp_path):
    sweep = _fake_sweep(tmp_path)
    busy, free = sweep.runs
    held = RunDirectory(sweep.run_dir(busy)).lock()
    try:
        with open(tmp_path / "progress.txt", "w") as out:
            failed = runner.run_sweep(
                sweep,
                train_script=str(tmp_path / "fake_train.py"),
                out=out,
                poll_seconds=0.05,
            )
        assert failed == []
        assert not os.path.exists(sweep.run_dir(busy) + ".pid")  # never started
        assert runner.state(sweep.run_dir(busy)) == "running"
        assert runner.state(sweep.run_dir(free)) == "finished"
        assert (
            "skip dropout=0.5/seed_0: running"
            in (tmp_path / "progress.txt").read_text()
        )
    finally:
        held.close()


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too: it only waits for its (new) parent to reap it.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def test_children_die_with_a_sigkilled_sweep(tmp_path):
    sweep = _fake_sweep(tmp_path, seeds="0")
    script = textwrap.dedent(
        f"""\
        import sys
        sys.path.insert(0, {ROOT!r})
        from keras_rlr.sweep import config, grid, runner
        sweep = grid.expand(config.parse_config({str(tmp_path / "t.cfg")!r}))
        runner.run_sweep(sweep, train_script={str(tmp_path / "fake_train.py")!r})
        """
    )
    (tmp_path / "t.cfg").write_text(
        f"--name=t\n--base={ROOT}/configs/quickstart.cfg\n"
        f"--output_dir={tmp_path}/sweep\n--seeds=0\n--grid=dropout:0.5\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=dict(os.environ, FAKE_SLEEP="60"),
        stdout=subprocess.DEVNULL,
    )
    pid_file = sweep.run_dir(sweep.runs[0]) + ".pid"
    deadline = time.time() + 60
    while not (os.path.exists(pid_file) and open(pid_file).read()):
        assert time.time() < deadline and parent.poll() is None
        time.sleep(0.05)
    child = int(open(pid_file).read())
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 10
    while _alive(child):
        assert time.time() < deadline, "the child outlived its SIGKILLed sweep"
        time.sleep(0.05)


# -- Atomic state -------------------------------------------------------------------


def test_summary_is_strict_json_and_a_corrupt_one_is_named(tmp_path):
    run = RunDirectory(str(tmp_path))
    run.write_summary(
        {"loss": float("nan"), "val_loss": float("inf"), "chance": 0.5}
        | {"num_random_labels": 2}
    )
    assert strict_json(run.file("summary.json")) == {
        "loss": None,
        "val_loss": None,
        "chance": 0.5,
        "num_random_labels": 2,
    }
    assert run.state() == "finished"
    (tmp_path / "summary.json").write_text("")  # what a non-atomic write left
    assert run.state() == "corrupt"
    with pytest.raises(RunError, match=rf"{tmp_path}/summary.json of run .* corrupt"):
        train_and_evaluate(tiny_config(), str(tmp_path))


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "summary.json"
    _atomic.write_json(str(path), {"epoch": 1})

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        _atomic.write_json(str(path), {"epoch": 2})
    assert json.loads(path.read_text()) == {"epoch": 1}
    assert os.listdir(tmp_path) == ["summary.json"]


def test_a_backup_that_fails_midway_leaves_the_previous_one(tmp_path, monkeypatch):
    x, y = np.ones((4, 2), "float32"), np.ones((4, 1), "float32")
    model = tiny_keras_model()
    model.fit(x, y, epochs=1, callbacks=[BackupAndRestore(str(tmp_path))], verbose=0)
    saved = [w.numpy() for w in model.weights]
    real_fsync = _atomic.fsync_dir

    def full_disk(path):  # after the weights are written, before the rename
        if path.endswith(".tmp"):
            raise OSError(errno.ENOSPC, "No space left on device", path)
        real_fsync(path)

    monkeypatch.setattr(_atomic, "fsync_dir", full_disk)
    with pytest.raises(OSError):
        model.fit(
            x,
            y,
            epochs=2,
            initial_epoch=1,
            verbose=0,
            callbacks=[BackupAndRestore(str(tmp_path))],
        )
    assert [b.epoch for b in backups(str(tmp_path))] == [1]
    assert os.listdir(tmp_path) == ["epoch_1"]  # no half-written backup left
    fresh = restored_tiny_model(tmp_path)
    for a, b in zip(saved, fresh.weights, strict=True):
        np.testing.assert_array_equal(a, b.numpy())


def test_a_full_disk_is_one_line_naming_the_path(tmp_path, monkeypatch):
    def full_disk(self, config):
        raise OSError(errno.ENOSPC, "No space left on device", self.file("config.json"))

    monkeypatch.setattr(RunDirectory, "write_config", full_disk)
    with pytest.raises(RunError) as error:
        train_and_evaluate(tiny_config(), str(tmp_path))
    message = str(error.value)
    assert f"cannot write {tmp_path}/config.json (No space left on device)" in message
    assert "\n" not in message


# -- Failures are failures ----------------------------------------------------------


def test_a_diverged_run_fails_and_is_never_finished(tmp_path):
    run = RunDirectory(str(tmp_path))
    with pytest.raises(
        RunError, match=r"at epoch \d, batch \d+: training diverged"
    ) as e:
        train_and_evaluate(tiny_config(learning_rate=1e30, epochs=2), run.path)
    marker = strict_json(run.file("diverged.json"))
    assert f"epoch {marker['epoch'] + 1}, batch {marker['batch'] + 1}:" in str(e.value)
    assert not os.path.exists(run.file("summary.json"))
    assert run.state() == "failed (diverged)"
    with pytest.raises(RunError, match="holds a run that diverged"):
        train_and_evaluate(tiny_config(learning_rate=1e30, epochs=2), run.path)


# -- Corrupt files are named, and the report goes on ------------------------------


def test_report_marks_corrupt_and_diverged_runs_and_goes_on(tmp_path):
    from test_report import FIG2, _report_py, _write_sweep

    from keras_rlr.report import results

    numbers = {
        ("base", 0): (1.0, 0.9, 0.6, 0.1),
        ("base", 1): (1.0, 0.8, 0.8, 0.1),
        ("dropout=0.5", 0): (0.9, 0.95, 0.3, 0.11),
        ("dropout=0.5", 1): (0.9, 0.85, 0.5, 0.09),
        ("weight_decay=0.001", 0): (1.0, 0.9, 0.9, 0.1),
        ("weight_decay=0.001", 1): (1.0, 0.9, 0.7, 0.1),
    }
    out = _write_sweep(tmp_path, FIG2, numbers)
    empty = out / "base" / "seed_1"
    (empty / "summary.json").write_text("")  # killed mid-write (before: atomic)
    nul = out / "dropout=0.5" / "seed_1"
    (nul / "history.csv").write_text("epoch,loss\n0,1.0\n\x00\x00\x00\n")
    diverged = RunDirectory(str(out / "weight_decay=0.001" / "seed_1"))
    os.remove(diverged.file("summary.json"))
    diverged.write_diverged(0, 3, float("nan"), "the loss became nan")

    loaded = results.load(str(out))
    states = {(r["point"], r["seed"]): r["state"] for r in loaded.runs}
    assert states == {
        ("base", 0): "finished",
        ("base", 1): "corrupt",
        ("dropout=0.5", 0): "finished",
        ("dropout=0.5", 1): "corrupt",
        ("weight_decay=0.001", 0): "finished",
        ("weight_decay=0.001", 1): "failed (diverged)",
    }
    # The statistics use the readable runs only.
    assert loaded.stats("base", results.TRAIN_RLA).n == 1
    assert loaded.stats("base", results.TRAIN_RLA).mean == numbers[("base", 0)][2]

    result = _report_py(f"--sweep_dir={out}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert f"corrupt: {empty}/summary.json of run {empty} is corrupt" in result.stdout
    assert f"corrupt: {nul}/history.csv of run {nul} is corrupt" in result.stdout
    text = (out / "fig2.md").read_text()
    assert "## Missing or failed runs (3)" in text
    assert f"- `{diverged.path}`: failed (diverged" in text

    (out / "sweep.json").write_text('{"runs": [')
    broken = _report_py(f"--sweep_dir={out}")
    assert broken.returncode == 1 and "Traceback" not in broken.stderr
    assert f"report.py: error: {out}/sweep.json, the manifest of the sweep" in (
        broken.stderr
    )


# -- Inputs and sweep configs -------------------------------------------------------


def test_with_random_labels_refuses_what_it_would_silently_get_wrong():
    import tensorflow as tf

    from keras_rlr import data

    images = np.zeros((8, 4, 4, 1), "float32")
    labels = np.arange(8) % 3
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    with pytest.raises(ValueError, match="attach the random labels before batching"):
        data.with_random_labels(ds.batch(4), 10, seed=0)
    one_hot = ds.map(lambda x, y: (x, tf.one_hot(y, 3)))
    with pytest.raises(ValueError, match="argmax"):
        data.with_random_labels(one_hot, 10, seed=0)
    floats = tf.data.Dataset.from_tensor_slices((images, labels + 0.5))
    with pytest.raises(ValueError, match="label dtype=float64"):
        data.with_random_labels(floats, 10, seed=0)
    with pytest.raises(ValueError, match="empty"):
        data.with_random_labels(ds.take(0), 10, seed=0)
    assert len(list(data.with_random_labels(ds, 10, seed=0))) == 8  # the good one


def test_sweep_configs_refuse_duplicates_and_paths():
    base = "--name=t\n--base=b.cfg\n--output_dir=o\n"
    with pytest.raises(sweep_config.SweepError, match="appears twice"):
        sweep_config.parse_config_text(
            base + "--seeds=0\n--grid=dropout:0\n--grid=dropout:0.5\n"
        )
    with pytest.raises(sweep_config.SweepError, match=r"repeats seed\(s\) \[0\]"):
        sweep_config.parse_config_text(base + "--seeds=0,0\n--grid=dropout:0\n")
    config = sweep_config.parse_config_text(base + "--seeds=0\n--grid=dropout:0\n")
    with pytest.raises(sweep_config.SweepError, match="repeats seed"):
        sweep_config.with_overrides(config, seeds=["1", "1"])
    with pytest.raises(sweep_config.SweepError, match="not a path"):
        sweep_config.parse_config_text(
            "--name=../../x\n--base=b.cfg\n--output_dir=o\n--seeds=0\n"
        )


def test_nan_pixels_stop_the_run_with_one_line_and_no_summary(tmp_path, monkeypatch):
    """A NaN in the images: train_and_evaluate refuses the data in one line
    (what train.py prints), before any epoch is complete."""
    from keras_rlr import datasets

    load = datasets.load

    def load_with_a_nan(*args, **kwargs):
        splits = load(*args, **kwargs)
        images, labels = next(iter(splits.train.batch(10_000)))
        images = images.numpy()
        images[7, 3, 3, 0] = np.nan
        return datasets.from_arrays(
            (images, labels.numpy()),
            next(iter(splits.test.batch(10_000))),
            splits.num_classes,
            splits.horizontal_flip,
        )

    monkeypatch.setattr(datasets, "load", load_with_a_nan)
    with pytest.raises(RunError, match="NaN or Inf") as raised:
        train_and_evaluate(tiny_config(), str(tmp_path))
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "summary.json").exists()


# -- Damage on disk: recovered exactly or refused in one line ---------------------
# In process, on a tiny run (`make faults` runs the full campaign on train.py).


def _train_in_process(out, **overrides):
    import keras

    keras.backend.clear_session()  # the same layer names in every run
    return train_and_evaluate(
        tiny_config(epochs=3, deterministic=True, dropout=0.2, **overrides), str(out)
    )


@pytest.fixture(scope="module")
def damage_runs(tmp_path_factory):
    """An uninterrupted run, and one stopped (as by Ctrl-C) after epoch 2's
    backup: `backup/epoch_1`, `backup/epoch_2` and two rows of history."""
    from keras_rlr.train import interrupt

    tmp = tmp_path_factory.mktemp("damage")
    _train_in_process(tmp / "straight")
    stop = interrupt.StopAtSafePoints.on_epoch_end

    def stop_after_the_second(self, epoch, logs=None):
        stop(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt

    interrupt.StopAtSafePoints.on_epoch_end = stop_after_the_second
    try:
        with pytest.raises(KeyboardInterrupt):
            _train_in_process(tmp / "stopped")
    finally:
        interrupt.StopAtSafePoints.on_epoch_end = stop
    assert sorted(os.listdir(tmp / "stopped" / "backup")) == ["epoch_1", "epoch_2"]
    return tmp / "straight", tmp / "stopped"


def _same_as(out, straight):
    import keras

    name = "history.csv"
    assert (out / name).read_bytes() == (straight / name).read_bytes()
    a = keras.saving.load_model(straight / "model.keras")
    b = keras.saving.load_model(out / "model.keras")
    for wa, wb in zip(a.weights, b.weights, strict=True):
        np.testing.assert_array_equal(wa.numpy(), wb.numpy(), err_msg=wa.path)


@pytest.mark.parametrize("damage", ["flipped", "zero bytes", "state.json missing"])
def test_a_damaged_latest_backup_falls_back_and_recovers_exactly(
    damage_runs, tmp_path, capsys, damage
):
    straight, stopped = damage_runs
    out = tmp_path / "run"
    shutil.copytree(stopped, out)
    latest = out / "backup" / "epoch_2"
    if damage == "flipped":
        flip(latest / "variables.npz")
        damaged = latest / "variables.npz"
    elif damage == "zero bytes":
        (latest / "variables.npz").write_bytes(b"")
        damaged = latest / "variables.npz"
    else:
        os.remove(latest / "state.json")
        damaged = latest / "state.json"
    capsys.readouterr()
    _train_in_process(out)
    (line,) = [
        line for line in capsys.readouterr().out.splitlines() if "Resuming" in line
    ]
    assert f"at epoch 2/3 from its backup of epoch 1 ({out}/backup/epoch_1)" in line
    assert f"{damaged} is damaged (" in line
    _same_as(out, straight)


def test_another_runs_backup_is_refused_by_name(damage_runs, tmp_path):
    _, stopped = damage_runs
    out = tmp_path / "run"
    shutil.copytree(stopped, out)
    state_path = out / "backup" / "epoch_2" / "state.json"
    state = json.loads(state_path.read_text())
    state["run"]["seed"] = 1  # as if copied from the seed-1 run
    state_path.write_text(json.dumps(state))
    with pytest.raises(RunError) as raised:
        _train_in_process(out)
    message = str(raised.value)
    assert (
        f"{out}/backup/epoch_2 was written by a run with other settings than this "
        "command's (seed: 1 -> 0)"
    ) in message
    assert "\n" not in message
    assert not (out / "summary.json").exists()


@pytest.mark.parametrize("damage", ["{}", "metric removed", "history cut"])
def test_a_damaged_finished_run_is_corrupt_and_refused(damage_runs, tmp_path, damage):
    straight, _ = damage_runs
    out = tmp_path / "run"
    shutil.copytree(straight, out)
    summary = json.loads((out / "summary.json").read_text())
    if damage == "{}":
        (out / "summary.json").write_text("{}")
    elif damage == "metric removed":
        del summary["val_accuracy"]
        (out / "summary.json").write_text(json.dumps(summary))
    else:
        lines = (out / "history.csv").read_bytes().splitlines(keepends=True)
        (out / "history.csv").write_bytes(b"".join(lines[:2]))
    run = RunDirectory(str(out))
    assert run.state() == "corrupt"
    with pytest.raises(RunError, match=r"is corrupt \(") as raised:
        _train_in_process(out)
    assert "\n" not in str(raised.value)


def test_a_run_that_never_started_creates_nothing(tmp_path):
    """A dataset that cannot be had: no run directory (no config.json,
    flags.txt or lock) is left behind."""
    out = tmp_path / "run"
    config = tiny_config(dataset="cifar10", data_dir=str(tmp_path / "missing"))
    with pytest.raises(RunError, match="does not exist"):
        train_and_evaluate(config, str(out), flagfile="--seed=0\n")
    assert not out.exists()

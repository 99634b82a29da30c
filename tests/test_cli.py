"""The three command lines as a user meets them: help, bad input, quiet output,
finished runs asked for again, and SIGINT/SIGTERM."""

import os
import signal
import subprocess
import sys
import time

from train_utils import ROOT

from keras_rlr.train.run_directory import RunDirectory

TINY = (
    "--flagfile=configs/quickstart.cfg",
    "--max_train_examples=128",
    "--cnn_width=4",
    "--cnn_feature_dim=8",
)


def _env():
    """The user's environment: TF's log level left to the command line."""
    return {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}


def _run(script, *args):
    return subprocess.run(
        [sys.executable, script, *args],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _one_line(stderr):
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr[-2000:]
    return lines[0]


def test_help_lists_each_commands_own_flags_and_exits_0():
    for script, help_flag, own in (
        ("train.py", "-h", ("--output_dir", "--epochs", "--dataset", "--model")),
        ("train.py", "--helpshort", ("--output_dir",)),
        ("sweep.py", "--help", ("--config", "--parallel", "--seeds", "--list")),
        ("report.py", "-h", ("--sweep_dir", "--output_dir", "--name")),
    ):
        result = _run(script, help_flag)
        assert result.returncode == 0, (script, help_flag, result.stderr[-500:])
        text = result.stdout + result.stderr
        assert f"{script} --" in text  # the usage names the command as typed
        for flag in own:
            listed = (f"  {flag}:", f"  --[no]{flag[2:]}:")  # bool: --[no]name
            assert any(form in text for form in listed), (script, flag)
        assert "--alsologtostderr" not in text  # absl's own: only in --helpfull


def test_help_into_a_pipe_closed_early_is_no_traceback():
    """`train.py -h | head -1`: the reader leaves before the help is written."""
    process = subprocess.Popen(
        [sys.executable, "train.py", "-h"],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 0, stderr
    assert "Traceback" not in stderr


def test_flag_errors_are_one_line_naming_the_flag():
    result = _run("train.py", "--output_dir=x", "--verbose=5")
    assert result.returncode != 0
    line = _one_line(result.stderr)
    assert "--verbose=5" in line and "[0, 2]" in line
    result = _run("sweep.py", "--parallel=0")
    assert result.returncode != 0
    assert "--parallel=0" in _one_line(result.stderr)
    for script, args in (
        ("train.py", ["--output_dir=x"]),
        ("sweep.py", ["--config=configs/sweeps/fig2_cpu.cfg", "--list"]),
        ("report.py", ["--sweep_dir=x"]),
    ):
        result = _run(script, *args, "stray")
        assert result.returncode != 0
        assert "unexpected argument(s) stray" in _one_line(result.stderr)


# Runs a command line in-process, then says whether TensorFlow was imported.
_PROBE = """
import runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    print("tensorflow imported:", "tensorflow" in sys.modules)
"""


def _probe(script, *args, cwd=ROOT):
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, os.path.join(ROOT, script), *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "tensorflow imported: False" in result.stdout, result
    return result


def _refused(script, *args, cwd=ROOT):
    """The one line `script` refuses `args` with, before importing TensorFlow."""
    result = _probe(script, *args, cwd=cwd)
    assert result.returncode == 1, result
    line = _one_line(result.stderr)
    assert line.startswith(f"{script}: error: "), line
    return line


def test_mistakes_are_refused_before_tensorflow_is_imported(tmp_path):
    quickstart = "--flagfile=configs/quickstart.cfg"
    assert "--output_dir" in _refused("train.py")
    line = _refused("train.py", "--output_dir=x", "--dataset=cifar1000")
    assert "Did you mean 'cifar100'?" in line and "digits, digits32" in line
    assert "Received: dataset='cifar1000'" in line
    line = _refused("train.py", "--output_dir=x", "--model=small_cn")
    assert "--model=small_cn" in line and "Did you mean 'small_cnn'?" in line
    assert "unexpected argument(s) stray" in _refused(
        "train.py", "--output_dir=x", "stray"
    )
    line = _refused("train.py", quickstart, f"--data_dir={tmp_path}/none")
    assert "--data_dir" in line and f"{tmp_path}/none" in line
    line = _refused("train.py", quickstart, "--output_dir=/etc/passwd/run")
    assert "writable --output_dir" in line
    # A nested flagfile read from elsewhere: the line names the file naming it.
    line = _refused(
        "train.py", f"--flagfile={ROOT}/configs/quickstart.cfg", cwd=tmp_path
    )
    assert "--flagfile=configs/base.cfg" in line
    assert f"{ROOT}/configs/quickstart.cfg" in line
    # Another process trains in the directory: its lock is held.
    run = RunDirectory(str(tmp_path / "held"))
    held = run.lock()
    try:
        line = _refused("train.py", quickstart, f"--output_dir={run.path}")
    finally:
        held.close()
    assert f"the run directory {run.path} is in use by pid {os.getpid()}" in line
    assert not (tmp_path / "fresh").exists()
    # A finished run: asked again with its settings, nothing to do; with
    # others, refused, naming them.
    from keras_rlr.train import config as schema
    from keras_rlr.train import flags as train_flags

    finished = RunDirectory(str(tmp_path / "finished"))
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        parsed = train_flags.parse_flagfile("configs/quickstart.cfg")
    finally:
        os.chdir(here)
    config, _ = schema.from_values({n: parsed[n].value for n in train_flags.names()})
    finished.write_config(schema.to_dict(config))
    # What a finished run holds: one history row per epoch, the last one's
    # values in summary.json (RunDirectory.verify_finished).
    rows = "".join(f"{epoch},0.5\n" for epoch in range(config.epochs))
    with open(finished.file("history.csv"), "w", encoding="utf-8") as f:
        f.write("epoch,test_accuracy\n" + rows)
    summary = {"epoch": config.epochs - 1, "test_accuracy": 0.5}
    summary.update(chance=0.1, num_random_labels=10)
    finished.write_summary(summary)
    again = _probe("train.py", quickstart, f"--output_dir={finished.path}")
    assert again.returncode == 0, again
    assert "already holds this run, finished: nothing to do" in again.stdout
    line = _refused(
        "train.py", quickstart, "--epochs=3", f"--output_dir={finished.path}"
    )
    assert "finished run with other settings (epochs: 80 -> 3)" in line
    # A finished run whose summary.json does not agree: refused, naming it.
    finished.write_summary({"test_accuracy": 0.5})
    line = _refused("train.py", quickstart, f"--output_dir={finished.path}")
    assert f"{finished.file('summary.json')} is corrupt" in line
    assert "--config" in _refused("sweep.py")
    assert "--config" in _refused("sweep.py", "--config=nope.cfg")
    assert "--sweep_dir" in _refused("report.py")


def test_an_unwritable_output_dir_is_one_line():
    result = _run("train.py", *TINY, "--output_dir=/etc/passwd/run")
    line = _one_line(result.stderr)  # TF's C++ start-up lines hidden too
    assert result.returncode != 0
    assert "/etc/passwd/run" in line and "writable --output_dir" in line


def _wait_for_backup(run_dir, process, timeout=240):
    """Waits until the run has backed up at least one epoch."""
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        try:
            if RunDirectory(str(run_dir)).resume_epoch() >= 1:
                return
        except Exception:  # the backup is being written
            pass
        time.sleep(0.2)
    raise AssertionError(f"no backup in {run_dir}: {process.communicate()}")


def test_sigterm_stops_a_run_in_one_line_with_its_backup_intact(tmp_path):
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "train.py", *TINY, "--epochs=200", f"--output_dir={run_dir}"],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_backup(run_dir, process)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM
    completed = RunDirectory(str(run_dir)).resume_epoch()
    assert 1 <= completed < 200
    line = _one_line(stderr)
    assert line == (
        f"train.py: interrupted at epoch {completed + 1}; "
        "run the same command to resume"
    )
    # Not a terminal: one line per epoch, no progress bar redrawn into the pipe.
    assert "━" not in stdout and "Epoch 1/200" in stdout


def _long_sweep(tmp_path):
    out = tmp_path / "sweep"
    config = tmp_path / "long.cfg"
    config.write_text(
        "\n".join(
            [
                "--name=long",
                "--figure=fig2",
                "--base=configs/quickstart.cfg",
                f"--output_dir={out}",
                "--seeds=0",
                "--set=epochs:200",
                "--set=max_train_examples:128",
                "--set=cnn_width:4",
                "--set=cnn_feature_dim:8",
                "--grid=dropout:0.5",
            ]
        )
    )
    return config, out / "dropout=0.5" / "seed_0"


def _interrupt_a_sweep(tmp_path, signum, whole_group):
    """Starts a long sweep, sends `signum` once its run has a backup (to the
    runner, or to every process of the sweep) and checks the run stopped at
    its backup; returns the runner's process."""
    config, run_dir = _long_sweep(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "sweep.py", f"--config={config}"],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    _wait_for_backup(run_dir, process)
    if whole_group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, stderr[-2000:]
    assert "Traceback" not in stderr
    assert "interrupted: run the same command again to resume" in stdout
    # The run got the signal: it stopped at its backup and can resume.
    assert RunDirectory(str(run_dir)).state() == "interrupted"
    log = (run_dir.parent / "seed_0.log").read_text()
    # The sweep runs `python -m keras_rlr.train`: its messages say so.
    assert "python -m keras_rlr.train: interrupted at epoch" in log
    assert "Traceback" not in log
    return process


def test_sweep_forwards_sigint_to_its_runs(tmp_path):
    _interrupt_a_sweep(tmp_path, signal.SIGINT, whole_group=False)


def test_sigterm_to_the_whole_sweep_stops_every_run_at_a_backup(tmp_path):
    # Slurm (preemption, time limit) signals every process of the job: the
    # runner, its runs and the fork server between them. The runs stop at a
    # backup, and then nothing of the sweep is left running.
    process = _interrupt_a_sweep(tmp_path, signal.SIGTERM, whole_group=True)
    deadline = time.time() + 30
    while _group_alive(process.pid):
        assert time.time() < deadline, "a process of the sweep outlived it"
        time.sleep(0.2)


def _group_alive(pgid):
    """Whether a live process (not a zombie) is left in process group `pgid`."""
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat") as f:
                state, _, group = f.read().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):  # not a process, or gone meanwhile
            continue
        if int(group) == pgid and state != "Z":
            return True
    return False

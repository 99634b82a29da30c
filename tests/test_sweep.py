"""The sweep runner: config parsing, grid expansion, seeds, skipping finished
runs, resuming interrupted ones, failures, sharding, and the real entry point."""

import glob
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap

import pytest

from keras_rlr.sweep import config as sweep_config
from keras_rlr.sweep import grid, runner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SBATCH = os.path.join(ROOT, "configs", "slurm", "sweep_array.sbatch")

CONFIG = """\
# python sweep.py --config=CONFIG
--name=t
--figure=fig2
--base=configs/quickstart.cfg
--output_dir={out}
--seeds=0,1,2
--set=epochs:1
--panel=dropout
--grid=dropout:0,0.5
--panel=two_d
--grid=weight_decay:0.0,1e-3
--grid=label_smoothing:0,0.1
"""

# Stands in for train.py: records its arguments, "resumes" when its directory
# exists, fails where FAIL_POINT names its point, writes summary.json.
FAKE_TRAIN = textwrap.dedent(
    """\
    import json, os, sys, time
    args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if "=" in a)
    out = args["output_dir"]
    resumed = os.path.isdir(out)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(os.path.dirname(out), "calls.jsonl"), "a") as f:
        f.write(json.dumps(dict(args=sys.argv[1:], resumed=resumed,
                                start=time.time())) + "\\n")
    time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
    if os.environ.get("FAKE_BARRIER"):  # wait (60 s at most) for N started
        started = lambda: len(open(os.path.dirname(out) + "/../starts").read())
        with open(os.path.dirname(out) + "/../starts", "a") as f:
            f.write("x")
        deadline = time.time() + 60
        while started() < int(os.environ["FAKE_BARRIER"]) and time.time() < deadline:
            time.sleep(0.01)
        with open(os.path.dirname(out) + "/../overlaps", "a") as f:
            f.write(f"{started()}\\n")
    if os.environ.get("FAIL_POINT") and os.environ["FAIL_POINT"] in out:
        sys.exit(3)
    with open(os.path.join(out, "summary.json"), "w") as f:
        summary = {"seed": int(args["seed"]), "chance": 0.1, "num_random_labels": 10}
        json.dump(summary, f)
    """
)


@pytest.fixture
def in_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def _sweep(tmp_path, text=CONFIG):
    config = sweep_config.parse_config_text(
        text.format(out=tmp_path / "sweep"), "t.cfg"
    )
    return grid.expand(config)


def _calls(sweep_dir):
    calls = []
    for root, _, files in os.walk(sweep_dir):
        if "calls.jsonl" in files:
            with open(os.path.join(root, "calls.jsonl")) as f:
                calls += [json.loads(line) for line in f]
    return calls


def test_grid_expands_to_points_times_seeds_with_a_shared_baseline(tmp_path, in_root):
    s = _sweep(tmp_path)
    # dropout 0 and (weight_decay 0, label_smoothing 0) are both the base.
    points = ["base", "dropout=0.5", "label_smoothing=0.1", "weight_decay=0.001"]
    points.append("weight_decay=0.001,label_smoothing=0.1")
    assert [r.point for r in s.runs] == [p for p in points for _ in range(3)]
    assert [r.seed for r in s.runs] == [0, 1, 2] * 5
    assert s.panel_points["dropout"] == [
        ({"dropout": "0"}, "base"),
        ({"dropout": "0.5"}, "dropout=0.5"),
    ]
    assert [p for _, p in s.panel_points["two_d"]] == [
        "base",
        "label_smoothing=0.1",
        "weight_decay=0.001",
        "weight_decay=0.001,label_smoothing=0.1",
    ]
    run = s.runs[-1]
    assert s.command(run, python="py") == [
        "py",
        "-m",
        "keras_rlr.train",
        "--flagfile=configs/quickstart.cfg",
        "--verbose=2",
        "--epochs=1",
        "--weight_decay=0.001",
        "--label_smoothing=0.1",
        "--seed=2",
        f"--output_dir={tmp_path}/sweep/weight_decay=0.001,label_smoothing=0.1/seed_2",
    ]
    assert s.differs_from_paper["dataset"] == ("cifar100", "digits")
    assert s.differs_from_paper["epochs"] == ("200", "1")


def test_differs_from_the_figures_paper_flagfile_with_its_defaults(tmp_path, in_root):
    """Against --paper_base (a VGG16 figure here): flags the paper's file does
    not name compare with their defaults; grid flags and where-to-run flags
    are not differences of setting."""
    extra = "--paper_base=configs/vgg16_copy_depth.cfg\n--set=vgg_width:0.25\n"
    extra += "--set=max_train_examples:100\n--set=data_dir:/data\n"
    differs = _sweep(tmp_path, CONFIG + extra).differs_from_paper
    assert differs["model"] == ("vgg16", "small_cnn")
    assert differs["vgg_width"] == ("1", "0.25")
    assert differs["max_train_examples"] == ("0", "100")
    assert differs["epochs"] == ("200", "1")
    assert not {"data_dir", "dropout", "weight_decay", "output_dir"} & set(differs)
    same = (
        CONFIG.replace("--set=epochs:1\n", "") + "--paper_base=configs/quickstart.cfg\n"
    )
    assert _sweep(tmp_path, same).differs_from_paper == {}


@pytest.mark.parametrize(
    "line, message",
    [
        ("--grid=dropuot:0,1", "Unknown train.py flag --dropuot"),
        ("--grid=dropout:a,b", "--dropout is a float flag"),
        ("--grid=model:vgg17", "--model must be one of"),
        ("--set=seed:3", "--seed is set by the sweep runner"),
        ("--grid=dropout", "--grid takes flag:v1,v2"),
        ("--gird=dropout:0", "expected one of --name="),
        ("--base=configs/nope.cfg", "Base flagfile not found: 'configs/nope.cfg'"),
        ("--paper_base=nope.cfg", "Paper flagfile not found: --paper_base='nope.cfg'"),
    ],
)
def test_bad_config_names_the_problem(tmp_path, in_root, line, message):
    with pytest.raises(sweep_config.SweepError, match=message.replace("+", r"\+")):
        _sweep(tmp_path, CONFIG + line + "\n")


def test_missing_config_and_keys(tmp_path):
    with pytest.raises(
        sweep_config.SweepError,
        match="--config must name a sweep config file.*Received: config='x.cfg'",
    ):
        sweep_config.parse_config("x.cfg")
    with pytest.raises(sweep_config.SweepError, match="--seeds=0,1,2"):
        sweep_config.parse_config_text("--name=a\n--base=b\n--output_dir=c\n")


@pytest.mark.parametrize("spec", ["3/3", "1", "a/2", "-1/2", "", "1/0"])
def test_bad_shard_spec(spec):
    with pytest.raises(sweep_config.SweepError, match="--shard must be i/n"):
        grid.parse_shard(spec)


def test_shards_partition_the_runs(tmp_path, in_root):
    runs = _sweep(tmp_path).runs
    for n in (1, 2, 4, 15, 16):
        shards = [grid.shard(runs, *grid.parse_shard(f"{i}/{n}")) for i in range(n)]
        flat = [(r.point, r.seed) for part in shards for r in part]
        assert sorted(flat) == sorted((r.point, r.seed) for r in runs)
        assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_slurm_array_tasks_are_the_shards(tmp_path):
    """configs/slurm/sweep_array.sbatch as Slurm runs it: each array task
    lists exactly its --shard's runs, and the tasks cover the sweep."""
    config = tmp_path / "t.cfg"
    config.write_text(CONFIG.format(out=tmp_path / "sweep"))
    shards = [
        _run_cli(f"--config={config}", "--list", f"--shard={i}/3") for i in range(3)
    ]
    assert all(r.returncode == 0 for r in shards), shards[0].stderr
    env = dict(
        os.environ,
        PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
        SLURM_SUBMIT_DIR=ROOT,
        SLURM_ARRAY_TASK_MIN="1",  # --array=1-3
        SLURM_ARRAY_TASK_COUNT="3",
    )

    def task(task_id, *args):
        return subprocess.run(
            ["bash", SBATCH, str(config), "--list", *args],
            cwd=tmp_path,  # Slurm runs a copy; it goes to SLURM_SUBMIT_DIR
            env=dict(env, SLURM_ARRAY_TASK_ID=task_id),
            capture_output=True,
            text=True,
            timeout=120,
        )

    listed = []
    for i in range(3):
        result = task(str(i + 1))
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout == shards[i].stdout
        listed += result.stdout.splitlines()
    assert len(listed) == len(set(listed)) == len(_sweep(tmp_path).runs)
    # An explicit --shard wins over the array's.
    assert task("1", "--shard=2/3").stdout == shards[2].stdout
    result = task("first")
    assert result.returncode != 0
    assert "SLURM_ARRAY_TASK_ID='first'" in result.stderr
    assert "Traceback" not in result.stderr


def test_runner_skips_finished_resumes_interrupted_and_reports_failures(
    tmp_path, in_root, monkeypatch
):
    fake = tmp_path / "fake_train.py"
    fake.write_text(FAKE_TRAIN)
    s = _sweep(tmp_path)
    out = tmp_path / "sweep"
    # An interrupted run (directory, no summary.json) and a finished one.
    os.makedirs(out / "base" / "seed_1")
    os.makedirs(out / "base" / "seed_2")
    (out / "base" / "seed_2" / "summary.json").write_text(
        '{"chance": 0.1, "num_random_labels": 10}'
    )
    monkeypatch.setenv("FAIL_POINT", "dropout=0.5/seed_0")
    monkeypatch.setenv("FAKE_BARRIER", "3")
    log = tmp_path / "progress.txt"
    with open(log, "w") as f:
        failed = runner.run_sweep(
            s, parallel=3, train_script=str(fake), poll_seconds=0.05, out=f
        )
    assert [(r.point, r.seed, code) for r, code in failed] == [("dropout=0.5", 0, 3)]
    calls = _calls(out)
    assert len(calls) == 14  # 15 runs, one finished before
    by_dir = {c["args"][-1].split("=", 1)[1]: c for c in calls}
    assert by_dir[f"{out}/base/seed_1"]["resumed"]
    assert not by_dir[f"{out}/base/seed_0"]["resumed"]
    assert f"{out}/base/seed_2" not in by_dir
    # Three at a time: each of the first three runs waited for the third to
    # start, and saw it (one at a time, the first would wait in vain).
    overlaps = (out / "overlaps").read_text().split()
    assert all(int(n) >= 3 for n in overlaps[:3]), overlaps
    assert runner.state(str(out / "dropout=0.5" / "seed_0")) == "failed"
    assert (out / "dropout=0.5" / "seed_0.log").read_text().startswith("$ ")
    progress = log.read_text()
    assert "15 runs, 1 finished, 14 to run, 3 at a time" in progress
    assert "[15/15 done, 0 running, 1 failed]" in progress
    assert "dropout=0.5/seed_0 FAILED (exit 3" in progress

    # Again: only the failed run is started, and it now succeeds.
    monkeypatch.delenv("FAIL_POINT")
    monkeypatch.delenv("FAKE_BARRIER")
    with open(log, "w") as f:
        failed = runner.run_sweep(
            s, parallel=2, train_script=str(fake), poll_seconds=0.05, out=f
        )
    assert failed == []
    assert len(_calls(out)) == 15
    assert all(runner.state(s.run_dir(r)) == "finished" for r in s.runs)
    assert "15 runs, 14 finished, 1 to run" in log.read_text()


def _run_cli(*args):
    return subprocess.run(
        [sys.executable, "sweep.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_cli_bad_input_is_a_message_not_a_traceback(tmp_path):
    config = tmp_path / "bad.cfg"
    config.write_text(CONFIG.format(out=tmp_path) + "--grid=dropuot:0,1\n")
    result = _run_cli(f"--config={config}", "--shard=0/2")
    assert result.returncode != 0
    assert "sweep.py: error: Unknown train.py flag --dropuot" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_runs_train_py_skips_finished_and_writes_the_report(tmp_path):
    out = tmp_path / "sweep"
    config = tmp_path / "tiny.cfg"
    config.write_text(
        "\n".join(
            [
                "--name=tiny",
                "--figure=fig2",
                "--base=configs/quickstart.cfg",
                f"--output_dir={out}",
                "--seeds=0,1",
                "--set=epochs:1",
                "--set=max_train_examples:64",
                "--set=cnn_width:4",
                "--set=cnn_feature_dim:8",
                "--grid=dropout:0.5",
            ]
        )
    )
    result = _run_cli(f"--config={config}", "--parallel=2")
    assert result.returncode == 0, result.stderr[-2000:]
    for seed in (0, 1):
        run_dir = out / "dropout=0.5" / f"seed_{seed}"
        with open(run_dir / "summary.json") as f:
            assert json.load(f)["num_train_examples"] == 64
        assert f"--seed={seed}" in (run_dir / "flags.txt").read_text()
    assert (out / "fig2.png").stat().st_size > 0
    assert "| dropout=0.5 | 2/2 |" in (out / "fig2.md").read_text()
    # Finished: the second invocation starts nothing.
    result = _run_cli(f"--config={config}", "--parallel=2", "--noreport")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2 runs, 2 finished, 0 to run" in result.stdout
    assert "start" not in result.stdout


def test_a_sweep_run_trains_what_its_logged_command_trains_alone(tmp_path):
    # A sweep's run is forked from a server that imported TensorFlow once;
    # the first line of its log is its command. Typed into a shell, that
    # command trains the same run, to the bit (--deterministic).
    out = tmp_path / "sweep"
    config = tmp_path / "one.cfg"
    config.write_text(
        f"--name=one\n--base=configs/quickstart.cfg\n--output_dir={out}\n"
        "--seeds=3\n--set=epochs:2\n--set=max_train_examples:96\n"
        "--set=cnn_width:4\n--set=cnn_feature_dim:16\n--set=deterministic:true\n"
        "--grid=dropout:0.25\n"
    )
    result = _run_cli(f"--config={config}", "--noreport")
    assert result.returncode == 0, result.stderr[-2000:]
    run_dir = out / "dropout=0.25" / "seed_3"
    first_line = (tmp_path / "sweep" / "dropout=0.25" / "seed_3.log").open().readline()
    assert first_line.startswith("$ ")
    command = shlex.split(first_line[2:])
    alone = tmp_path / "alone"
    command[-1] = f"--output_dir={alone}"
    assert command[:3] == [sys.executable, "-m", "keras_rlr.train"]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for name in ("history.csv", "memorization.csv"):
        assert (alone / name).read_bytes() == (run_dir / name).read_bytes(), name


def test_readme_table_counts_the_runs_of_every_cpu_sweep(in_root):
    # docs/reproducing.md's table of sweeps: `NAME_cpu.cfg` (RUNS, ...).
    with open("docs/reproducing.md", encoding="utf-8") as file:
        listed = dict(re.findall(r"`(\w+_cpu)\.cfg` \((\d+)", file.read()))
    configs = sorted(glob.glob("configs/sweeps/*_cpu.cfg"))
    assert sorted(listed) == sorted(os.path.basename(c)[:-4] for c in configs)
    for path in configs:
        runs = grid.expand(sweep_config.parse_config(path)).runs
        assert int(listed[os.path.basename(path)[:-4]]) == len(runs), path


# Stands in for train.py on a run another process works on: it exits 1 (as
# train.py refused by the run's lock does) after that other process either
# finished the run (FAKE_OTHER=finished) or holds its lock (FAKE_OTHER=running,
# a `sleep` that keeps the lock after this script exits).
OVERLAPPING_TRAIN = textwrap.dedent(
    """\
    import fcntl, json, os, subprocess, sys
    out = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--output_dir=")][0]
    os.makedirs(out, exist_ok=True)
    if os.environ["FAKE_OTHER"] == "finished":
        with open(os.path.join(out, "summary.json"), "w") as f:
            json.dump({"chance": 0.1, "num_random_labels": 10}, f)
    else:
        lock = open(os.path.join(out, "lock"), "a+")
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.Popen(["sleep", "20"], pass_fds=[lock.fileno()])
    sys.exit(1)
    """
)


@pytest.mark.parametrize("other", ["finished", "running"])
def test_a_run_another_process_finished_or_runs_is_no_failure(
    tmp_path, in_root, monkeypatch, other
):
    """Two overlapping shards: what the other one did is not a failure here."""
    fake = tmp_path / "fake_train.py"
    fake.write_text(OVERLAPPING_TRAIN)
    s = _sweep(tmp_path)
    runs = s.runs[:1]
    monkeypatch.setenv("FAKE_OTHER", other)
    with open(tmp_path / "progress.txt", "w") as f:
        failed = runner.run_sweep(
            s, runs, train_script=str(fake), poll_seconds=0.05, out=f
        )
    assert failed == []
    run_dir = s.run_dir(runs[0])
    assert not os.path.exists(run_dir + ".failed")
    assert runner.state(run_dir) == other
    progress = (tmp_path / "progress.txt").read_text()
    assert f"{other} by another process (exit 1 here)" in progress.replace(
        "running in another", "running by another"
    )


def test_a_rerun_reports_diverged_and_corrupt_runs_as_failures(tmp_path, in_root):
    from keras_rlr.train.run_directory import RunDirectory

    s = _sweep(tmp_path)
    finished, diverged, corrupt = s.runs[:3]
    done = {"chance": 0.1, "num_random_labels": 10}
    RunDirectory(s.run_dir(finished)).write_config({"epochs": 1})
    RunDirectory(s.run_dir(finished)).write_summary(done | {"epoch": 0.0})
    (tmp_path / "h.csv").write_text("epoch\n0\n")
    os.replace(tmp_path / "h.csv", s.run_dir(finished) + "/history.csv")
    os.makedirs(s.run_dir(diverged))
    RunDirectory(s.run_dir(diverged)).write_diverged(0, 3, float("nan"), "nan")
    os.makedirs(s.run_dir(corrupt))
    with open(s.run_dir(corrupt) + "/summary.json", "w") as f:
        f.write("{}")  # no chance, no num_random_labels
    with open(tmp_path / "progress.txt", "w") as f:
        failed = runner.run_sweep(s, s.runs[:3], out=f)
    assert [(r.seed, code) for r, code in failed] == [
        (diverged.seed, "failed (diverged)"),
        (corrupt.seed, "corrupt"),
    ]
    assert "3 runs, 1 finished, 0 to run" in (tmp_path / "progress.txt").read_text()
    listed = runner.describe(s, s.runs[:3])
    assert "summary.json is corrupt (it lacks chance, num_random_labels)" in listed

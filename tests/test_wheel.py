"""The wheel, as a `pip install` user gets it: outside the repository.

Builds the wheel offline from a copy of the package (no build isolation, so no
download; in-tree builds leave `build/` behind), installs it with `--no-deps`
into a fresh virtual environment whose `.pth` file names this environment's
site-packages (TensorFlow and Keras are reused, nothing is downloaded), and,
from a directory outside the checkout, runs the three console scripts: a
one-epoch digits run, a two-point sweep and its report; their help and
errors name the commands as installed. The build itself prints no deprecation.
"""

import configparser
import csv
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPTS = {
    "keras-rlr-train": "keras_rlr.train.cli:run",
    "keras-rlr-sweep": "keras_rlr.sweep.cli:run",
    "keras-rlr-report": "keras_rlr.report.cli:run",
}
# A run of a few seconds: 64 digits, a 4-channel CNN, one epoch of 2 batches
# of 24 (each epoch leaves out 16 examples, a fresh shuffle's remainder).
TINY_RUN = """\
--dataset=digits
--model=small_cnn
--cnn_width=4
--cnn_feature_dim=8
--noaugment
--epochs=1
--batch_size=24
--max_train_examples=64
"""
# Outside the repository a sweep names its own base flagfile; without
# --paper_base it compares with the built-in paper setting.
SWEEP = """\
--name=wheel
--figure=fig2
--base=base.cfg
--output_dir=sweep
--seeds=0
--panel=dropout
--grid=dropout:0,0.5
"""


def build_wheel(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(
        os.path.join(ROOT, "keras_rlr"),
        source / "keras_rlr",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(os.path.join(ROOT, name), source)
    dist = tmp_path / "dist"
    pip = [sys.executable, "-m", "pip"]
    built = check(
        [*pip, "wheel", source, "--no-deps", "--no-build-isolation", "--no-index"]
        + ["--wheel-dir", dist, "--verbose"],
        cwd=tmp_path,
    )
    assert "deprecat" not in (built.stdout + built.stderr).lower()
    (wheel,) = dist.glob("keras_rlr-*.whl")
    return wheel


def install(wheel, venv):
    """A fresh venv holding the wheel only, seeing this venv's packages."""
    check([sys.executable, "-m", "venv", "--without-pip", venv], cwd=venv.parent)
    python = venv / "bin" / "python"
    here = {sysconfig.get_path(key) for key in ("purelib", "platlib")}
    target = run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        cwd=venv.parent,
    ).stdout.strip()
    with open(os.path.join(target, "_reuse_test_env.pth"), "w") as f:
        f.write("".join(f"{path}\n" for path in sorted(here)))
    check(
        [sys.executable, "-m", "pip", "--python", python, "install", wheel]
        + ["--no-deps", "--no-index", "--quiet"],
        cwd=venv.parent,
    )
    return venv / "bin"


def run(command, cwd):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def check(command, cwd):
    result = run(command, cwd)
    assert result.returncode == 0, (
        command,
        result.stdout[-3000:],
        result.stderr[-3000:],
    )
    return result


@pytest.mark.heavy
def test_installed_wheel_runs_train_sweep_and_report_outside_the_repository(tmp_path):
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = configparser.ConfigParser()
        name, version = wheel.name.split("-")[:2]
        dist_info = f"{name}-{version}.dist-info"
        entry_points.read_string(archive.read(f"{dist_info}/entry_points.txt").decode())
    # Every module of the package is in the wheel, subpackages included.
    for directory, _, files in os.walk(os.path.join(ROOT, "keras_rlr")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.relpath(os.path.join(directory, name), ROOT)
                assert path.replace(os.sep, "/") in names, path
    assert dict(entry_points["console_scripts"]) == SCRIPTS

    bin_dir = install(wheel, tmp_path / "venv")
    work = tmp_path / "work"
    work.mkdir()
    assert not str(work).startswith(ROOT)
    where = check(
        [bin_dir / "python", "-c", "import keras_rlr; print(keras_rlr.__file__)"],
        cwd=work,
    ).stdout.strip()
    assert where.startswith(str(tmp_path / "venv")), where

    # One epoch on digits, every flag on the command line.
    flags = TINY_RUN.splitlines()
    check([bin_dir / "keras-rlr-train", *flags, "--output_dir=run"], cwd=work)
    with open(work / "run" / "summary.json") as f:
        summary = json.load(f)
    # One training-set size everywhere: summary, memorization.csv, the figure.
    assert summary["num_train_examples"] == 64
    assert summary["train_examples_per_epoch"] == 2 * 24
    with open(work / "run" / "memorization.csv") as f:
        assert len(list(csv.DictReader(f))) == 64
    with open(work / "run" / "history.csv") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["0"]

    # Help and errors name the command as installed, and its own flags.
    for script, flag in (
        ("keras-rlr-train", "--output_dir"),
        ("keras-rlr-sweep", "--config"),
        ("keras-rlr-report", "--sweep_dir"),
    ):
        shown = check([bin_dir / script, "-h"], cwd=work).stdout
        assert f"{script} --" in shown and f"  {flag}:" in shown, shown
        refused = run([bin_dir / script], cwd=work)
        assert refused.returncode == 1
        assert (
            refused.stderr.startswith(f"{script}: error: ") and flag in refused.stderr
        )
    refused = run([bin_dir / "keras-rlr-sweep", "--config=nope.cfg"], cwd=work)
    assert "repository root" not in refused.stderr, refused.stderr

    # A two-point sweep: its runs start as the installed `python -m keras_rlr.train`.
    (work / "base.cfg").write_text(TINY_RUN)
    (work / "sweep.cfg").write_text(SWEEP)
    check([bin_dir / "keras-rlr-sweep", "--config=sweep.cfg", "--parallel=2"], cwd=work)
    runs = {
        "dropout=0": work / "sweep/base/seed_0",
        "dropout=0.5": work / "sweep/dropout=0.5/seed_0",
    }
    for point, run_dir in runs.items():
        with open(f"{run_dir}.log") as f:
            command = f.readline().split()
        assert command[:4] == ["$", str(bin_dir / "python"), "-m", "keras_rlr.train"]
        resolved = (run_dir / "flags.txt").read_text().splitlines()
        (dropout,) = [line for line in resolved if line.startswith("--dropout=")]
        assert float(dropout.split("=")[1]) == float(point.split("=")[1])

    check(
        [bin_dir / "keras-rlr-report", "--sweep_dir=sweep", "--output_dir=report"],
        cwd=work,
    )
    assert (work / "report" / "fig2.png").stat().st_size > 0
    markdown = (work / "report" / "fig2.md").read_text()
    assert "keras_rlr's built-in defaults" in markdown
    table = markdown.splitlines()
    for point, run_dir in runs.items():
        with open(run_dir / "summary.json") as f:
            accuracy = json.load(f)["train_random_label_accuracy"]
        (row,) = [line for line in table if line.startswith(f"| dropout | {point} |")]
        assert f"{accuracy:.3f}" in row, (row, accuracy)

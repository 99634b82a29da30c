"""The layout's promises: the core never imports the tooling, and the tools
that only read or configure (help, sweep listing, report) load no TensorFlow."""

import ast
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "keras_rlr"
TOOLING = ("keras_rlr.train", "keras_rlr.sweep", "keras_rlr.report")


def _imports(path):
    """Every module `path` imports (absolute names), at any depth of the file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _core_modules():
    tooling_dirs = {PACKAGE / name.split(".")[1] for name in TOOLING}
    return [
        path
        for path in PACKAGE.rglob("*.py")
        if not any(d in path.parents for d in tooling_dirs)
    ]


def test_the_core_never_imports_the_tooling():
    core = _core_modules()
    assert PACKAGE / "model.py" in core and PACKAGE / "backbones" / "vgg.py" in core
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name for name in _imports(path) if name.startswith(TOOLING)
        )
        for path in core
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_one_run_never_imports_sweeps_or_reports():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (PACKAGE / "train").rglob("*.py")
        if any(n.startswith(TOOLING[1:]) for n in _imports(path))
    ]
    assert offenders == []


def _loads_tensorflow(code, cwd=ROOT):
    """Runs `code` in a fresh interpreter; whether TensorFlow got imported."""
    probe = code + "\nimport sys\nprint('TF=' + str('tensorflow' in sys.modules))\n"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "TF=" in result.stdout, result.stderr[-2000:]
    return result.stdout.rsplit("TF=", 1)[1].strip() == "True"


def _run_script(script, *args):
    return (
        "import runpy, sys\n"
        f"sys.argv = {[script, *args]!r}\n"
        "try:\n"
        f"    runpy.run_path({script!r}, run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
    )


def test_import_keras_rlr_loads_no_tensorflow_until_a_name_is_used():
    assert not _loads_tensorflow("import keras_rlr")
    assert not _loads_tensorflow(
        "import keras_rlr.backbones; keras_rlr.backbones.NAMES"
    )
    assert _loads_tensorflow("import keras_rlr; keras_rlr.RandomLabelModel")
    assert _loads_tensorflow("import keras_rlr; keras_rlr.data.TEST_STREAM")


def test_the_dataset_names_are_checked_without_tensorflow():
    # train.py refuses an unknown --dataset before importing TensorFlow.
    check = "from keras_rlr import _dataset_names as d; "
    assert not _loads_tensorflow(check + "assert d.available('cifar100')")
    assert not _loads_tensorflow(check + "assert not d.available('cifar1000')")


def test_train_help_loads_no_tensorflow():
    assert not _loads_tensorflow(_run_script("train.py", "--help"))


def test_sweep_list_loads_no_tensorflow():
    code = _run_script("sweep.py", "--config=configs/sweeps/fig2_cpu.cfg", "--list")
    assert not _loads_tensorflow(code)


@pytest.fixture
def finished_sweep(tmp_path):
    """A sweep directory with one finished run (the report reads only files)."""
    from keras_rlr.sweep import config as sweep_config
    from keras_rlr.sweep import grid

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        text = "\n".join(
            [
                "--name=t",
                "--figure=fig2",
                "--base=configs/quickstart.cfg",
                f"--output_dir={tmp_path}",
                "--seeds=0",
                "--grid=dropout:0",
            ]
        )
        sweep = grid.expand(sweep_config.parse_config_text(text))
    finally:
        os.chdir(cwd)
    sweep.write_manifest()
    run_dir = tmp_path / "base" / "seed_0"
    run_dir.mkdir(parents=True)
    summary = dict(
        train_accuracy=1.0,
        val_accuracy=0.9,
        train_random_label_accuracy=0.4,
        val_random_label_accuracy=0.1,
        chance=0.1,
        num_random_labels=10,
        num_test_examples=360,
    )
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return tmp_path


def test_report_loads_no_tensorflow(finished_sweep):
    code = _run_script("report.py", f"--sweep_dir={finished_sweep}")
    assert not _loads_tensorflow(code)
    assert (finished_sweep / "fig2.md").is_file()

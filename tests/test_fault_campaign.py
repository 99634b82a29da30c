"""The slow fault-injection campaign (`make faults`, not part of `make test`).

`train.py` is killed with SIGKILL at chosen system calls (`strace` fault
injection: the Nth `rename`, the Nth `write`, and calls on the files of an epoch
backup, which a thread of its own writes), or runs out of disk on a small
tmpfs; then the same command runs again (on the freed disk). Then damage on
disk instead of kills: every file a rerun reads, each kind of damage (bytes
flipped, cut, emptied, deleted, another run's, edited), in an interrupted
and in a finished run directory, and in a sweep.

Every rerun is classified: "recovered exactly" (exit 0, and `history.csv`
byte for byte and every weight equal to an uninterrupted `--deterministic`
run's), "refused clearly" (a non-zero exit with one `train.py: error:` line
naming the file, no traceback, and the run not finished: no `summary.json`,
or `corrupt`) or "other", a failure. With
`KERAS_RLR_FAULT_LOG=<file>` each outcome is appended to that file, and
`python tests/fault_tally.py <file>` prints the tally (`make faults`
does both).
"""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
from train_utils import ROOT, flip

from keras_rlr.train.run_directory import RunDirectory

pytestmark = pytest.mark.skipif(
    not os.environ.get("KERAS_RLR_FAULTS") or not shutil.which("strace"),
    reason="the slow fault campaign: `make faults` (needs strace, and root for tmpfs)",
)

FLAGS = [
    "--flagfile=configs/quickstart.cfg",
    "--epochs=3",
    "--max_train_examples=256",
    "--cnn_width=4",
    "--cnn_feature_dim=8",
    "--dropout=0.1",
    "--deterministic",
    "--verbose=2",
]


def train(output_dir, strace=(), flags=FLAGS, extra=()):
    prefix = ["strace", "-f", "-qq", "-o", "/dev/null", *strace] if strace else []
    output = [f"--output_dir={output_dir}"] if output_dir else []
    return subprocess.run(
        [*prefix, sys.executable, "train.py", *flags, *output, *extra],
        cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        capture_output=True,
        text=True,
        timeout=900,
    )


def history(output_dir):
    with open(os.path.join(output_dir, "history.csv"), newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run's directory."""
    out = tmp_path_factory.mktemp("straight") / "run"
    assert train(out).returncode == 0
    return out


def same_run(out, reference):
    """Whether `out` ended as the uninterrupted `reference`: `history.csv` byte
    for byte, and every weight of `model.keras`."""
    import keras

    name = "history.csv"
    if (out / name).read_bytes() != (reference / name).read_bytes():
        return False
    a = keras.saving.load_model(reference / "model.keras")
    b = keras.saving.load_model(out / "model.keras")
    return all(
        np.array_equal(wa.numpy(), wb.numpy())
        for wa, wb in zip(a.weights, b.weights, strict=True)
    )


def outcome(out, result, reference, names=None):
    """ "recovered exactly", "refused clearly" or "other" (see the docstring).
    A refusal must name `names` (a file), when given, and leave the run
    unfinished (a damaged finished run: `corrupt`, never `finished`)."""
    if result.returncode == 0:
        return "recovered exactly" if same_run(out, reference) else "other"
    lines = result.stderr.strip().splitlines()
    clear = (
        result.returncode > 0
        and "Traceback" not in result.stderr
        and lines
        and lines[-1].startswith("train.py: error:")
        and (names is None or str(names) in lines[-1])
        and RunDirectory(str(out)).state() not in ("finished", "running")
    )
    return "refused clearly" if clear else "other"


def record(kind, result):
    """Appends one outcome to `$KERAS_RLR_FAULT_LOG` (the tally's input)."""
    path = os.environ.get("KERAS_RLR_FAULT_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"fault": kind, "outcome": result}) + "\n")


def check_rerun(out, reference, kind="kill"):
    result = train(out)
    verdict = outcome(out, result, reference)
    record(kind, verdict)
    assert verdict != "other", result.stderr[-2000:]


@pytest.mark.parametrize("call", ["rename", "write"])
@pytest.mark.parametrize("when", [1, 2, 3, 5, 8, 13, 40, 200])
def test_sigkill_at_a_system_call_then_rerun(tmp_path, reference, call, when):
    out = tmp_path / "run"
    killed = train(out, ["-e", f"inject={call}:signal=SIGKILL:when={when}"])
    if killed.returncode == 0:
        pytest.skip(f"train.py made fewer than {when} {call} calls")
    check_rerun(out, reference, f"SIGKILL at {call} #{when}")


@pytest.mark.parametrize(
    "call, when, name",
    [
        ("write", 1, "variables.npz"),
        ("write", 4, "variables.npz"),
        ("fsync", 1, "variables.npz"),
        ("write", 1, "state.json"),
        ("rename", 1, None),  # the temporary directory onto epoch_2
    ],
)
def test_sigkill_inside_the_background_backup_then_rerun(
    tmp_path, reference, call, when, name
):
    """The epoch backup is written by a thread of its own, and strace counts
    calls per thread: the counts above rarely reach it. These kill points are
    calls on the second epoch's backup files themselves (`strace -P`)."""
    out = tmp_path / "run"
    target = out / "backup" / ".epoch_2.tmp"
    target = target / name if name else target
    killed = train(
        out, ["-P", str(target), "-e", f"inject={call}:signal=SIGKILL:when={when}"]
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    # Killed while writing epoch 2's backup: epoch 1's is the one to resume.
    assert RunDirectory(str(out)).resume_epoch() == 1
    check_rerun(out, reference, f"SIGKILL at {call} #{when} on the backup's {name}")


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs mounted in `tmp_path` (root only), resizable with `resize(size)`."""
    mount = tmp_path / "disk"
    mount.mkdir()

    def resize(size, options="remount,"):
        command = ["mount", "-t", "tmpfs", "-o", f"{options}size={size}"]
        return subprocess.run([*command, "tmpfs", str(mount)], capture_output=True)

    if resize("64m", options="").returncode:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield mount, resize
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.mark.parametrize("size", ["40k", "200k", "600k"])
def test_full_disk_is_one_line_then_rerun(small_disk, reference, size):
    """A real full disk (a tmpfs of `size`), not an injected error: the writes of
    the run directory fail with ENOSPC, stderr still works."""
    mount, resize = small_disk
    out = mount / "run"
    out.mkdir()
    assert resize(size).returncode == 0
    full = train(out)
    if full.returncode == 0:
        pytest.skip(f"the whole run fit in {size}")
    assert full.returncode != 139, "segfault"
    assert "Traceback" not in full.stderr
    assert full.stderr.strip().splitlines()[-1].startswith("train.py: error:")
    assert not os.path.exists(out / "summary.json")
    assert resize("64m").returncode == 0  # space freed: the rerun must finish right
    check_rerun(out, reference, f"full disk of {size}")


# -- Damage on disk -----------------------------------------------------------------


def interrupted(out, extra=()):
    """A run killed as it renames its last epoch's backup into place: it holds
    `backup/epoch_1`, `backup/epoch_2` and up to three rows of history."""
    target = out / "backup" / ".epoch_3.tmp"
    killed = train(
        out,
        ["-P", str(target), "-e", "inject=rename:signal=SIGKILL:when=1"],
        extra=extra,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert sorted(os.listdir(out / "backup")) == [".epoch_3.tmp", "epoch_1", "epoch_2"]
    return out


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    """Interrupted runs of seed 0 (the reference's) and of seed 1."""
    tmp = tmp_path_factory.mktemp("stopped")
    return interrupted(tmp / "seed_0"), interrupted(tmp / "seed_1", ["--seed=1"])


def cut(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def edit_json(path, **changes):
    value = json.loads(path.read_text())
    value.update(changes)
    path.write_text(json.dumps(value))


def _latest(out):
    return out / "backup" / "epoch_2"


def _history_cut(out):
    lines = (out / "history.csv").read_bytes().splitlines(keepends=True)
    (out / "history.csv").write_bytes(b"".join(lines[:2]) + lines[2][:7])


def _history_extra(out):
    lines = (out / "history.csv").read_bytes().splitlines(keepends=True)
    (out / "history.csv").write_bytes(b"".join(lines + lines[1:3]) + b"9,0.5\r\n")


def _summary_metric_removed(out):
    summary = json.loads((out / "summary.json").read_text())
    del summary["train_random_label_accuracy"]
    (out / "summary.json").write_text(json.dumps(summary))


# name: (damage(out, other) on a copy of the interrupted seed-0 run, the
# expected outcome, the file a refusal names, train.py's arguments or None
# for the original command). `other` is the interrupted seed-1 run.
INTERRUPTED = {
    "variables.npz: 64 bytes flipped": (
        lambda out, _: flip(_latest(out) / "variables.npz"),
        "recovered exactly",
    ),
    "variables.npz: cut in half": (
        lambda out, _: cut(_latest(out) / "variables.npz"),
        "recovered exactly",
    ),
    "variables.npz: zero bytes": (
        lambda out, _: cut(_latest(out) / "variables.npz", 0),
        "recovered exactly",
    ),
    "variables.npz: flipped in both backups": (
        lambda out, _: [
            flip(out / "backup" / e / "variables.npz") for e in ("epoch_1", "epoch_2")
        ],
        "refused clearly",
        "variables.npz",
    ),
    "state.json: missing": (
        lambda out, _: os.remove(_latest(out) / "state.json"),
        "recovered exactly",
    ),
    "state.json: truncated": (
        lambda out, _: cut(_latest(out) / "state.json", 0.7),
        "recovered exactly",
    ),
    "state.json: another run's (seed 1)": (
        lambda out, other: shutil.copy(
            _latest(other) / "state.json", _latest(out) / "state.json"
        ),
        "refused clearly",
        "backup/epoch_2",
    ),
    "backup/: another seed's": (
        lambda out, other: (
            shutil.rmtree(out / "backup"),
            shutil.copytree(other / "backup", out / "backup"),
        ),
        "refused clearly",
        "backup/epoch_2",
    ),
    "config.json: edited (seed)": (
        lambda out, _: edit_json(out / "config.json", seed=1),
        "refused clearly",
        "config.json",
    ),
    "config.json: edited (resumable: verbose)": (
        lambda out, _: edit_json(out / "config.json", verbose=0),
        "recovered exactly",
    ),
    "flags.txt: edited (seed), resumed with --flagfile=flags.txt": (
        lambda out, _: (out / "flags.txt").write_text(
            (out / "flags.txt").read_text().replace("--seed=0", "--seed=1")
        ),
        "refused clearly",
        "backup/epoch_2",
        ["--flagfile={out}/flags.txt", "--output_dir={out}"],
    ),
    "run directory copied, resumed with its --flagfile=flags.txt": (
        lambda out, _: None,
        "recovered exactly",
        None,
        ["--flagfile={out}/flags.txt", "--output_dir={out}"],
    ),
    "history.csv: truncated": (
        lambda out, _: _history_cut(out),
        "recovered exactly",
    ),
    "history.csv: extra rows": (
        lambda out, _: _history_extra(out),
        "recovered exactly",
    ),
}
FINISHED = {
    "summary.json: {}": (
        lambda out: (out / "summary.json").write_text("{}"),
        "summary.json",
    ),
    "summary.json: truncated": (lambda out: cut(out / "summary.json"), "summary.json"),
    "summary.json: a metric removed": (_summary_metric_removed, "summary.json"),
    "history.csv (finished run): truncated": (_history_cut, "history.csv"),
    "history.csv (finished run): extra rows": (_history_extra, "history.csv"),
}


@pytest.mark.parametrize("kind", list(INTERRUPTED))
def test_damage_to_an_interrupted_run(tmp_path, reference, stopped, kind):
    damage, expected, names, args = (*INTERRUPTED[kind], None, None)[:4]
    out = tmp_path / "copy"  # a copy: elsewhere than where it was trained
    shutil.copytree(stopped[0], out)
    damage(out, stopped[1])
    if args is None:
        result = train(out)
    else:
        result = train(None, flags=[a.format(out=out) for a in args])
    if names:
        names = out / "backup" / "epoch_2" if names == "backup/epoch_2" else names
    verdict = outcome(out, result, reference, names)
    record(kind, verdict)
    assert verdict == expected, (result.stdout[-1500:], result.stderr[-1500:])
    if expected == "recovered exactly" and ("npz" in kind or "state.json" in kind):
        # The fallback is one printed line naming the damaged file.
        (line,) = [x for x in result.stdout.splitlines() if "Resuming" in x]
        assert "epoch_2/" in line and "is damaged (" in line, line
        assert "from its backup of epoch 1" in line, line


@pytest.mark.parametrize("kind", list(FINISHED))
def test_damage_to_a_finished_run(tmp_path, reference, kind):
    damage, names = FINISHED[kind]
    out = tmp_path / "copy"
    shutil.copytree(reference, out)
    damage(out)
    result = train(out)
    verdict = outcome(out, result, reference, names)
    record(kind, verdict)
    assert verdict == "refused clearly", (result.stdout[-1500:], result.stderr[-1500:])
    assert RunDirectory(str(out)).state() == "corrupt"


def test_damage_to_a_sweep(tmp_path, reference):
    """A sweep of the reference run alone: its manifest deleted, then its run
    directory deleted; each rerun of the sweep must end as the first did."""
    (tmp_path / "base.cfg").write_text(
        "".join(f"{flag}\n" for flag in FLAGS if flag != "--verbose=2")
    )
    (tmp_path / "t.cfg").write_text(
        f"--name=t\n--base={tmp_path}/base.cfg\n--output_dir={tmp_path}/sweep\n"
        "--seeds=0\n--grid=dropout:0.1\n"
    )

    def sweep():
        return subprocess.run(
            [sys.executable, "sweep.py", f"--config={tmp_path}/t.cfg", "--noreport"],
            cwd=ROOT,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
            capture_output=True,
            text=True,
            timeout=900,
        )

    assert sweep().returncode == 0
    manifest = tmp_path / "sweep" / "sweep.json"
    run = tmp_path / "sweep" / "base" / "seed_0"
    assert same_run(run, reference)
    written = manifest.read_bytes()

    os.remove(manifest)
    again = sweep()
    ok = again.returncode == 0 and manifest.read_bytes() == written
    record("sweep.json: deleted", "recovered exactly" if ok else "other")
    assert ok, again.stderr[-2000:]

    shutil.rmtree(run)
    again = sweep()
    verdict = outcome(run, again, reference)
    record("a sweep's run directory: deleted", verdict)
    assert verdict == "recovered exactly", again.stderr[-2000:]

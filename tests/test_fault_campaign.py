"""The slow fault-injection campaign (`make faults`, not part of `make test`).

`train.py` is killed with SIGKILL at chosen system calls (`strace` fault
injection: the Nth `rename`, the Nth `write`, and calls on the files of an epoch
backup, which a thread of its own writes), or runs out of disk on a small
tmpfs; then the same command runs again (on the freed disk). Every rerun must
end with a directory whose history has one row per epoch and equals an
uninterrupted `--deterministic` run's, or with a one-line error and no
`summary.json`: never finished and wrong.
"""

import csv
import os
import shutil
import signal
import subprocess
import sys

import pytest
from train_utils import ROOT

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


def train(output_dir, strace=()):
    prefix = ["strace", "-f", "-qq", "-o", "/dev/null", *strace] if strace else []
    return subprocess.run(
        [*prefix, sys.executable, "train.py", *FLAGS, f"--output_dir={output_dir}"],
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
    out = tmp_path_factory.mktemp("straight") / "run"
    assert train(out).returncode == 0
    return history(out)


def check_rerun(out, reference):
    result = train(out)
    if result.returncode == 0:
        rows = history(out)
        assert [r["epoch"] for r in rows] == ["0", "1", "2"]  # one row per epoch
        assert rows == reference
    else:  # allowed: a one-line error, and the run is not "finished"
        assert "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("train.py: error:")
        assert not os.path.exists(os.path.join(out, "summary.json"))


@pytest.mark.parametrize("call", ["rename", "write"])
@pytest.mark.parametrize("when", [1, 2, 3, 5, 8, 13, 40, 200])
def test_sigkill_at_a_system_call_then_rerun(tmp_path, reference, call, when):
    out = tmp_path / "run"
    killed = train(out, ["-e", f"inject={call}:signal=SIGKILL:when={when}"])
    if killed.returncode == 0:
        pytest.skip(f"train.py made fewer than {when} {call} calls")
    check_rerun(out, reference)


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
    check_rerun(out, reference)


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
    check_rerun(out, reference)

"""Two `train.py` workers on 127.0.0.1 train like one process with the same batch.

Runs the real entry point as users run it: two processes, the cluster in
`TF_CONFIG`, `--strategy=multi_worker`, and a single-process run of the same
flags (one replica, the same global batch) to compare with.
"""

import contextlib
import glob
import inspect
import json
import os
import socket
import subprocess
import sys
import types

import keras
import numpy as np
import pytest
from train_utils import LOGGED_METRICS, ROOT

FLAGS = [
    "--flagfile=configs/quickstart.cfg",
    "--epochs=2",
    "--max_train_examples=256",
    "--cnn_width=4",
    "--cnn_feature_dim=16",
    "--sync_batch_norm",
    "--verbose=2",
]
TIMEOUT = 240  # seconds for a whole cluster, start-up included
METRICS = (
    *LOGGED_METRICS,
    *(f"val_{name}" for name in LOGGED_METRICS),
    "train_accuracy",
    "train_random_label_accuracy",
)


def free_ports(n):
    """`n` distinct TCP ports on 127.0.0.1 that were free a moment ago."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def tf_config(ports, index):
    return json.dumps(
        {
            "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
            "task": {"type": "worker", "index": index},
        }
    )


def start(command, log_path, tf_config=None):
    """`python COMMAND` from the repository root, output to `log_path`."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = tf_config
    with open(log_path, "w") as log:
        return subprocess.Popen(
            [sys.executable, *command],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )


def start_cluster(command, logs):
    """One process of `command` per log path, each a worker of one cluster."""
    ports = free_ports(len(logs))
    return [
        start(command, log, tf_config(ports, index)) for index, log in enumerate(logs)
    ]


def wait_all(procs, logs, timeout=TIMEOUT):
    """Exit codes; on a timeout every process is killed and the test fails."""
    try:
        return [proc.wait(timeout=timeout) for proc in procs]
    except subprocess.TimeoutExpired:
        pytest.fail(
            f"no exit within {timeout} s; last output:\n"
            + "\n".join(open(log).read()[-2000:] for log in logs)
        )
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def load_weights(path):
    import keras_rlr.model  # noqa: F401  (registers RandomLabelModel)

    return [w.numpy() for w in keras.saving.load_model(path).weights]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("multi_worker")
    out = {name: tmp / name for name in ("workers", "single")}
    logs = [str(tmp / f"worker_{i}.log") for i in range(2)]
    label_logs = [str(tmp / f"labels_{i}.log") for i in range(2)]
    single_log = str(tmp / "single.log")
    procs = start_cluster(
        [
            "train.py",
            *FLAGS,
            "--strategy=multi_worker",
            f"--output_dir={out['workers']}",
        ],
        logs,
    )
    # The single-process run and the label probe share the cores with it.
    procs.append(
        start(["train.py", *FLAGS, f"--output_dir={out['single']}"], single_log)
    )
    procs += start_cluster(
        [os.path.join("tests", "worker_labels.py"), *FLAGS, f"--output_dir={tmp}"],
        label_logs,
    )
    all_logs = [*logs, single_log, *label_logs]
    codes = wait_all(procs, all_logs)
    return types.SimpleNamespace(
        tmp=tmp,
        out=out,
        codes=dict(zip(all_logs, codes, strict=True)),
        logs={log: open(log).read() for log in all_logs},
        pids=[proc.pid for proc in procs[:2]],
    )


def test_both_workers_and_the_single_run_exit_0(runs):
    for log, code in runs.codes.items():
        assert code == 0, f"{log}:\n{runs.logs[log][-3000:]}"


def worker_dir(runs):
    return runs.out["workers"] / "workers" / "worker_1"


def test_every_worker_ends_with_the_same_weights(runs):
    chief = load_weights(runs.out["workers"] / "model.keras")
    other = load_weights(worker_dir(runs) / "model.keras")
    for a, b in zip(chief, other, strict=True):
        np.testing.assert_array_equal(a, b)


def test_same_weights_as_one_process_with_the_same_batch(runs):
    single = load_weights(runs.out["single"] / "model.keras")
    workers = load_weights(runs.out["workers"] / "model.keras")
    largest = max(float(np.max(np.abs(w))) for w in single)
    # Loss scaled once over the global batch, BN synchronized: same update.
    for a, b in zip(single, workers, strict=True):
        assert float(np.max(np.abs(a - b))) <= 1e-5 * max(1.0, largest)


def test_same_metrics_as_one_process_with_the_same_batch(runs):
    def summary(path):
        with open(path / "summary.json") as f:
            return json.load(f)

    single, chief = summary(runs.out["single"]), summary(runs.out["workers"])
    other = summary(worker_dir(runs))
    for name in METRICS:
        assert chief[name] == pytest.approx(single[name], rel=1e-5, abs=1e-6), name
        assert other[name] == chief[name], name


def test_workers_see_the_random_labels_of_their_share(runs):
    with open(runs.tmp / "labels.json") as f:
        expected = json.load(f)
    seen = [np.load(runs.tmp / f"labels_worker_{i}.npy") for i in range(2)]
    steps, per_replica = seen[0].shape
    assert steps * 2 * per_replica == expected["num_labels"] > 0
    # Worker i gets the i-th half of every global batch, labels included.
    single = np.asarray(expected["labels"]).reshape(steps, 2 * per_replica)
    np.testing.assert_array_equal(np.concatenate(seen, axis=1), single)


def test_the_chief_writes_the_run_and_the_other_worker_only_its_own_dir(runs):
    root = runs.out["workers"]
    assert os.path.exists(root / "summary.json")
    assert os.listdir(root / "workers") == ["worker_1"]
    chief_pid, other_pid = runs.pids
    # TensorBoard names its files after the process that writes them.
    events = glob.glob(str(root / "**" / "events.out.tfevents.*"), recursive=True)
    assert events
    for path in events:
        pid = int(os.path.basename(path).split(".")[-3])  # ...<host>.<pid>.<n>.v2
        inside = path.startswith(str(worker_dir(runs)) + os.sep)
        assert pid == (other_pid if inside else chief_pid), path
    # Nothing next to the run directory but what the test itself wrote.
    assert sorted(os.listdir(runs.tmp)) == sorted(
        [
            "workers",
            "single",
            "labels.json",
            *(f"labels_worker_{i}.npy" for i in range(2)),
            *(os.path.basename(log) for log in runs.logs),
        ]
    )


def test_keras_still_needs_the_workaround(monkeypatch):
    """`distribute.fit_on_workers` relies on these Keras internals (checked
    against Keras 3.15.1): if one fails after a Keras upgrade, see
    distribute.KERAS_ISSUE and rework or drop the workaround."""
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer
    from tensorflow.python.distribute import values

    from keras_rlr.train import distribute

    assert distribute.KERAS_ISSUE.endswith("/keras/issues/20585")
    cls = trainer.TensorFlowTrainer
    assert list(inspect.signature(cls._maybe_symbolic_build).parameters) == [
        "self",
        "iterator",
        "data_batch",
    ]
    # Looked up on the model each time: the model's own attributes win.
    for method in ("fit", "evaluate"):
        source = inspect.getsource(getattr(cls, method))
        assert "self._maybe_symbolic_build(iterator=" in source, method
    assert "self.train_step" in inspect.getsource(cls.make_train_function)
    assert "self.test_step" in inspect.getsource(cls.make_test_function)

    reduced, built = [], []

    class Strategy:
        def reduce(self, op, value, axis=None):
            reduced.append((op, axis))
            return value

        def scope(self):
            return contextlib.nullcontext()

    model = types.SimpleNamespace(
        _distribute_strategy=Strategy(),
        distribute_strategy=Strategy(),
        _symbolic_build=lambda data_batch=None: built.append(data_batch),
    )
    batch = (values.PerReplica((tf.zeros([2, 3]), tf.ones([2, 3]))),)
    # The bug: a distributed batch is reduced across replicas before the build.
    cls._maybe_symbolic_build(model, iterator=[(0, 0, iter([batch]))])
    assert reduced == [("MEAN", None)] and built == [batch]
    # The fix relies on: a batch handed in is built from, never reduced.
    reduced.clear(), built.clear()
    local = tf.zeros([2, 3])
    cls._maybe_symbolic_build(model, data_batch=local)
    assert reduced == [] and built == [local]
    # Step outputs on several workers: a mean over axis 0, which scalars lack.
    monkeypatch.setattr(trainer, "_collective_all_reduce_multi_worker", lambda s: True)
    reduced.clear()
    trainer.reduce_per_replica({"loss": local}, Strategy(), reduction="auto")
    assert reduced == [("MEAN", 0)]


SLURM_STEP = {
    "SLURM_JOB_ID": "123",
    "SLURM_PROCID": "1",
    "SLURM_STEP_NUM_TASKS": "2",
    "SLURM_STEP_NODELIST": "node[1-2]",
    "SLURM_STEP_TASKS_PER_NODE": "1(x2)",
}


@pytest.fixture
def slurm_step(monkeypatch):
    """The environment `srun -N 2 --ntasks-per-node=1` gives task 1, no GPUs."""
    from keras_rlr.train import distribute

    for name in ("TF_CONFIG", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in SLURM_STEP.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(distribute.shutil, "which", lambda name: None)
    return distribute


def test_a_slurm_job_step_is_the_cluster(slurm_step):
    resolver = slurm_step.cluster_resolver()
    assert type(resolver).__name__ == "SlurmClusterResolver"
    assert resolver.cluster_spec().as_dict() == {"worker": ["node1:8888", "node2:8888"]}
    assert resolver.get_task_info() == ("worker", 1)
    assert not slurm_step.is_chief()
    assert slurm_step.worker_output_dir("run") == os.path.join(
        "run", "workers", "worker_1"
    )


def test_slurm_task_0_is_the_chief(slurm_step, monkeypatch):
    monkeypatch.setenv("SLURM_PROCID", "0")
    resolver = slurm_step.cluster_resolver()
    resolver.cluster_spec()
    assert resolver.get_task_info() == ("worker", 0)
    assert slurm_step.is_chief()
    assert slurm_step.worker_output_dir("run") == "run"


def test_slurm_with_gpus_splits_them_among_the_tasks(slurm_step, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setenv("SLURM_STEP_TASKS_PER_NODE", "2")
    monkeypatch.setenv("SLURM_STEP_NODELIST", "node1")
    spec = slurm_step.cluster_resolver().cluster_spec().as_dict()
    assert spec == {"worker": ["node1:8888", "node1:8889"]}
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"  # task 1: the second GPU


def test_tf_config_wins_over_slurm(slurm_step, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", tf_config(["127.0.0.1:1", "127.0.0.1:2"], index=0))
    assert slurm_step.cluster_resolver() is None  # TensorFlow reads TF_CONFIG
    assert slurm_step.is_chief()


def test_outside_a_slurm_step_one_worker(slurm_step, monkeypatch):
    monkeypatch.delenv("SLURM_STEP_NUM_TASKS")  # e.g. the batch script itself
    assert slurm_step.cluster_resolver() is None
    assert slurm_step.is_chief()

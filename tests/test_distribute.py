"""One replica and two (the CPU split in two) train to the same weights."""

import json
import os
import subprocess
import sys

import pytest
from train_utils import LOGGED_METRICS

HERE = os.path.dirname(os.path.abspath(__file__))
METRICS = (
    *LOGGED_METRICS,
    *(f"val_{name}" for name in LOGGED_METRICS),
    "train_accuracy",
    "train_random_label_accuracy",
)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("replicas")
    proc = subprocess.run(
        [sys.executable, os.path.join(HERE, "two_replicas.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_same_weights_on_one_and_two_replicas(result):
    assert result["replicas"] == [1, 2]
    # Loss scaled once over the global batch, BN synchronized: same update.
    assert result["max_weight_diff"] <= 1e-5 * max(1.0, result["max_weight"])


def test_same_metrics_on_one_and_two_replicas(result):
    one, two = result["summaries"]["one"], result["summaries"]["two"]
    for name in METRICS:
        assert one[name] == pytest.approx(two[name], rel=1e-5, abs=1e-6), name


def test_the_clean_train_set_pass_on_two_replicas_is_evaluate(result):
    """`TrainSetEvaluation` on two replicas counts each example once (70 of
    them, the last batch uneven) in every metric, and logs what `evaluate`
    gives."""
    assert result["clean_pass_counts"] == [70.0] * len(LOGGED_METRICS)
    for name in ("accuracy", "random_label_accuracy"):
        assert result["clean_pass"][f"train_{name}"] == pytest.approx(
            result["clean_evaluate"][name], rel=1e-6
        )


def test_replicas_see_the_same_random_labels(result):
    assert result["num_labels"] == 256
    assert result["labels_equal"]


@pytest.mark.parametrize(
    "tf_config, expected",
    [
        (None, ""),
        (
            {"cluster": {"worker": ["a", "b"]}, "task": {"type": "worker", "index": 0}},
            "",
        ),
        (
            {"cluster": {"worker": ["a", "b"]}, "task": {"type": "worker", "index": 1}},
            "workers/worker_1",
        ),
        (
            {
                "cluster": {"chief": ["c"], "worker": ["a"]},
                "task": {"type": "worker", "index": 0},
            },
            "workers/worker_0",
        ),
        (
            {
                "cluster": {"chief": ["c"], "worker": ["a"]},
                "task": {"type": "chief", "index": 0},
            },
            "",
        ),
    ],
)
def test_only_the_chief_writes_the_run_directory(monkeypatch, tf_config, expected):
    from keras_rlr.train import distribute

    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    assert distribute.is_chief() == (expected == "")
    assert distribute.worker_output_dir("run") == os.path.join("run", expected).rstrip(
        os.sep
    )

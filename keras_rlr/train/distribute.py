"""Distribution strategies by name, and who writes the run directory.

Everything a run creates (model, optimizer, metrics, restored state) is created
inside `strategy.scope()`; `--batch_size` is the global batch, split evenly
over `strategy.num_replicas_in_sync` replicas. Losses are averaged over the
global batch (`tf.nn.compute_average_loss`), so a learning rate means the same
on any number of replicas.
"""

import json
import os

import tensorflow as tf

from keras_rlr.train.config import STRATEGIES


def make_strategy(name, tpu_address=None):
    """The `tf.distribute.Strategy` called `name`.

    Args:
        name: `default` (one device, no distribution), `mirrored` (every local
            GPU, or the CPU), `multi_worker` (MultiWorkerMirroredStrategy, the
            cluster from the `TF_CONFIG` environment variable; one worker when
            unset), or `tpu`.
        tpu_address: the TPU name or address for `tpu` (None: the local one).
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(
        f"Unknown strategy: expected one of {STRATEGIES}. Received: strategy={name!r}"
    )


def is_chief():
    """Whether this process writes the run directory (worker 0, or no cluster)."""
    return _worker_task() is None


def worker_output_dir(output_dir):
    """Where this worker writes: `output_dir` on the chief, a scratch dir elsewhere.

    Under MultiWorkerMirroredStrategy every worker runs the same program and
    its callbacks; only the chief's files are the run's. The others write to
    `output_dir/workers/<type>_<index>` so that no two processes write the same
    file.
    """
    task = _worker_task()
    if task is None:
        return output_dir
    return os.path.join(output_dir, "workers", f"{task['type']}_{task['index']}")


def _worker_task():
    """None for the chief (an explicit `chief` task, else worker 0, or no
    cluster at all); this process's task from `TF_CONFIG` otherwise."""
    tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = tf_config.get("task", {})
    kind, index = task.get("type", "chief"), int(task.get("index", 0))
    if kind == "chief" or (
        kind == "worker" and index == 0 and "chief" not in tf_config.get("cluster", {})
    ):
        return None
    return {"type": kind, "index": index}

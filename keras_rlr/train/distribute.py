"""Distribution strategies by name, and who writes the run directory.

Everything a run creates (model, optimizer, metrics, restored state) is created
inside `strategy.scope()`; `--batch_size` is the global batch, split evenly
over `strategy.num_replicas_in_sync` replicas. Losses are averaged over the
global batch (as `tf.nn.compute_average_loss` does), so a learning rate means
the same on any number of replicas.
"""

import contextlib
import json
import os
import re
import shutil

import tensorflow as tf

from keras_rlr.train.config import STRATEGIES

KERAS_ISSUE = "https://github.com/keras-team/keras/issues/20585"


def make_strategy(name, tpu_address=None):
    """The `tf.distribute.Strategy` called `name`.

    Args:
        name: `default` (one device, no distribution), `mirrored` (every local
            GPU, or the CPU), `multi_worker` (MultiWorkerMirroredStrategy on the
            cluster of `cluster_resolver()`: `TF_CONFIG`, else the Slurm job
            step, else one worker), or `tpu`.
        tpu_address: the TPU name or address for `tpu` (None: the local one).
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy(
            cluster_resolver=cluster_resolver()
        )
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(
        f"Unknown strategy: expected one of {STRATEGIES}. Received: strategy={name!r}"
    )


def fit_on_workers(model, strategy):
    """Make `model.fit`/`evaluate` work on more than one worker; returns `model`.

    Keras 3's TensorFlow trainer takes two paths that MultiWorkerMirroredStrategy
    cannot follow once there is more than one worker (KERAS_ISSUE; checked
    against Keras 3.15.1 and TensorFlow 2.21.0):

    1. `TensorFlowTrainer._maybe_symbolic_build` averages the first distributed
       batch over replicas with an eager `strategy.reduce` of the whole
       `(x, y)` structure before it builds the model, at the start of every
       `fit` and `evaluate`: "Attempt to convert a value (PerReplica:{...})
       ... to a Tensor". Building the model beforehand does not help, the
       reduce runs whether or not the model is built. The build needs only
       shapes and dtypes, which the first local replica's share of the batch
       has too: this model's `_maybe_symbolic_build` hands that share to
       Keras's own as `data_batch`, which skips the reduce.
    2. `reduce_per_replica` averages each step's returned metrics with
       `strategy.reduce("MEAN", value, axis=0)`, which fails on the scalars a
       `train_step` returns ("Invalid reduction dimension 0 for input with 0
       dimensions"). This model's `train_step` and `test_step` return each
       value with shape `(1,)`, which that reduce averages over the replicas of
       all workers into the scalar that one worker logs. Epoch logs are the
       metrics' own cross-replica results either way.

    `tests/test_multi_worker.py` fails if a Keras upgrade changes what this
    relies on. One worker (or any other strategy): `model`, unchanged.
    """
    if num_workers(strategy) < 2:
        return model
    keras_build = model._maybe_symbolic_build
    train_step, test_step = model.train_step, model.test_step

    def maybe_symbolic_build(iterator=None, data_batch=None):
        if iterator is not None and data_batch is None:
            for _, _, batches in iterator:  # as Keras does: the first batch
                data_batch = tf.nest.map_structure(
                    lambda value: strategy.experimental_local_results(value)[0],
                    next(batches),
                )
                break
        return keras_build(data_batch=data_batch)

    def with_batch_axis(step):
        def step_with_batch_axis(data):
            return tf.nest.map_structure(lambda v: tf.reshape(v, [1]), step(data))

        return step_with_batch_axis

    model._maybe_symbolic_build = maybe_symbolic_build
    model.train_step = with_batch_axis(train_step)
    model.test_step = with_batch_axis(test_step)
    return model


@contextlib.contextmanager
def stop_when_a_worker_is_lost(strategy, error_class):
    """Turn a lost worker into one line: `error_class("...")`, no traceback.

    When one worker dies, TensorFlow's coordination service stops hearing its
    heartbeats and aborts every collective on the others with
    `UnavailableError`. Measured on 127.0.0.1 with one worker killed by
    SIGKILL mid-epoch: the other stopped 8 s later on an idle machine, 60 s
    later on a loaded one. Restarting every worker's command resumes the run
    from its last backup (with `--deterministic`: the same weights as a run
    never interrupted).
    """
    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError) as error:
        if num_workers(strategy) < 2:
            raise
        tasks = sorted(set(re.findall(r"/job:\w+/replica:\d+/task:\d+", error.message)))
        raise error_class(
            f"Lost contact with the other workers ({', '.join(tasks) or 'unreachable'}"
            "): start every worker's command again; the run resumes from its last "
            "backup."
        ) from None


def num_workers(strategy):
    """How many processes (chief and workers) train together under `strategy`."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return 1
    spec = strategy.cluster_resolver.cluster_spec()
    return max(
        1, sum(spec.num_tasks(job) for job in ("chief", "worker") if job in spec.jobs)
    )


# Set by `srun` in every task of a job step: the cluster is the step's tasks.
SLURM_STEP_VARIABLES = (
    "SLURM_PROCID",
    "SLURM_STEP_NUM_TASKS",
    "SLURM_STEP_NODELIST",
    "SLURM_STEP_TASKS_PER_NODE",
)


def cluster_resolver():
    """The cluster of `--strategy=multi_worker`, chosen automatically.

    `TF_CONFIG` when set (None: TensorFlow reads it); else, inside a Slurm job
    step (`srun`, which sets SLURM_STEP_VARIABLES), a `SlurmClusterResolver`:
    one worker per Slurm task, on port 8888 (and up, for several tasks on a
    node), worker 0 the chief; else None (one worker). With GPUs (nvidia-smi on
    the PATH or CUDA_VISIBLE_DEVICES set) the resolver splits each node's GPUs
    among its tasks; without, every task runs on its node's CPU.
    """
    if os.environ.get("TF_CONFIG") or not _in_slurm_step():
        return None
    resolver = tf.distribute.cluster_resolver.SlurmClusterResolver
    if "CUDA_VISIBLE_DEVICES" in os.environ or shutil.which("nvidia-smi"):
        return resolver()
    # The resolver hands out one GPU slot per task on a node (it calls
    # nvidia-smi to count them): give it as many slots as tasks, and no GPUs.
    tasks = int(os.environ["SLURM_STEP_NUM_TASKS"])
    return resolver(gpus_per_node=tasks, gpus_per_task=1, auto_set_gpu=False)


def _in_slurm_step():
    return all(os.environ.get(name) for name in SLURM_STEP_VARIABLES)


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
    cluster at all); this process's task (from `TF_CONFIG`, else from the
    Slurm job step, as `cluster_resolver()`) otherwise."""
    if not os.environ.get("TF_CONFIG") and _in_slurm_step():
        rank = int(os.environ["SLURM_PROCID"])
        return {"type": "worker", "index": rank} if rank else None
    tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = tf_config.get("task", {})
    kind, index = task.get("type", "chief"), int(task.get("index", 0))
    if kind == "chief" or (
        kind == "worker" and index == 0 and "chief" not in tf_config.get("cluster", {})
    ):
        return None
    return {"type": kind, "index": index}

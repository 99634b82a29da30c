"""Run by test_multi_worker.py, once per worker: the random labels it trains on.

Takes train.py's flags. Each worker writes the random labels of its share of
every global batch, as Keras distributes the training stream under
MultiWorkerMirroredStrategy, to `<output_dir>/labels_worker_<index>.npy`;
worker 0 also writes the single-process stream's labels to `labels.json`.
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_rlr import data, datasets  # noqa: E402
from keras_rlr.train import cli  # noqa: E402  (defines train.py's flags)
from keras_rlr.train import flags as train_flags  # noqa: E402

cli.FLAGS(["train.py", *sys.argv[1:]])
config, _ = train_flags.values(cli.FLAGS)
strategy = tf.distribute.MultiWorkerMirroredStrategy()
index = strategy.cluster_resolver.task_id
splits = datasets.load(
    config.dataset, config.data_dir, max_train_examples=config.max_train_examples
)
stream = data.training_dataset(
    splits.train,
    batch_size=config.batch_size,
    num_random_labels=config.num_random_labels,
    seed=config.seed,
    epochs=config.epochs,
    augment=config.augment,
    horizontal_flip=splits.horizontal_flip,
)
local = [
    np.concatenate(
        [t.numpy() for t in strategy.experimental_local_results(y["random_label"])]
    )
    for _, y in strategy.experimental_distribute_dataset(stream)
]
output_dir = cli.FLAGS.output_dir
np.save(os.path.join(output_dir, f"labels_worker_{index}.npy"), np.stack(local))
if index == 0:
    single = np.concatenate([y["random_label"].numpy() for _, y in stream])
    with open(os.path.join(output_dir, "labels.json"), "w") as f:
        json.dump({"labels": single.tolist(), "num_labels": int(single.size)}, f)

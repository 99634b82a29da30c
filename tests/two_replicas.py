"""Run by test_distribute.py in a fresh process: the CPU split into two devices.

One epoch with one replica and with two, at the same global batch, through the
real `train_and_evaluate`; prints what the test compares, as JSON.
"""

import json
import sys

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import train_utils  # noqa: E402
from train_utils import C, R, tiny_config  # noqa: E402

import keras_rlr  # noqa: E402
from keras_rlr import data, datasets  # noqa: E402
from keras_rlr.callbacks import TrainSetEvaluation  # noqa: E402
from keras_rlr.train import experiment  # noqa: E402

output_dir = sys.argv[1]
config = tiny_config(
    cnn_feature_dim=16,
    max_train_examples=256,
    augment=True,
    batch_size=32,
    learning_rate=0.05,
    sync_batch_norm=True,
    eval_batch_size=64,
)
strategies = {
    "one": tf.distribute.MirroredStrategy(["/cpu:0"]),
    "two": tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]),
}
summaries, weights = {}, {}
for name, strategy in strategies.items():
    summaries[name] = experiment.train_and_evaluate(
        config, f"{output_dir}/{name}", strategy=strategy
    )
    model = keras.saving.load_model(f"{output_dir}/{name}/model.keras")
    weights[name] = [w.numpy() for w in model.weights]

# The random labels each replica sees: its half of every global batch.
train = data.training_dataset(
    datasets.load("digits", max_train_examples=256).train,
    batch_size=32,
    num_random_labels=10,
    seed=0,
    epochs=1,
)
single = np.concatenate([y["random_label"].numpy() for _, y in train])
distributed = strategies["two"].experimental_distribute_dataset(train)
per_replica = np.concatenate(
    [
        np.concatenate(
            [
                t.numpy()
                for t in strategies["two"].experimental_local_results(y["random_label"])
            ]
        )
        for _, y in distributed
    ]
)

# The clean train-set pass on two replicas, an uneven last batch (32, 32, 6):
# what `evaluate` gives, over each example once.
with strategies["two"].scope():
    model = keras_rlr.RandomLabelModel(train_utils.dense_extractor(), C, R)
    model.compile(optimizer="sgd")
x, y = train_utils.batch(n=70)
clean = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
pass_logs = {}
clean_pass = TrainSetEvaluation(clean)
clean_pass.set_model(model)
clean_pass.on_epoch_end(0, pass_logs)
counts = [float(m.count.numpy()) for m in model.metrics]
evaluated = model.evaluate(clean, verbose=0, return_dict=True)

print(
    json.dumps(
        {
            "clean_pass": pass_logs,
            "clean_evaluate": evaluated,
            "clean_pass_counts": counts,
            "replicas": [s.num_replicas_in_sync for s in strategies.values()],
            "max_weight_diff": max(
                float(np.max(np.abs(a - b)))
                for a, b in zip(weights["one"], weights["two"], strict=True)
            ),
            "max_weight": max(float(np.max(np.abs(a))) for a in weights["one"]),
            "summaries": summaries,
            "labels_equal": bool(np.array_equal(single, per_replica)),
            "num_labels": int(single.size),
        }
    )
)

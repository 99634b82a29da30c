"""Run by test_probes.py in a fresh process: the CPU split into two devices.

Two steps with one replica and with two, at the same global batch and from the
same weights, of a model with probes; prints what the test compares, as JSON.
"""

import json

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from test_probes import R, data, small_classifier  # noqa: E402

import keras_rlr  # noqa: E402

x, y = data(32, (6, 6, 2))
dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
initial, weights, moved = None, {}, {}
for name, devices in (("one", ["/cpu:0"]), ("two", ["/cpu:0", "/cpu:1"])):
    strategy = tf.distribute.MirroredStrategy(devices)
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = keras_rlr.RandomLabelModel.from_classifier(
            small_classifier(),
            num_random_labels=R,
            probe_layers=["conv2", "fc1"],
            reg_lambda=0.5,
        )
        model.compile(optimizer=keras.optimizers.SGD(0.1))
    if initial is None:
        initial = model.get_weights()
    model.set_weights(initial)
    probe_variables = [v for p in model.probes for v in p.trainable_variables]
    before = [v.numpy() for v in probe_variables]
    model.fit(dataset, epochs=1, shuffle=False, verbose=0)
    weights[name] = model.get_weights()
    moved[name] = min(
        float(np.max(np.abs(v.numpy() - b)))
        for v, b in zip(probe_variables, before, strict=True)
    )

print(
    json.dumps(
        {
            "max_weight_diff": max(
                float(np.max(np.abs(a - b)))
                for a, b in zip(weights["one"], weights["two"], strict=True)
            ),
            "max_weight": max(float(np.max(np.abs(w))) for w in weights["one"]),
            "least_probe_move": min(moved.values()),
        }
    )
)

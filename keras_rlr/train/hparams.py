"""A run's settings and final metrics for TensorBoard's HParams dashboard.

`write(log_dir, config, summary)` records, with the HParams plugin's own API
(`tensorboard.plugins.hparams.api`), the run's settings (every `Config` field
that is a setting, i.e. not in `config.NOT_SETTINGS`) and its final metrics as
scalars, in the run's `tensorboard/` directory beside Keras's curves. So
`tensorboard --logdir <sweep dir>` shows a sweep's runs as one table and a
parallel-coordinates view: one row per run, a column per setting and metric.
"""

import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

from keras_rlr.train import config as schema

# summary.json's entries that describe the run rather than measure it.
_NOT_METRICS = (
    "epoch",
    "num_random_labels",
    "chance",
    "num_train_examples",
    "train_examples_per_epoch",
    "num_test_examples",
)


def settings(config):
    """`{name: value}` of the settings of `config` that have a value."""
    return {
        name: value
        for name, value in schema.to_dict(config).items()
        if name not in schema.NOT_SETTINGS and value is not None
    }


def metrics(summary):
    """`{tag: value}`: the final metrics of `summary` (summary.json's dict)."""
    return {
        name: float(value)
        for name, value in summary.items()
        if name not in _NOT_METRICS and isinstance(value, int | float)
    }


def write(log_dir, config, summary, name=None):
    """Writes the run's settings and final metrics (step: its last epoch);
    `name` is its row's "Trial ID" (default: a hash of the settings)."""
    values = settings(config)
    final = metrics(summary)
    with tf.summary.create_file_writer(log_dir).as_default():
        # No `hp.hparams_config`: TensorBoard then builds the sweep's table from
        # all its runs, with each setting's values and whether they differ
        # (one run's config would only know its own values).
        hp.hparams(values, trial_id=name)
        for tag, value in final.items():
            tf.summary.scalar(tag, value, step=config.epochs)

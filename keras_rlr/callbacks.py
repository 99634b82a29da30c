"""Callbacks for `RandomLabelModel` training."""

import keras


class TrainSetEvaluation(keras.callbacks.Callback):
    """Evaluate on the un-augmented training set at the end of every epoch.

    The running `random_label_accuracy` of `fit` is measured in training mode
    (dropout on, augmented images, weights changing during the epoch). The
    paper's complexity metric is the end-of-epoch accuracy on the clean
    training set in inference mode; this callback adds it to the epoch logs as
    `train_<metric>` (by default `train_accuracy` and
    `train_random_label_accuracy`).

    Put it *before* any callback that reads the logs (`CSVLogger`,
    `TensorBoard`, ...): callbacks see the logs in list order.

    Args:
        dataset: the training set, batched, un-augmented, with its random
            labels (`keras_rlr.data.evaluation_dataset(..., stream=TRAIN_STREAM)`).
        metrics: names of the model's metrics to add.

    Example:

    ```python
    clean = keras_rlr.data.evaluation_dataset(
        ds, batch_size=256, num_random_labels=10, seed=0,
        stream=keras_rlr.data.TRAIN_STREAM)
    model.fit(
        train,
        callbacks=[TrainSetEvaluation(clean), keras.callbacks.CSVLogger(path)],
    )
    ```
    """

    def __init__(self, dataset, metrics=("accuracy", "random_label_accuracy")):
        super().__init__()
        self.dataset = dataset
        self.metric_names = tuple(metrics)

    def on_epoch_end(self, epoch, logs=None):
        results = self.model.evaluate(self.dataset, verbose=0, return_dict=True)
        unknown = set(self.metric_names) - set(results)
        if unknown:
            raise ValueError(
                f"TrainSetEvaluation: the model logs no metric {sorted(unknown)}. "
                f"Available: {sorted(results)}"
            )
        if logs is not None:
            logs.update({f"train_{name}": results[name] for name in self.metric_names})

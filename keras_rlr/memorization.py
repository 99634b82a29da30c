"""Per-example memorization scores, and the null they are read against.

An example's score is how confidently the head of the class it was trained
with names its random label: `softmax(z[y, :])[rho]`, the head's own softmax
over the `R` random labels (not the joint softmax over `C * R`), in inference
mode on un-augmented images. A random label carries no information about the
image, so a head can only predict it for an example it has memorized. The test
set's random labels were never trained: their scores are the null
distribution, what the score looks like without memorization.

`class_only_accuracy` is the other baseline: the training random-label
accuracy a head reaches from the class alone, which the accuracy must exceed
before it says that single examples are memorized. Everything here but
`memorization_scores` is NumPy, read by the report tooling without TensorFlow.
"""

import dataclasses
import weakref

import numpy as np


@dataclasses.dataclass(frozen=True)
class MemorizationScores:
    """Scores by example index (NumPy arrays of one length, index `0..N-1`).

    Attributes:
        index: the example's position in the dataset's canonical order.
        label: the class label the example was given (the head it is scored by).
        random_label: its random label `rho`.
        score: `softmax(z[label, :])[rho]`, in `[0, 1]`; chance is about `1/R`.
        correct: whether `argmax_r z[label, r] == rho`.
    """

    index: np.ndarray
    label: np.ndarray
    random_label: np.ndarray
    score: np.ndarray
    correct: np.ndarray

    def __len__(self):
        return len(self.index)


def memorization_scores(model, dataset, batch_size=512):
    """Every example's memorization score under `model`'s random-label heads.

    Args:
        model: a `RandomLabelModel` (anything with `random_label_logits(x,
            training=False)` returning `(batch, C, R)` logits).
        dataset: an **unbatched** `tf.data.Dataset` of `(image, {"label": y,
            "random_label": rho})` in canonical order, un-augmented: the
            output of `keras_rlr.data.with_random_labels`. Its position is the
            index. For the null, the test set with its own stream
            (`stream=keras_rlr.data.TEST_STREAM`).
        batch_size: the batch of the inference pass.

    Returns:
        `MemorizationScores`, arrays by example index.

    Example:

    ```python
    train = keras_rlr.data.with_random_labels(ds, num_random_labels=10, seed=0)
    scores = keras_rlr.memorization_scores(model, train)
    most_memorized = scores.index[np.argsort(-scores.score)[:10]]
    ```
    """
    spec = dataset.element_spec
    # TensorFlow only here (and in `_true_class_head`): the rest of this
    # module is NumPy, read by the report tooling, which never loads TensorFlow.
    from keras_rlr import data

    if not data.carries_random_labels(spec):
        raise ValueError(
            "Expected a dataset of (image, {'label': y, 'random_label': rho}); "
            "wrap it with keras_rlr.data.with_random_labels. "
            f"Received: element_spec={spec}"
        )
    if spec[1]["label"].shape.rank != 0:
        raise ValueError(
            "Expected an unbatched dataset (one example per element, a scalar "
            "label): memorization_scores batches it itself. "
            f"Received: label shape={spec[1]['label'].shape}"
        )

    true_class_head = _true_class_head(model, spec[0], spec[1]["label"].dtype)
    labels, random_labels, head_logits = [], [], []
    for images, targets in dataset.batch(batch_size):
        labels.append(targets["label"].numpy())
        random_labels.append(targets["random_label"].numpy())
        head_logits.append(true_class_head(images, targets["label"]).numpy())
    if not labels:
        raise ValueError("Expected a non-empty dataset. Received: no examples")
    labels = np.concatenate(labels).astype(np.int64)
    random_labels = np.concatenate(random_labels).astype(np.int64)
    score, correct = head_scores(np.concatenate(head_logits), random_labels)
    return MemorizationScores(
        index=np.arange(len(labels)),
        label=labels,
        random_label=random_labels,
        score=score,
        correct=correct,
    )


# model -> {(image spec, label dtype): traced function}. Tracing costs more
# than scoring a small dataset, and a run scores two (train and the null).
_TRUE_CLASS_HEADS = weakref.WeakKeyDictionary()


def _true_class_head(model, image_spec, label_dtype):
    """A `tf.function` `(images, labels) -> z[label, :]`, `(batch, R)`, traced
    once per model and input signature (any batch size)."""
    import tensorflow as tf

    signature = (
        tf.TensorSpec((None, *image_spec.shape), image_spec.dtype),
        tf.TensorSpec((None,), label_dtype),
    )
    functions = _TRUE_CLASS_HEADS.setdefault(model, {})
    if signature not in functions:
        # A weak reference: the cached function must not keep the model alive.
        model_ref = weakref.ref(model)

        @tf.function(input_signature=signature)
        def true_class_head(images, labels):
            logits = model_ref().random_label_logits(images, training=False)
            return tf.gather(logits, tf.cast(labels, tf.int32), axis=1, batch_dims=1)

        functions[signature] = true_class_head
    return functions[signature]


def head_scores(head_logits, random_labels):
    """`(score, correct)` from each example's own head's logits `(N, R)`."""
    z = np.asarray(head_logits, np.float64)
    z = z - z.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    rows = np.arange(len(z))
    score = np.exp(log_probs[rows, random_labels])
    correct = np.argmax(z, axis=1) == random_labels
    return score, correct


def class_only_accuracy(labels, random_labels):
    """The random-label accuracy a head reaches from the class alone.

    A head that ignores the image and names, for every example of class `c`,
    the random label most common among class `c`'s examples gets this share
    of them right. It is a property of the labels, not of a model: with few
    examples a class it lies well above chance `1/R` (about 0.27 for 13
    examples a class and R = 10; about 0.13 for 400). Training random-label
    accuracy at or below it is no evidence that single examples are
    memorized; only the part above it is.

    Args:
        labels: the class labels, `(N,)` integers.
        random_labels: the random labels, `(N,)` integers in `[0, R)`.

    Returns:
        A float in `(0, 1]`.
    """
    labels = np.asarray(labels).reshape(-1)
    random_labels = np.asarray(random_labels).reshape(-1)
    if not len(labels) or len(labels) != len(random_labels):
        raise ValueError(
            "Expected labels and random_labels of one non-zero length. Received "
            f"lengths {len(labels)} and {len(random_labels)}"
        )
    hits = sum(np.bincount(random_labels[labels == c]).max() for c in np.unique(labels))
    return float(hits) / len(labels)


@dataclasses.dataclass(frozen=True)
class Exceedance:
    """How many training scores lie above a quantile of the null.

    Attributes:
        quantile: e.g. 0.95.
        threshold: the null's `quantile`-quantile.
        fraction: the share of training examples scoring above it.
        false_discovery_rate: the estimated share of those that are not
            memorized: the null's share above the threshold (about
            `1 - quantile`) over `fraction`, capped at 1. It counts every
            training example as a possible null draw, so it overestimates.
    """

    quantile: float
    threshold: float
    fraction: float
    false_discovery_rate: float


def exceedance(train_scores, null_scores, quantile):
    """The `Exceedance` of `train_scores` over `null_scores`' `quantile`."""
    if not 0 < quantile < 1:
        raise ValueError(f"Expected 0 < quantile < 1. Received: quantile={quantile}")
    threshold = float(np.quantile(np.asarray(null_scores), quantile))
    fraction = float(np.mean(np.asarray(train_scores) > threshold))
    # The share of null scores above the threshold estimates the false positives.
    null_above = float(np.mean(np.asarray(null_scores) > threshold))
    fdr = min(1.0, null_above / fraction) if fraction else 1.0
    return Exceedance(quantile, threshold, fraction, fdr)

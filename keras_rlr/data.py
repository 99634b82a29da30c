"""Random labels and the input pipelines that carry them.

Every example gets a random label `rho` in `[0, R)`, drawn statelessly from
`(seed, stream, index)`, where `index` is the example's position in the
dataset's canonical order (before any shuffling). So `rho` is the same in every
epoch, under any shuffle or augmentation, after a restart, and on every replica
or worker. The training set uses stream `TRAIN_STREAM`, the test set
`TEST_STREAM`: its random labels are the leak control and must stay at chance.

The training pipeline is a function of `(seed, epoch)` too: epoch `e` shuffles
with a seed derived from `(seed, e)` and augments each example with a seed
derived from `(seed, e, index)`. A run resumed at epoch `e` therefore sees
exactly the batches an uninterrupted run would have seen.

Pipeline order: index and random label are attached
before `cache`, then per epoch `shuffle` -> `map(augment)` ->
`batch(drop_remainder=True)`, then `prefetch`.
"""

import numbers

import numpy as np
import tensorflow as tf

from keras_rlr._arguments import check_arg, check_num_random_labels

TRAIN_STREAM = 0
TEST_STREAM = 1
_SHUFFLE_STREAM = 2
_AUGMENT_STREAM = 3


def random_label(index, num_random_labels, seed, stream=TRAIN_STREAM):
    """The random label of the example at position `index` (a scalar).

    Uniform over `[0, num_random_labels)` and a pure function of
    `(seed, stream, index)`: TF's stateless Philox generator keyed by
    `(seed, stream)` with the index folded in.
    """
    check_num_random_labels(num_random_labels)
    key = _seed_pair(seed, stream)
    return tf.random.stateless_uniform(
        [],
        seed=tf.random.experimental.stateless_fold_in(key, tf.cast(index, tf.int64)),
        minval=0,
        maxval=num_random_labels,
        dtype=tf.int32,
    )


def random_labels(num_examples, num_random_labels, seed, stream=TRAIN_STREAM):
    """The random labels of examples `0, ..., num_examples - 1`, as a NumPy array.

    For NumPy inputs: element `i` is `random_label(i, ...)`, exactly what
    `with_random_labels` attaches to the `i`-th example of a dataset in the
    same order, so both paths train on the same labels. TF's stateless ops take
    one seed each, so this maps `random_label` over the indices in one graph:
    about 1.2 s for 50,000 examples on 2 shared CPU cores, where a Python loop
    over `random_label` takes about 100 s.

    Args:
        num_examples: how many examples, in their canonical order.
        num_random_labels: `R`.
        seed: the run's seed.
        stream: `TRAIN_STREAM` for the training set, `TEST_STREAM` for held-out
            data.

    Returns:
        An int32 array of shape `(num_examples,)` with values in `[0, R)`.

    Example:

    ```python
    rho = random_labels(len(x), num_random_labels=10, seed=0)
    model.fit(x, {"label": y, "random_label": rho}, batch_size=256, epochs=10)
    ```
    """
    check_num_random_labels(num_random_labels)
    check_arg(
        "num_examples",
        num_examples,
        isinstance(num_examples, numbers.Integral) and num_examples >= 0,
        "a non-negative integer",
    )
    # Seed and stream as tensors: a new seed reuses the traced graph.
    labels = _random_labels(
        tf.range(num_examples, dtype=tf.int64),
        num_random_labels,
        tf.constant(seed, tf.int64),
        tf.constant(stream, tf.int64),
    )
    return labels.numpy()


@tf.function(reduce_retracing=True)
def _random_labels(indices, num_random_labels, seed, stream):
    return tf.map_fn(
        lambda index: random_label(index, num_random_labels, seed, stream),
        indices,
        fn_output_signature=tf.int32,
        parallel_iterations=64,
    )


def with_random_labels(dataset, num_random_labels, seed, stream=TRAIN_STREAM):
    """Attach each example's fixed random label.

    Args:
        dataset: a `tf.data.Dataset` of `(image, label)` in its canonical order
            (not shuffled: the position defines the example's identity).
        num_random_labels: `R`.
        seed: the run's seed.
        stream: `TRAIN_STREAM` for the training set, `TEST_STREAM` (or any other
            int) for held-out data, so that its labels are independent.

    Returns:
        A dataset of `(image, {"label": label, "random_label": rho})`; shuffle,
        augment and batch it afterwards.

    Example:

    ```python
    train = with_random_labels(ds, num_random_labels=10, seed=0)
    model.fit(train.shuffle(10_000).batch(256), epochs=10)
    ```
    """
    return _indexed(dataset, num_random_labels, seed, stream).map(
        _drop_index, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )


def training_dataset(
    dataset,
    *,
    batch_size,
    num_random_labels,
    seed,
    epochs,
    initial_epoch=0,
    augment=False,
    horizontal_flip=True,
):
    """The training stream for `model.fit(..., steps_per_epoch=...)`.

    Yields `epochs - initial_epoch` epochs back to back, each
    `steps_per_epoch(dataset, batch_size)` full batches, shuffled and augmented
    as a function of `(seed, epoch)`.

    Args:
        dataset: `(image, label)` in canonical order, images float32 in [0, 1].
        batch_size: the global batch size.
        num_random_labels: `R`.
        seed: the run's seed (random labels, shuffling and augmentation).
        epochs: the last epoch (exclusive).
        initial_epoch: the first epoch, for a resumed run.
        augment: pad-and-crop (by 1/8 of the image size, along the spatial
            dimensions longer than 1), plus a horizontal flip when
            `horizontal_flip`.
        horizontal_flip: whether flipping preserves the label (not for digits).
    """
    examples = _indexed(dataset, num_random_labels, seed, TRAIN_STREAM).cache()
    size = num_examples(examples)
    if size < batch_size:
        raise ValueError(
            f"The training set has {size} examples, fewer than one batch. "
            f"Lower the batch size. Received: batch_size={batch_size}"
        )
    per_epoch = size // batch_size * batch_size
    if not 0 <= initial_epoch < epochs:
        raise ValueError(
            "Expected 0 <= initial_epoch < epochs. "
            f"Received: initial_epoch={initial_epoch}, epochs={epochs}"
        )

    # Each epoch's shuffle seed, derived from (seed, epoch), and the pair of op
    # seeds `Dataset.shuffle(seed=...)` makes of it with TF's global seed.
    epoch_numbers = np.arange(initial_epoch, epochs, dtype=np.int64)
    seed_pairs = np.array(
        [
            tf.compat.v1.get_seed(
                int(
                    np.random.SeedSequence([seed, _SHUFFLE_STREAM, e]).generate_state(
                        1
                    )[0]
                )
            )
            for e in epoch_numbers
        ],
        dtype=np.int64,
    ).reshape(-1, 2)

    def one_epoch(epoch, seed_pair):
        shuffled = _shuffled_once(examples, size, seed_pair).take(per_epoch)
        # (The remainder, dropped by `take`, keeps batches inside epochs.)
        epoch_tag = tf.data.Dataset.from_tensors(epoch)
        return tf.data.Dataset.zip((epoch_tag.repeat(), shuffled))

    def prepare(epoch, example):
        index, image, label, rho = example
        if augment:
            key = tf.random.experimental.stateless_fold_in(
                tf.random.experimental.stateless_fold_in(
                    _seed_pair(seed, _AUGMENT_STREAM), epoch
                ),
                index,
            )
            image = augment_image(image, key, horizontal_flip)
        return _drop_index(index, image, label, rho)

    # One epoch's pipeline, instantiated per epoch by `flat_map`: building the
    # stream costs the same for 10 epochs as for 200, and epoch 200 reads as
    # fast as epoch 0 (a chain of one `concatenate` per epoch grew with both).
    stream = tf.data.Dataset.from_tensor_slices((epoch_numbers, seed_pairs))
    stream = stream.flat_map(one_epoch)
    # tf.data's static graph rewrites serialize the whole graph, copying an
    # in-memory source (NumPy arrays are graph constants): with the source
    # named once per epoch that was 6.9 GB and 15 s before the first batch for
    # 50 epochs of 10k CIFAR-sized images. Kept off; autotuning stays on.
    options = tf.data.Options()
    options.experimental_optimization.apply_default_optimizations = False
    return (
        stream.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .batch(batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
        .with_options(options)
    )


def _shuffled_once(dataset, size, seed_pair):
    """`dataset.shuffle(size, seed=s, reshuffle_each_iteration=False)`, with
    the op seeds `seed_pair = tf.compat.v1.get_seed(s)` given as a tensor.

    `Dataset.shuffle` takes its seed as a Python int, or as a tensor that it
    compares with Python `==` (failing in a graph when TF's global seed is 0);
    `flat_map` hands the epoch's seeds over as tensors. This is the op that
    `shuffle` builds (`ShuffleDatasetV3`, as in TF's `shuffle_op`), with the
    same seeds: the same order, element for element (tested against
    `shuffle` itself).
    """
    specs = tf.nest.flatten(dataset.element_spec)
    variant = tf.raw_ops.ShuffleDatasetV3(
        input_dataset=tf.data.experimental.to_variant(dataset),
        buffer_size=tf.constant(size, tf.int64),
        seed=seed_pair[0],
        seed2=seed_pair[1],
        seed_generator=tf.raw_ops.DummySeedGenerator(),
        reshuffle_each_iteration=False,
        output_types=[spec.dtype for spec in specs],
        output_shapes=[spec.shape for spec in specs],
    )
    return tf.data.experimental.from_variant(variant, dataset.element_spec)


def evaluation_dataset(dataset, *, batch_size, num_random_labels, seed, stream):
    """Un-augmented, in canonical order, every example once (last batch kept).

    The batches are cached, not the examples: a pass after the first reads a
    few tensors instead of batching every example again (the clean train-set
    pass of a quickstart epoch: 38 ms instead of 45).
    """
    return (
        with_random_labels(dataset, num_random_labels, seed, stream)
        .batch(batch_size)
        .cache()
        .prefetch(tf.data.AUTOTUNE)
    )


def steps_per_epoch(dataset, batch_size):
    """Full batches per epoch of `training_dataset` (the remainder is dropped)."""
    return num_examples(dataset) // batch_size


def num_examples(dataset):
    """The number of elements of a finite dataset (counted if not known)."""
    n = int(dataset.cardinality())
    if n < 0:  # unknown: count once
        n = int(dataset.reduce(tf.constant(0, tf.int64), lambda count, _: count + 1))
    return n


def augment_image(image, seed, horizontal_flip=True):
    """Zero-pad by 1/8 of the size, crop back at random, maybe flip: stateless.

    Only spatial dimensions longer than 1 are padded: a sequence stored as a
    `(length, 1, channels)` image (MNIST-1D) shifts along its length and keeps
    its single column. A 2-D image pads both dimensions by `max(1, height // 8)`.
    """
    height, width, _ = image.shape
    pad = max(1, (height if height > 1 else width) // 8)
    pad_h = pad if height > 1 else 0
    pad_w = pad if width > 1 else 0
    crop_seed, flip_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, num=2)
    )
    padded = tf.pad(image, [[pad_h, pad_h], [pad_w, pad_w], [0, 0]])
    image = tf.image.stateless_random_crop(padded, tf.shape(image), seed=crop_seed)
    if horizontal_flip:
        image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
    return image


def carries_random_labels(element_spec):
    """Whether a dataset's `element_spec` is `(image, {"label", "random_label",
    ...})`, what `with_random_labels` and `evaluation_dataset` yield."""
    return (
        isinstance(element_spec, tuple)
        and len(element_spec) == 2
        and isinstance(element_spec[1], dict)
        and {"label", "random_label"} <= set(element_spec[1])
    )


def _indexed(dataset, num_random_labels, seed, stream):
    check_num_random_labels(num_random_labels)
    spec = dataset.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 2):
        raise ValueError(
            "Expected a dataset of (image, label) pairs in canonical order. "
            f"Received: element_spec={spec}"
        )
    image, label = spec
    if label.shape.rank != 0:
        batched = image.shape.rank and image.shape[0] == label.shape[0]
        raise ValueError(
            "Expected one scalar integer label per example. "
            + (
                "The dataset looks batched: attach the random labels before "
                "batching (one random label per example, not per batch). "
                if batched
                else "For one-hot labels, take `tf.argmax(label, -1)` first. "
            )
            + f"Received: label spec={label}"
        )
    if not (label.dtype.is_integer or label.dtype.is_bool):
        raise ValueError(
            "Expected integer class labels (float labels would be truncated; "
            "one-hot labels: take `tf.argmax(label, -1)`; strings: map them to "
            f"class indices). Received: label dtype={label.dtype.name}"
        )
    check_not_empty(dataset)

    def attach(index, example):
        image, label = example
        rho = random_label(index, num_random_labels, seed, stream)
        return index, image, label, rho

    return dataset.enumerate().map(
        attach, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )


def check_not_empty(dataset, what="dataset"):
    """Raises `ValueError` if `dataset` is known to hold no element."""
    if int(dataset.cardinality()) == 0:
        raise ValueError(f"The {what} is empty: there is nothing to train on.")


def _drop_index(index, image, label, rho):
    del index
    return image, {"label": label, "random_label": rho}


def _seed_pair(seed, stream):
    return tf.stack([tf.cast(seed, tf.int64), tf.cast(stream, tf.int64)])

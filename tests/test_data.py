"""Random labels: fixed per example, independent of order and augmentation."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from keras_rlr import data

R = 10


def indexed_dataset(n, image_size=8):
    """Images whose label is their canonical index, so we can find them again."""
    images = np.random.default_rng(0).uniform(size=(n, image_size, image_size, 3))
    return tf.data.Dataset.from_tensor_slices(
        (images.astype(np.float32), np.arange(n, dtype=np.int32))
    )


def label_map(batches):
    """index -> random label, from a stream of (image, {label, random_label})."""
    out = {}
    for _, y in batches:
        for index, rho in zip(
            np.ravel(y["label"]), np.ravel(y["random_label"]), strict=True
        ):
            assert out.setdefault(int(index), int(rho)) == int(rho)
    return out


def reference(n, seed, stream=data.TRAIN_STREAM):
    return {i: int(data.random_label(i, R, seed, stream)) for i in range(n)}


def test_with_random_labels_structure():
    x, y = next(iter(data.with_random_labels(indexed_dataset(3), R, seed=0)))
    assert x.shape == (8, 8, 3)
    assert set(y) == {"label", "random_label"}


def test_same_labels_under_shuffles_augmentation_and_epochs():
    n = 200
    ds = indexed_dataset(n)
    expected = reference(n, seed=3)
    plain = data.with_random_labels(ds, R, seed=3)
    assert label_map(plain) == expected
    reshuffled = plain.shuffle(n, seed=1).map(
        lambda x, y: (data.augment_image(x, tf.constant([5, 6], tf.int64)), y)
    )
    assert label_map(reshuffled) == expected
    # The training stream over 3 epochs: each epoch in a new order, same labels.
    train = data.training_dataset(
        ds, batch_size=20, num_random_labels=R, seed=3, epochs=3, augment=True
    )
    orders = [
        np.concatenate([np.ravel(y["label"]) for _, y in epoch])
        for epoch in (train.take(10), train.skip(10).take(10), train.skip(20))
    ]
    assert all(sorted(order) == list(range(n)) for order in orders)
    assert not np.array_equal(orders[0], orders[1])
    assert label_map(train) == expected


def test_training_stream_is_a_function_of_seed_and_epoch():
    ds = indexed_dataset(64)

    def epochs(initial_epoch, seed=0):
        stream = data.training_dataset(
            ds,
            batch_size=16,
            num_random_labels=R,
            seed=seed,
            epochs=3,
            initial_epoch=initial_epoch,
            augment=True,
        )
        return [(x.numpy(), y["label"].numpy()) for x, y in stream]

    full, resumed = epochs(0), epochs(2)
    assert len(full) == 12 and len(resumed) == 4
    for (x_full, y_full), (x_res, y_res) in zip(full[8:], resumed, strict=True):
        np.testing.assert_array_equal(y_full, y_res)
        np.testing.assert_array_equal(x_full, x_res)  # same augmentation too
    other_seed = epochs(0, seed=1)
    assert not np.array_equal(full[0][1], other_seed[0][1])


@pytest.mark.parametrize("global_seed", [None, 0, 7])
@pytest.mark.parametrize("seed, initial_epoch", [(0, 0), (3, 2)])
def test_each_epoch_is_shuffled_as_dataset_shuffle_would(
    global_seed, seed, initial_epoch
):
    # The stream builds every epoch inside `flat_map`, with the op seeds given
    # as tensors; its order must be `Dataset.shuffle`'s with the Python seed
    # derived from (seed, epoch), under whatever global seed the caller set.
    n, batch, epochs = 37, 8, 4
    ds = indexed_dataset(n)
    tf.random.set_seed(global_seed)  # None: no global seed
    try:
        stream = data.training_dataset(
            ds,
            batch_size=batch,
            num_random_labels=R,
            seed=seed,
            epochs=epochs,
            initial_epoch=initial_epoch,
        )
        got = np.concatenate([np.ravel(y["label"]) for _, y in stream])
        expected = []
        for epoch in range(initial_epoch, epochs):
            python_seed = int(
                np.random.SeedSequence(
                    [seed, data._SHUFFLE_STREAM, epoch]
                ).generate_state(1)[0]
            )
            order = ds.shuffle(n, seed=python_seed, reshuffle_each_iteration=False)
            expected.append([int(y) for _, y in order.take(n // batch * batch)])
    finally:
        tf.random.set_seed(None)
    np.testing.assert_array_equal(got, np.concatenate(expected))


def test_drop_remainder_keeps_batches_inside_epochs():
    ds = indexed_dataset(50)
    train = data.training_dataset(
        ds, batch_size=16, num_random_labels=R, seed=0, epochs=2
    )
    assert data.steps_per_epoch(ds, 16) == 3
    labels = [y["label"].numpy() for _, y in train]
    assert len(labels) == 6 and all(len(b) == 16 for b in labels)
    assert len(set(np.concatenate(labels[:3]))) == 48  # no repeat inside epoch 0


def test_different_seeds_and_streams_give_independent_labels():
    n = 2000
    base = np.array(list(reference(n, seed=0).values()))
    other_seed = np.array(list(reference(n, seed=1).values()))
    test_stream = np.array(list(reference(n, seed=0, stream=data.TEST_STREAM).values()))
    for other in (other_seed, test_stream):
        agreement = np.mean(base == other)
        assert abs(agreement - 1 / R) < 0.03, agreement


def test_labels_are_close_to_uniform():
    labels = [
        y["random_label"]
        for _, y in data.with_random_labels(
            indexed_dataset(5000, image_size=1), R, seed=7
        )
    ]
    counts = np.bincount(np.array(labels), minlength=R)
    assert counts.size == R
    assert stats.chisquare(counts).pvalue > 1e-3, counts


def test_random_label_is_the_same_eagerly_and_inside_tf_data():
    eager = [int(data.random_label(i, R, seed=2)) for i in range(20)]
    in_graph = list(
        tf.data.Dataset.range(20)
        .map(lambda i: data.random_label(i, R, seed=2))
        .as_numpy_iterator()
    )
    assert eager == in_graph


def test_augment_image_keeps_shape_and_content_scale():
    image = tf.random.stateless_uniform((32, 32, 3), seed=[0, 0])
    out = data.augment_image(image, tf.constant([1, 2], tf.int64))
    assert out.shape == (32, 32, 3)
    # A crop of a zero-padded image: every pixel is an input pixel or zero.
    values = set(np.round(image.numpy().ravel(), 6)) | {0.0}
    assert set(np.round(out.numpy().ravel(), 6)) <= values


def _windows(padded, shape):
    """Every crop of `shape` out of `padded`, keyed by its offset."""
    (h, w, _), (ph, pw, _) = shape, padded.shape
    return {
        (i, j): padded[i : i + h, j : j + w]
        for i in range(ph - h + 1)
        for j in range(pw - w + 1)
    }


def test_augment_image_2d_is_numpy_pad_and_crop_at_tfs_offsets():
    # Independent of augment_image: split the key as it does, draw the crop
    # offset as tf.image.stateless_random_crop documents (uniform int32 modulo
    # the room), and crop a NumPy zero-padding (1/8 of the size, both axes).
    rng = np.random.default_rng(0)
    for size, seed in ((8, [1, 2]), (32, [3, 4]), (32, [5, 6])):
        image = rng.uniform(0.1, 1.0, size=(size, size, 3)).astype(np.float32)
        seed = tf.constant(seed, tf.int64)
        out = data.augment_image(image, seed, horizontal_flip=False).numpy()
        crop_seed = tf.random.experimental.stateless_split(seed, num=2)[0]
        pad = max(1, size // 8)
        room = np.array([2 * pad + 1, 2 * pad + 1, 1])
        offset = (
            tf.random.stateless_uniform(
                [3], seed=crop_seed, maxval=np.iinfo(np.int32).max, dtype=tf.int32
            ).numpy()
            % room
        )
        padded = np.pad(image, [(pad, pad), (pad, pad), (0, 0)])
        i, j, _ = offset
        np.testing.assert_array_equal(out, padded[i : i + size, j : j + size])


def test_augment_image_2d_shifts_both_axes_and_flips():
    image = np.random.default_rng(1).uniform(0.1, 1.0, size=(8, 8, 1))
    image = image.astype(np.float32)
    windows = _windows(np.pad(image, [(1, 1), (1, 1), (0, 0)]), image.shape)
    offsets, flips = set(), 0
    for k in range(40):
        out = data.augment_image(image, tf.constant([k, 7], tf.int64)).numpy()
        found = [
            (o, flipped)
            for o, w in windows.items()
            for flipped in (False, True)
            if np.array_equal(out, w[:, ::-1] if flipped else w)
        ]
        assert len(found) == 1, k  # one crop of the padding, maybe mirrored
        offsets.add(found[0][0])
        flips += found[0][1]
    assert {i for i, _ in offsets} == {j for _, j in offsets} == {0, 1, 2}
    assert 0 < flips < 40


def test_augment_image_shifts_a_sequence_along_its_length_only():
    # MNIST-1D: a (40, 1, 1) signal, strictly positive, so zeros come only from
    # the shift (5 = 40 // 8 steps at most) and never from a padded column.
    signal = np.random.default_rng(2).uniform(0.1, 1.0, size=(40, 1, 1))
    signal = signal.astype(np.float32)
    windows = _windows(np.pad(signal, [(5, 5), (0, 0), (0, 0)]), signal.shape)
    shifts = set()
    for k in range(30):
        out = data.augment_image(
            signal, tf.constant([k, 3], tf.int64), horizontal_flip=False
        ).numpy()
        assert out.shape == (40, 1, 1)
        (offset,) = [o for o, w in windows.items() if np.array_equal(out, w)]
        shift = offset[0] - 5
        assert np.sum(out == 0) == abs(shift)
        shifts.add(shift)
    assert len(shifts) > 3  # it does shift, over several offsets


def test_bad_inputs():
    with pytest.raises(ValueError, match="num_random_labels"):
        data.with_random_labels(indexed_dataset(4), 1, seed=0)
    with pytest.raises(ValueError, match="batch_size=64"):
        data.training_dataset(
            indexed_dataset(10), batch_size=64, num_random_labels=R, seed=0, epochs=1
        )
    with pytest.raises(ValueError, match="image, label"):
        data.with_random_labels(tf.data.Dataset.range(3), R, seed=0)


@pytest.mark.parametrize(
    "seed, stream, num_random_labels",
    [(0, data.TRAIN_STREAM, R), (0, data.TEST_STREAM, R), (11, data.TRAIN_STREAM, 3)],
)
def test_random_labels_are_what_with_random_labels_attaches(
    seed, stream, num_random_labels
):
    n = 1000
    attached = [
        int(y["random_label"])
        for _, y in data.with_random_labels(
            indexed_dataset(n, image_size=1), num_random_labels, seed, stream
        )
    ]
    labels = data.random_labels(n, num_random_labels, seed, stream)
    assert isinstance(labels, np.ndarray) and labels.shape == (n,)
    np.testing.assert_array_equal(labels, attached)
    assert set(labels) == set(range(num_random_labels))


def test_fit_on_arrays_trains_as_on_the_dataset():
    """`model.fit(x, {"label": y, "random_label": rho})` with `random_labels`
    takes the same steps as the `with_random_labels` dataset in the same order."""
    import keras

    import keras_rlr

    n, batch_size = 96, 32
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(n, 4)).astype(np.float32)
    y = rng.integers(0, 3, n).astype(np.int32)

    def trained(inputs, **kwargs):
        keras.utils.set_random_seed(0)
        extractor = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6)])
        model = keras_rlr.RandomLabelModel(
            feature_extractor=extractor, num_classes=3, num_random_labels=R
        )
        model.compile(optimizer=keras.optimizers.SGD(0.5))
        model.fit(*inputs, epochs=1, shuffle=False, verbose=0, **kwargs)
        return model.get_weights()

    rho = data.random_labels(n, R, seed=4)
    from_arrays = trained((x, {"label": y, "random_label": rho}), batch_size=batch_size)
    dataset = data.with_random_labels(
        tf.data.Dataset.from_tensor_slices((x, y)), R, seed=4
    )
    from_dataset = trained((dataset.batch(batch_size),))
    for a, b in zip(from_arrays, from_dataset, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_random_labels_bad_inputs():
    assert data.random_labels(0, R, seed=0).shape == (0,)
    with pytest.raises(ValueError, match="num_examples=-1"):
        data.random_labels(-1, R, seed=0)
    with pytest.raises(ValueError, match="num_examples=2.5"):
        data.random_labels(2.5, R, seed=0)
    with pytest.raises(ValueError, match="num_random_labels=1"):
        data.random_labels(5, 1, seed=0)


def test_random_labels_trace_once_for_any_seed_and_stream():
    data.random_labels(50, R, seed=0)
    data.random_labels(51, R, seed=0)  # a second length: the trace takes any length
    traces = data._random_labels.experimental_get_tracing_count()
    for seed, stream in [(1, data.TRAIN_STREAM), (2, data.TEST_STREAM), (3, 7)]:
        data.random_labels(60 + seed, R, seed=seed, stream=stream)
    assert data._random_labels.experimental_get_tracing_count() == traces

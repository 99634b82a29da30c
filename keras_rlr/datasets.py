"""Image classification datasets in their canonical order.

`load(name)` returns both splits as `tf.data` datasets of `(image, label)`,
images float32 in `[0, 1]` of shape `(H, W, channels)`, labels int32, never
shuffled: an example's position is its identity for the random labels.

Names:
- any TFDS image classification dataset with `train` and `test` splits and an
  `image`/`label` pair (`cifar100`, `cifar10`, `mnist`, ...), read from
  `data_dir` (prepare it with `tfds build NAME --data_dir DIR` where the
  machine can download);
- `digits`: the 1,797 8x8 handwritten digits that scikit-learn ships inside its
  package (no download), split 80/20, stratified, with a fixed split seed;
- `mnist1d`: MNIST-1D (Greydanus & Kobak, 2020), generated offline by the
  `mnist1d` package with its standard arguments (5,000 sequences of length 40,
  split 4,000/1,000, seed 42), as `(40, 1, 1)` images scaled to [0, 1] by the
  training set's range: a test set where one example is 0.1 accuracy point
  and a CNN leaves a generalization gap;
- `digits32`: the digits resized (bilinear) to 32x32, CIFAR's spatial extent,
  so that VGG16's five blocks see 32 -> 2 pixel maps;
- `synthetic`: CIFAR-shaped random images whose labels are a fixed random
  linear function of the pixels (learnable, made by the code).
"""

import contextlib
import dataclasses
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import tensorflow as tf
from absl import logging

from keras_rlr._dataset_names import LOCAL_DATASETS, available  # noqa: F401

# Datasets whose labels survive a horizontal flip.
_NO_FLIP = (
    "digits",
    "digits32",
    "mnist1d",
    "mnist",
    "emnist",
    "kmnist",
    "svhn_cropped",
)


@dataclasses.dataclass(frozen=True)
class Splits:
    """Both splits of a dataset and what a model needs to know about them."""

    train: tf.data.Dataset
    test: tf.data.Dataset
    num_classes: int
    image_shape: tuple
    horizontal_flip: bool


def load(name, data_dir=None, max_train_examples=None, synthetic_seed=0):
    """Both splits of `name`, see the module docstring.

    Args:
        name: a TFDS name, `digits`, `digits32`, `mnist1d` or `synthetic`.
        data_dir: the TFDS data directory (TFDS's default when None).
        max_train_examples: keep only the first N training examples (quick runs).
        synthetic_seed: the seed of the `synthetic` data (not of the run).
    """
    if name == "digits":
        splits = _digits()
    elif name == "digits32":
        splits = _digits(size=32)
    elif name == "mnist1d":
        splits = _mnist1d()
    elif name == "synthetic":
        splits = synthetic(seed=synthetic_seed)
    else:
        splits = _tfds(name, data_dir)
    if max_train_examples:
        splits = dataclasses.replace(
            splits, train=splits.train.take(max_train_examples)
        )
    return splits


def from_arrays(train, test, num_classes, horizontal_flip=True):
    """`Splits` from `(images, labels)` NumPy pairs, checking the labels.

    Images are float in [0, 1] with shape `(N, H, W, channels)`.
    """
    for split, (images, labels) in (("train", train), ("test", test)):
        labels = np.asarray(labels)
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(
                f"The {split} labels must lie in [0, num_classes={num_classes}). "
                f"Received: labels in [{labels.min()}, {labels.max()}]"
            )
        if np.asarray(images).ndim != 4:
            raise ValueError(
                f"The {split} images must have shape (N, H, W, channels). "
                f"Received: shape={np.shape(images)}"
            )

    def to_dataset(images, labels):
        return tf.data.Dataset.from_tensor_slices(
            (np.asarray(images, np.float32), np.asarray(labels, np.int32))
        )

    return Splits(
        train=to_dataset(*train),
        test=to_dataset(*test),
        num_classes=int(num_classes),
        image_shape=tuple(np.shape(train[0])[1:]),
        horizontal_flip=horizontal_flip,
    )


def synthetic(
    num_train=1024, num_test=256, image_shape=(32, 32, 3), num_classes=10, seed=0
):
    """Random images labelled by a fixed random linear map of their pixels."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(int(np.prod(image_shape)), num_classes))

    def make(n):
        images = rng.uniform(size=(n, *image_shape)).astype(np.float32)
        labels = np.argmax((images.reshape(n, -1) - 0.5) @ weights, axis=1)
        return images, labels

    return from_arrays(make(num_train), make(num_test), num_classes)


def _digits(size=8):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    images, labels = load_digits(return_X_y=True)
    images = (images / 16.0).reshape(-1, 8, 8, 1).astype(np.float32)
    if size != 8:
        images = tf.image.resize(images, (size, size), method="bilinear").numpy()
    # A fixed split (not the run's seed): every run sees the same test set.
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=0.2, stratify=labels, random_state=0
    )
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    return from_arrays(
        (images[train_idx], labels[train_idx]),
        (images[test_idx], labels[test_idx]),
        num_classes=10,
        horizontal_flip=False,
    )


def _check_downloadable(tfds, name, data_dir):
    """Fails in seconds, creating nothing, where TFDS would retry a download for
    minutes and leave directories behind: the dataset's source cannot be
    reached."""
    builder = tfds.builder(name, data_dir=data_dir)
    for url in list(builder.url_infos or ())[:1]:
        try:  # Any answer, even an HTTP error, means the network is there.
            request = urllib.request.Request(url, method="HEAD")
            urllib.request.build_opener().open(request, timeout=5).close()
        except urllib.error.HTTPError:
            pass
        except (OSError, ValueError) as error:
            raise RuntimeError(
                f"The TFDS dataset {name!r} is not prepared in "
                f"{str(builder.data_dir_root)!r} and cannot be downloaded here "
                f"({urllib.parse.urlsplit(url).hostname}: {error}). Run `tfds "
                f"build {name} --data_dir DIR` on a machine that can download and "
                "pass --data_dir DIR."
            ) from None


@contextlib.contextmanager
def _absl_verbosity(level):
    previous = logging.get_verbosity()
    logging.set_verbosity(level)
    try:
        yield
    finally:
        logging.set_verbosity(previous)


def _tfds_load(tfds, name, data_dir, download):
    try:
        return tfds.load(
            name,
            split=["train", "test"],
            data_dir=data_dir,
            as_supervised=True,
            shuffle_files=False,  # canonical order: positions are identities
            with_info=True,
            download=download,
        )
    except AssertionError:  # download=False: "could not find data"
        raise
    except Exception as error:  # noqa: BLE001 (network, disk, missing split...)
        raise RuntimeError(
            f"Could not load the TFDS dataset {name!r} (data_dir={data_dir!r}): "
            f"{type(error).__name__}: {error}. It needs 'train' and 'test' splits "
            "of (image, label). Where this machine cannot download, run "
            f"`tfds build {name} --data_dir DIR` on one that can and pass "
            "--data_dir DIR."
        ) from error


def _mnist1d():
    """MNIST-1D from the `mnist1d` package's generator (no download): its
    default arguments, the standard 4,000/1,000 split with seed 42."""
    from mnist1d.data import get_dataset_args, make_dataset

    data = make_dataset(get_dataset_args())
    low, high = data["x"].min(), data["x"].max()

    def scale(x):
        x = (np.asarray(x, np.float32) - low) / (high - low)
        return np.clip(x, 0.0, 1.0).reshape(-1, x.shape[-1], 1, 1)

    return from_arrays(
        (scale(data["x"]), data["y"]),
        (scale(data["x_test"]), data["y_test"]),
        num_classes=10,
        horizontal_flip=False,
    )


def _tfds(name, data_dir):
    import tensorflow_datasets as tfds

    if not available(name):
        raise ValueError(
            f"Unknown dataset {name!r}: expected 'digits', 'synthetic' or a TFDS "
            "name such as 'cifar100', 'cifar10', 'mnist'."
        )
    if data_dir is not None and not tf.io.gfile.isdir(data_dir):
        raise RuntimeError(  # TFDS would create it, typo or not
            f"--data_dir {data_dir!r} does not exist. Create it, or pass the "
            f"directory where `tfds build {name} --data_dir DIR` prepared it."
        )
    try:
        with _absl_verbosity(logging.ERROR):  # not "Variant folder ... has no"
            (train, test), info = _tfds_load(tfds, name, data_dir, download=False)
    except AssertionError:  # not prepared in data_dir: TFDS downloads it
        _check_downloadable(tfds, name, data_dir)
        (train, test), info = _tfds_load(tfds, name, data_dir, download=True)

    def read(ds):
        return ds.map(
            lambda image, label: (
                tf.cast(image, tf.float32) / 255.0,
                tf.cast(label, tf.int32),
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )

    return Splits(
        train=read(train),
        test=read(test),
        num_classes=info.features["label"].num_classes,
        image_shape=tuple(info.features["image"].shape),
        horizontal_flip=name not in _NO_FLIP,
    )

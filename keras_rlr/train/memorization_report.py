"""A run's memorization report: `memorization.csv` and `memorized_examples.png`.

After training, one inference pass over the un-augmented training set scores
every example (`keras_rlr.memorization_scores`) and one over the test set,
whose random labels (their own stream) were never trained, gives the null. The
CSV holds one row per training example; the figure compares train against the
null and shows the most and the least memorized training images.
"""

import csv
import os

import matplotlib
import numpy as np
import tensorflow as tf

from keras_rlr import data
from keras_rlr.memorization import exceedance, memorization_scores

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402

COLUMNS = ("index", "label", "clean_label", "random_label", "score", "correct")
QUANTILES = (0.95, 0.99)
GRID = 8  # images per row of the figure
LEGEND_AT = 5  # the histogram spans the first 5 of the GRID columns
FDR_NOTE = (
    "Estimated FDR (false discovery rate): of the\n"
    "training examples above a line, the share that\n"
    "would be there without any memorization, i.e.\n"
    "the null's share above it / the training set's."
)


def run_scores(model, inputs, config):
    """`(train, null, clean_labels)`: the training set's scores under the
    labels it was trained on, the test set's (its own random-label stream),
    and the training labels before any label noise."""
    evaluate = dict(num_random_labels=config.num_random_labels, seed=config.seed)
    train = memorization_scores(
        model,
        data.with_random_labels(
            inputs.splits.train, stream=data.TRAIN_STREAM, **evaluate
        ),
        batch_size=config.eval_batch_size,
    )
    null = memorization_scores(
        model,
        data.with_random_labels(
            inputs.splits.test, stream=data.TEST_STREAM, **evaluate
        ),
        batch_size=config.eval_batch_size,
    )
    clean = inputs.clean_train
    if clean is None or clean is inputs.splits.train:  # no label noise
        return train, null, train.label
    clean_labels = np.fromiter(
        clean.map(lambda image, label: label).as_numpy_iterator(), np.int64
    )
    return train, null, clean_labels


def write(run, model, inputs, config, csv_name, png_name):
    """Scores the run's model and writes `csv_name` and `png_name` in `run`;
    returns the training set's `MemorizationScores`."""
    train, null, clean_labels = run_scores(model, inputs, config)
    write_csv(run.file(csv_name), train, clean_labels)
    images = _images(inputs.splits.train, _shown(train.score))
    plot(
        run.file(png_name),
        train,
        null,
        clean_labels,
        images,
        config.num_random_labels,
        title=f"{config.model} on {config.dataset}, R={config.num_random_labels}, "
        f"label noise {config.label_noise:g}, seed {config.seed}",
    )
    return train


def write_csv(path, train, clean_labels):
    """One row per training example, `COLUMNS`; written atomically."""
    temporary = path + ".tmp"
    with open(temporary, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for row in zip(
            train.index,
            train.label,
            clean_labels,
            train.random_label,
            train.score,
            train.correct.astype(int),
            strict=True,
        ):
            writer.writerow(
                [
                    int(row[0]),
                    int(row[1]),
                    int(row[2]),
                    int(row[3]),
                    f"{row[4]:.6g}",
                    row[5],
                ]
            )
    os.replace(temporary, path)


def read_csv(path):
    """`memorization.csv` as column -> NumPy array."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {
        name: np.array(
            [float(r[name]) if name == "score" else int(r[name]) for r in rows]
        )
        for name in COLUMNS
    }


def plot(path, train, null, clean_labels, images, num_random_labels, title=None):
    """The score histogram of train against the null, and the image grid."""
    noisy = train.label != clean_labels
    fig = plt.figure(figsize=(12, 9.5))
    # A fixed layout: `tight_layout` over these 17 axes took most of a second
    # of every run (issue #13).
    grid = fig.add_gridspec(
        3,
        GRID,
        height_ratios=(2.6, 1, 1),
        left=0.06,
        right=0.99,
        top=0.95,
        bottom=0.03,
        hspace=0.55,
        wspace=0.25,
    )
    # The histogram on the left, its legend and a key to the lines on the right:
    # nothing is drawn over the histograms.
    ax = fig.add_subplot(grid[0, :LEGEND_AT])
    bins = np.linspace(0, 1, 51)
    style = dict(bins=bins, histtype="step", linewidth=1.6, density=True)
    ax.hist(
        null.score,
        label="test set: its random labels were never\n"
        f"trained, the null ({len(null)})",
        color="gray",
        **style,
    )
    if noisy.any():
        ax.hist(
            train.score[~noisy],
            label=f"training set, label kept ({(~noisy).sum()})",
            color="C0",
            **style,
        )
        ax.hist(
            train.score[noisy],
            label=f"training set, mislabeled by label\nnoise ({noisy.sum()})",
            color="C3",
            **style,
        )
    else:
        ax.hist(train.score, label=f"training set ({len(train)})", color="C0", **style)
    for q, line in zip(QUANTILES, ("--", ":"), strict=True):
        e = exceedance(train.score, null.score, q)
        ax.axvline(
            e.threshold,
            color="black",
            linestyle=line,
            linewidth=1,
            label=f"null's {q:.0%} quantile, {e.threshold:.2f}: {e.fraction:.1%} of\n"
            f"the training set above it (estimated FDR {e.false_discovery_rate:.0%})",
        )
    ax.axvline(
        1 / num_random_labels,
        color="gray",
        linewidth=1,
        label=f"chance 1/R = {1 / num_random_labels:.2f}",
    )
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_xlabel(
        "memorization score: p(random label) under the trained class's head\n"
        "(its own softmax over R)"
    )
    ax.set_ylabel("density (each histogram integrates to 1)")
    key = fig.add_subplot(grid[0, LEGEND_AT:])
    key.axis("off")
    key.legend(
        *ax.get_legend_handles_labels(), loc="upper left", fontsize=8, frameon=False
    )
    key.text(
        0.02,
        0.0,
        FDR_NOTE,
        transform=key.transAxes,
        fontsize=8,
        va="bottom",
        wrap=True,
    )
    if title:
        ax.set_title(title)
    order = _shown(train.score)
    for row, (indices, name) in enumerate(
        ((order[:GRID], "most memorized"), (order[GRID:], "least memorized")), start=1
    ):
        for column, i in enumerate(indices):
            image_ax = fig.add_subplot(grid[row, column])
            image = images[int(i)]
            image_ax.imshow(
                image[..., 0] if image.shape[-1] == 1 else image,
                cmap="gray_r" if image.shape[-1] == 1 else None,
                vmin=0,
                vmax=1,
            )
            label = f"label {train.label[i]}"
            if noisy[i]:
                label += f" (was {clean_labels[i]})"
            image_ax.set_title(
                f"#{i} {label}\nrandom label {train.random_label[i]}\n"
                f"score {train.score[i]:.2f}",
                fontsize=7.5,
                color="C3" if noisy[i] else "black",
            )
            image_ax.set_xticks([])
            image_ax.set_yticks([])
            if column == 0:
                image_ax.set_ylabel(name, fontsize=9)
    if noisy.any():
        fig.text(
            0.5,
            0.003,
            "Red titles: examples mislabeled by --label_noise (trained on 'label', "
            "originally 'was').",
            ha="center",
            fontsize=8,
            color="C3",
        )
    temporary = path + ".tmp"
    fig.savefig(temporary, dpi=100, format="png")
    plt.close(fig)
    os.replace(temporary, path)


def _shown(scores):
    """Indices of the GRID highest scores (highest first), then the GRID lowest."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    return np.concatenate([order[:GRID], order[::-1][:GRID]])


def _images(dataset, indices):
    """index -> image for a few `indices`, in one pass over `(image, label)`."""
    wanted = tf.constant(sorted({int(i) for i in indices}), tf.int64)
    found = dataset.enumerate().filter(
        lambda i, example: tf.reduce_any(tf.equal(i, wanted))
    )
    return {int(i): example[0] for i, example in found.as_numpy_iterator()}

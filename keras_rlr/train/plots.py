"""Learning curves: class and random-label accuracy over epochs (paper Fig. 1B)."""

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402

# (logged metric, legend label, line style); missing metrics are skipped.
_CURVES = (
    ("{}", "train (running, training mode)", ":"),
    ("train_{}", "train (end of epoch, clean)", "-"),
    ("val_{}", "test", "--"),
)


def plot_curves(history, chance, path, title=None, class_only=None):
    """Write `curves.png`: class accuracy and random-label accuracy per epoch.

    Args:
        history: metric name -> list of per-epoch values (`History.history` or
            the columns of `history.csv`).
        chance: random-label chance level `1 / R`, drawn as a line.
        path: the PNG to write.
        title: figure title.
        class_only: the random-label accuracy reachable from the class alone
            (`keras_rlr.memorization.class_only_accuracy`), drawn as a line.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    for ax, metric, name in (
        (axes[0], "accuracy", "Class accuracy"),
        (axes[1], "random_label_accuracy", "Random-label accuracy"),
    ):
        for pattern, label, style in _CURVES:
            values = history.get(pattern.format(metric))
            if values:
                epochs = range(1, len(values) + 1)
                ax.plot(epochs, values, style, label=label, linewidth=1.6)
        if metric == "random_label_accuracy":
            # Probes at further depths (issue #12): their clean train curves.
            for column in sorted(history, key=_depth):
                values = history[column]
                if column.startswith("train_random_label_accuracy_") and values:
                    depth = column[len("train_random_label_accuracy_") :]
                    epochs = range(1, len(values) + 1)
                    ax.plot(epochs, values, "-", label=f"probe {depth}, train (clean)")
            ax.axhline(
                chance, color="gray", linewidth=1, label=f"chance 1/R = {chance:g}"
            )
            if class_only is not None:
                ax.axhline(
                    class_only,
                    color="black",
                    linestyle=":",
                    linewidth=1,
                    label=f"from the class alone = {class_only:.3f}",
                )
        ax.set_title(name)
        ax.set_xlabel("epoch (counted from 1, as on screen; history.csv: epoch + 1)")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _depth(name):
    """Sort key: probes `..._d<k>` by their depth `k`, other names first."""
    suffix = name.rsplit("_d", 1)[-1]
    return (1, int(suffix), name) if suffix.isdigit() else (0, 0, name)

"""The report's figure: lines, heat maps or bars, per the sweep's `--figure`."""

import matplotlib
import numpy as np

from keras_rlr.report.figures import FIGURES
from keras_rlr.report.findings import _sort_key, varying
from keras_rlr.report.markdown import _point_label, panel_title
from keras_rlr.report.results import (
    CLASS_ONLY,
    TEST_RLA,
    TRAIN_RLA,
    ReportError,
    probe_metric,
)

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402

_RLA_SERIES = (
    (TRAIN_RLA, "train random-label", "-o"),
    (TEST_RLA, "test random-label", "--s"),
    (CLASS_ONLY, "class-only level (no memorizing)", ":"),
)
_CLASS_SERIES = (
    ("train_accuracy", "train class", "-o"),
    ("val_accuracy", "test class", "--s"),
)


def plot(results, path):
    """Writes the figure: the layout of the sweep's `FIGURES` entry."""
    figure = FIGURES.get(results.figure)
    layout = figure.layout if figure else "lines"
    # Two flags varied in every panel (λ × learning rate): heat maps; a heat
    # map's layout on a one-flag grid: lines.
    two = all(len(varying(entries)) == 2 for entries in results.panels.values())
    if layout in ("lines", "heatmaps"):
        layout = "heatmaps" if two else "lines"
    title = f"{figure.title if figure else results.figure} ({results.name})"
    if layout == "heatmaps":
        fig = _heatmaps(results)
    elif layout == "bars":
        fig = _bars(results)
    elif layout == "profile":
        fig = _profile(results)
    else:
        fig = _lines(results)
    fig.suptitle(title)
    fig.tight_layout()
    # The format named: the writer saves under a temporary name first.
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)


def _lines(results):
    panels = list(results.panels.items())
    fig, axes = plt.subplots(
        2, len(panels), figsize=(max(7, 4.5 * len(panels)), 7), squeeze=False
    )
    for column, (panel, entries) in enumerate(panels):
        axis_flags = varying(entries)
        labels = [
            ", ".join(values[f] for f in axis_flags) or point
            for values, point in entries
        ]
        for row, series in ((0, _RLA_SERIES), (1, _CLASS_SERIES)):
            ax = axes[row][column]
            for metric, label, style in series:
                stats = [results.stats(point, metric) for _, point in entries]
                xs = [i for i, s in enumerate(stats) if s]
                ax.errorbar(
                    xs,
                    [stats[i].mean for i in xs],
                    yerr=[stats[i].std for i in xs],
                    fmt=style,
                    capsize=3,
                    label=label,
                )
            if row == 0:
                ax.axhline(results.chance, color="gray", linewidth=1, label="chance")
                ax.set_ylabel("random-label accuracy")
            else:
                ax.set_ylabel("class accuracy")
            ax.set_xticks(
                range(len(labels)), labels, rotation=45 if len(labels) > 8 else 0
            )
            ax.set_xlabel(", ".join(axis_flags) or panel)
            ax.set_ylim(0, 1.02)
            ax.set_title(panel_title(panel, entries))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    return fig


def _heatmaps(results):
    panels = list(results.panels.items())
    fig, axes = plt.subplots(
        2, len(panels), figsize=(5 * len(panels), 8), squeeze=False
    )
    for column, (panel, entries) in enumerate(panels):
        axis_flags = varying(entries)
        if len(axis_flags) != 2:
            raise ReportError(
                f"A heat map needs two varying flags; panel {panel!r} varies "
                f"{axis_flags}."
            )
        row_flag, col_flag = axis_flags
        rows = sorted({v[row_flag] for v, _ in entries}, key=_sort_key)
        cols = sorted({v[col_flag] for v, _ in entries}, key=_sort_key)
        for r, (metric, name) in enumerate(
            ((TRAIN_RLA, "train random-label acc"), ("val_accuracy", "test class acc"))
        ):
            grid = np.full((len(rows), len(cols)), np.nan)
            text = {}
            for values, point in entries:
                i, j = rows.index(values[row_flag]), cols.index(values[col_flag])
                stats = results.stats(point, metric)
                if stats:
                    grid[i, j] = stats.mean
                    text[i, j] = f"{stats.mean:.3f}\n±{stats.std:.3f}"
                else:
                    text[i, j] = "missing"
            ax = axes[r][column]
            # Random-label accuracy on [0, 1] (chance and memorization both
            # show); class accuracy on its own range, where the effects of a
            # few points would vanish on [0, 1].
            low, high = (0.0, 1.0) if metric == TRAIN_RLA else _range(grid)
            image = ax.imshow(grid, cmap="viridis", vmin=low, vmax=high, aspect="auto")
            for (i, j), label in text.items():
                # viridis is light above ~0.6 of its scale: dark text there.
                dark = np.isfinite(grid[i, j]) and (grid[i, j] - low) > 0.6 * (
                    high - low
                )
                ax.text(
                    j,
                    i,
                    label,
                    ha="center",
                    va="center",
                    color="k" if dark else "w",
                    fontsize=8,
                )
            ax.set_xticks(range(len(cols)), cols)
            ax.set_yticks(range(len(rows)), rows)
            ax.set_xlabel(col_flag)
            ax.set_ylabel(row_flag)
            suffix = f" (chance {results.chance:.2f})" if metric == TRAIN_RLA else ""
            title = panel_title(panel, entries)
            # Two lines: panel, then metric; one line overran the next panel.
            ax.set_title(f"{title}:\n{name}{suffix}" if title else name + suffix)
            fig.colorbar(image, ax=ax)
    return fig


def _bars(results):
    categories = []
    for panel, entries in results.panels.items():
        for values, point in entries:
            # One setting a line, value under name: long labels do not collide.
            label = _point_label(values, entries).replace(",", "\n")
            label = label.replace("=", "=\n")
            categories.append((f"{panel}\n{label}" if panel else label, point))
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 2.2 * len(categories)), 4.5))
    width = 0.38
    for ax, series, name in (
        (axes[0], _RLA_SERIES[:2], "random-label accuracy"),
        (axes[1], _CLASS_SERIES, "class accuracy"),
    ):
        for k, (metric, label, _) in enumerate(series):
            stats = [results.stats(point, metric) for _, point in categories]
            xs = [i for i, s in enumerate(stats) if s]
            ax.bar(
                [x + (k - 0.5) * width for x in xs],
                [stats[i].mean for i in xs],
                width,
                yerr=[stats[i].std for i in xs],
                capsize=3,
                label=label,
            )
        if series[0][0] == TRAIN_RLA:
            ax.axhline(results.chance, color="gray", linewidth=1, label="chance")
        ax.set_xticks(range(len(categories)), [c for c, _ in categories], fontsize=8)
        ax.set_ylabel(name)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7)
    return fig


def _profile(results):
    """Random-label accuracy against copy depth (the heads' depth, then each
    probe's), one line per point; class accuracy per point beside it."""
    heads = int(results.manifest["base_values"].get("copy_depth", 1))
    depths = [heads] + results.probe_depths()
    points = [
        (_point_label(values, entries), point)
        for entries in results.panels.values()
        for values, point in entries
    ]
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(11, 4.5), gridspec_kw={"width_ratios": [2, 1]}
    )
    for k, (label, point) in enumerate(points):
        color = f"C{k}"
        for metric, style, kind in (
            (TRAIN_RLA, "-o", "train"),
            (TEST_RLA, "--s", "test"),
        ):
            names = [metric] + [probe_metric(d, metric) for d in depths[1:]]
            stats = [results.stats(point, name) for name in names]
            xs = [d for d, s in zip(depths, stats, strict=True) if s]
            left.errorbar(
                xs,
                [s.mean for s in stats if s],
                yerr=[s.std for s in stats if s],
                fmt=style,
                color=color,
                capsize=3,
                label=f"{label}, {kind}",
            )
        for j, metric in enumerate(("train_accuracy", "val_accuracy")):
            stats = results.stats(point, metric)
            if stats:
                right.bar(
                    j + (k - (len(points) - 1) / 2) * 0.8 / len(points),
                    stats.mean,
                    0.8 / len(points),
                    yerr=stats.std,
                    capsize=3,
                    color=color,
                    label=label if j == 0 else None,
                )
    levels = [results.stats(point, CLASS_ONLY) for _, point in points]
    if any(levels):
        left.axhline(
            max(s.mean for s in levels if s),
            color="black",
            linestyle=":",
            linewidth=1,
            label="class-only level (no memorizing)",
        )
    left.axhline(results.chance, color="gray", linewidth=1, label="chance")
    left.set_xticks(depths, [f"{d}\n(heads)" if d == heads else str(d) for d in depths])
    left.set_xlabel("copy depth d (heads, then probes; larger = earlier layer)")
    left.set_ylabel("random-label accuracy")
    left.set_ylim(0, 1.02)
    left.grid(alpha=0.3)
    left.legend(fontsize=7)
    right.set_xticks([0, 1], ["train", "test"])
    right.set_ylabel("class accuracy")
    right.set_ylim(0, 1.02)
    right.grid(alpha=0.3, axis="y")
    right.legend(fontsize=7)
    return fig


def _range(grid):
    """A color scale spanning the finite values of `grid` (never empty)."""
    finite = grid[np.isfinite(grid)]
    if not finite.size:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    return (low, high) if high > low else (low - 0.005, high + 0.005)

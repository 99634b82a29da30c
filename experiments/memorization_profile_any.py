"""Where do a residual CNN and a small ViT memorize? Probes at every stage.

    nice -n 19 python experiments/memorization_profile_any.py

Trains, on the first `--max_train_examples` digits32 training images (no
augmentation), two plain-Keras classifiers built here with named cuts:

- `resnet`: a stem conv, three stages of one residual block each (widths
  8/16/32, stride 2 into stages 2 and 3, batch norm), each ending in a ReLU
  after its `Add` (`stage1_out`, `stage2_out`, `stage3_out`), global average
  pooling, Dense(10);
- `vit`: 8x8 patches of the 32x32 image (16 tokens), dimension 32, a learned
  position embedding, three pre-norm transformer blocks (LayerNormalization,
  2-head self-attention, MLP 64, residual Adds; `block1_add` ... `block3_add`),
  a final LayerNormalization, mean pooling over tokens, Dense(10).

The random-label heads are split after the last block (`stage3_out`,
`block3_add`), so each head is a copy of what follows: pooling and the last
Dense (and the ViT's final LayerNormalization) **(our choice)**. Probes (C
copies of the whole tail from their cut, trained on L_rand only, nothing flows
back) sit after each earlier block. `reg_lambda` in {0, 1} acts at the heads
only. Each run's final metrics (class and random-label accuracies, the latter
at the heads and at every probe on the un-augmented training set in inference
mode, the test random-label accuracy, the class-only level) go to the CSV;
finished runs are reused, so a rerun resumes. Then the analysis (see
`analyse`) writes the Markdown page and the plot.

Not part of `make test` (tests/test_memorization_profile_any.py runs a tiny
version); the real run: see the page it writes for the command and run times.
"""

import argparse
import csv
import io
import math
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

ARCHITECTURES = ("resnet", "vit")
# The cuts of each architecture from the input towards the output; the last
# one is the heads' cut, the others hold probes.
CUTS = {
    "resnet": ("stage1_out", "stage2_out", "stage3_out"),
    "vit": ("embedding", "block1_add", "block2_add", "block3_add"),
}
R = 10
COLUMNS = (
    "architecture",
    "reg_lambda",
    "seed",
    "train_examples",
    "epochs",
    "width",
    "optimizer",
    "cut",
    "is_heads",
    "train_random_label_accuracy",
    "train_accuracy",
    "test_accuracy",
    "test_random_label_accuracy",
    "class_only_level",
    "seconds",
)


# -- Models -----------------------------------------------------------------


def resnet(width=8, num_classes=10, input_shape=(32, 32, 1)):
    """Stem + three one-block residual stages (width, 2 width, 4 width)."""
    import keras

    L = keras.layers
    inputs = keras.Input(input_shape, name="image")
    x = L.Conv2D(width, 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = L.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = L.ReLU(name="stem_out")(x)
    for stage, multiple in enumerate((1, 2, 4), start=1):
        filters, stride = width * multiple, (1 if stage == 1 else 2)
        name = f"stage{stage}"
        y = L.Conv2D(filters, 3, stride, "same", use_bias=False, name=f"{name}_conv1")(
            x
        )
        y = L.BatchNormalization(momentum=0.9, name=f"{name}_bn1")(y)
        y = L.ReLU(name=f"{name}_relu1")(y)
        y = L.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(
            y
        )
        y = L.BatchNormalization(momentum=0.9, name=f"{name}_bn2")(y)
        if stride != 1 or x.shape[-1] != filters:
            x = L.Conv2D(filters, 1, stride, use_bias=False, name=f"{name}_short")(x)
            x = L.BatchNormalization(momentum=0.9, name=f"{name}_short_bn")(x)
        x = L.Add(name=f"{name}_add")([x, y])
        x = L.ReLU(name=f"{name}_out")(x)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    outputs = L.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="resnet")


def _position_embedding():
    """A learned position embedding added to the tokens (a layer class made on
    first use, so that importing this script needs no Keras)."""
    import keras

    global _PositionEmbedding
    if "_PositionEmbedding" not in globals():

        @keras.saving.register_keras_serializable(package="memorization_profile_any")
        class PositionEmbedding(keras.layers.Layer):
            def build(self, input_shape):
                self.positions = self.add_weight(
                    shape=tuple(input_shape[1:]),
                    initializer=keras.initializers.RandomNormal(stddev=0.02),
                    name="positions",
                )

            def call(self, x):
                return x + self.positions

        _PositionEmbedding = PositionEmbedding
    return _PositionEmbedding


def vit(dim=32, depth=3, patch=8, num_classes=10, input_shape=(32, 32, 1)):
    """Patches, a learned position embedding, `depth` pre-norm blocks, mean
    pooling over tokens."""
    import keras

    L = keras.layers
    inputs = keras.Input(input_shape, name="image")
    x = L.Conv2D(dim, patch, strides=patch, name="patch_embed")(inputs)
    tokens = (input_shape[0] // patch) * (input_shape[1] // patch)
    x = L.Reshape((tokens, dim), name="tokens")(x)
    x = _position_embedding()(name="embedding")(x)
    for block in range(1, depth + 1):
        name = f"block{block}"
        y = L.LayerNormalization(name=f"{name}_ln1")(x)
        y = L.MultiHeadAttention(2, dim // 2, name=f"{name}_attn")(y, y)
        x = L.Add(name=f"{name}_add1")([x, y])
        y = L.LayerNormalization(name=f"{name}_ln2")(x)
        y = L.Dense(2 * dim, activation="gelu", name=f"{name}_mlp1")(y)
        y = L.Dense(dim, name=f"{name}_mlp2")(y)
        x = L.Add(name=f"{name}_add")([x, y])
    x = L.LayerNormalization(name="final_ln")(x)
    x = L.GlobalAveragePooling1D(name="pool")(x)
    outputs = L.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="vit")


BUILDERS = {
    "resnet": lambda width: resnet(width=width),
    "vit": lambda width: vit(dim=4 * width),
}


def optimizer_name(architecture, args):
    """SGD (momentum 0.9) for the CNN; Adam for the ViT, which SGD did not
    train here (class training accuracy 0.18 after 20 epochs at lr 0.05)."""
    if architecture == "vit":
        return f"adam {args.vit_learning_rate:g}"
    return f"sgd {args.learning_rate:g} momentum 0.9"


def make_optimizer(architecture, args):
    import keras

    if architecture == "vit":
        return keras.optimizers.Adam(args.vit_learning_rate)
    return keras.optimizers.SGD(args.learning_rate, momentum=0.9)


# -- One run ------------------------------------------------------------------


def train_one(architecture, reg_lambda, seed, args):
    """Trains one run; returns its CSV rows (one per cut)."""
    import keras

    import keras_rlr
    from keras_rlr.memorization import class_only_accuracy

    start = time.perf_counter()
    keras.utils.set_random_seed(seed)
    splits = keras_rlr.datasets.load(
        "digits32", max_train_examples=args.max_train_examples
    )
    train = keras_rlr.data.with_random_labels(splits.train, R, seed=seed).cache()
    test = keras_rlr.data.with_random_labels(
        splits.test, R, seed=seed, stream=keras_rlr.data.TEST_STREAM
    )
    n = int(train.cardinality())
    labels = np.concatenate([y["label"].numpy() for _, y in train.batch(1024)])
    rho = np.concatenate([y["random_label"].numpy() for _, y in train.batch(1024)])
    level = class_only_accuracy(labels, rho)

    *probes, heads = CUTS[architecture]
    classifier = BUILDERS[architecture](args.width)
    model = keras_rlr.RandomLabelModel.from_classifier(
        classifier,
        split_after=heads,
        probes_after=list(probes),
        num_random_labels=R,
        reg_lambda=float(reg_lambda),
    )
    model.compile(optimizer=make_optimizer(architecture, args))
    batches = train.shuffle(n, seed=seed).batch(args.batch_size)
    model.fit(batches, epochs=args.epochs, verbose=0)
    logs = model.evaluate(train.batch(256), verbose=0, return_dict=True)
    test_logs = model.evaluate(test.batch(256), verbose=0, return_dict=True)
    seconds = time.perf_counter() - start
    keras.backend.clear_session()
    rows = []
    for cut in CUTS[architecture]:
        key = "random_label_accuracy" + ("" if cut == heads else f"_{cut}")
        rows.append(
            dict(
                architecture=architecture,
                reg_lambda=reg_lambda,
                seed=seed,
                train_examples=n,
                epochs=args.epochs,
                width=args.width,
                optimizer=optimizer_name(architecture, args),
                cut=cut,
                is_heads=int(cut == heads),
                train_random_label_accuracy=logs[key],
                train_accuracy=logs["accuracy"],
                test_accuracy=test_logs["accuracy"],
                test_random_label_accuracy=test_logs["random_label_accuracy"],
                class_only_level=level,
                seconds=seconds,
            )
        )
    return rows


def read_rows(path):
    """The CSV's rows, numbers parsed (none if it does not exist)."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key in COLUMNS:
            if key not in ("architecture", "cut", "optimizer"):
                row[key] = float(row[key])
    return rows


def write_rows(path, rows):
    """Writes every row atomically (one writer: this script)."""
    from keras_rlr._atomic import write_text

    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(row[k]) for k in COLUMNS})
    write_text(path, text.getvalue())


def _fmt(value):
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.6g}"
    if isinstance(value, float):
        return str(int(value))
    return str(value)


# -- Analysis -----------------------------------------------------------------


def by_seed(rows, architecture, reg_lambda, cut, key="train_random_label_accuracy"):
    """`{seed: value}` of one architecture, lambda and cut."""
    return {
        int(r["seed"]): float(r[key])
        for r in rows
        if r["architecture"] == architecture
        and float(r["reg_lambda"]) == reg_lambda
        and r["cut"] == cut
    }


def matrix(rows, architecture, reg_lambda, cuts, key="train_random_label_accuracy"):
    """Rows: the seeds every cut has; columns: `cuts` in order. Returns
    `(seeds, matrix)`."""
    tables = [by_seed(rows, architecture, reg_lambda, c, key) for c in cuts]
    seeds = sorted(set.intersection(*(set(t) for t in tables))) if tables else []
    return seeds, np.array([[t[s] for t in tables] for s in seeds]).reshape(
        len(seeds), len(cuts)
    )


def step_rises(values):
    """The seed-paired rise of each step towards the input: for a matrix whose
    columns run from the input to the output, step `k` is
    `mean(column k - column k + 1)` (the cut moved one block earlier), with
    its Student t interval and two-sided p (`statistics.paired`)."""
    from keras_rlr.report import statistics

    values = np.asarray(values, dtype=float)
    return [
        statistics.paired(values[:, k + 1], values[:, k])
        for k in range(values.shape[1] - 1)
    ]


def _interval(difference):
    low, high = difference.interval()
    if math.isnan(low):
        return f"{difference.estimate:+.3f} [interval needs ≥ 2 seeds]"
    return f"{difference.estimate:+.3f} [{low:+.3f}, {high:+.3f}]"


def _verdict(difference, p_holm, up="rises", down="falls"):
    low, high = difference.interval()
    if math.isnan(p_holm) or not p_holm <= 0.05:
        return "can't tell"
    return up if low > 0 else down


def analyse(rows, args):
    """Writes `<name>.md` and `<name>.png` from the rows: per architecture the
    profile at lambda = 0 (mean and 95 % interval over seeds), the
    seed-paired rise of each step towards the input, Page's trend, each cut
    against the class-only level, the effective group size, and lambda = 1
    against lambda = 0 at every cut; one Holm family over every test on the
    page. Returns the page's text."""
    from keras_rlr.report import statistics
    from keras_rlr.report.findings import group_sizes

    tests = []  # (label, Difference or p, kind) in page order; Holm at the end
    sections = []
    architectures = [
        a for a in ARCHITECTURES if any(r["architecture"] == a for r in rows)
    ]
    lambdas = sorted({float(r["reg_lambda"]) for r in rows})
    for architecture in architectures:
        cuts = CUTS[architecture]
        seeds, rla = matrix(rows, architecture, 0.0, cuts)
        _, level = matrix(rows, architecture, 0.0, cuts, "class_only_level")
        section = dict(architecture=architecture, cuts=cuts, seeds=seeds, lines=[])
        section["profile"] = [
            statistics.one_sample(rla[:, k], 0.0) for k in range(len(cuts))
        ]
        section["level"] = level[:, 0] if len(seeds) else np.array([])
        for k, rise in enumerate(step_rises(rla)):
            tests.append((architecture, f"{cuts[k + 1]} → {cuts[k]}", rise, "step"))
        trend = statistics.page(rla)
        tests.append((architecture, "page", trend, "page"))
        for k, cut in enumerate(cuts):
            tests.append(
                (architecture, cut, statistics.paired(level[:, k], rla[:, k]), "level")
            )
            section["lines"].append(
                f"- `{cut}`: {group_sizes(rla[:, k], level[:, k], R)}"
                if len(seeds)
                else f"- `{cut}`: no runs"
            )
        for reg_lambda in lambdas:
            if reg_lambda == 0.0:
                continue
            for cut in cuts:
                a = by_seed(rows, architecture, 0.0, cut)
                b = by_seed(rows, architecture, reg_lambda, cut)
                common = sorted(set(a) & set(b))
                tests.append(
                    (
                        architecture,
                        f"{cut}, λ = {reg_lambda:g}",
                        statistics.paired(
                            [a[s] for s in common], [b[s] for s in common]
                        ),
                        "lambda",
                    )
                )
        sections.append(section)
    pvalues = [
        t[2].p(1 if t[2].p_up <= t[2].p_down else -1) if t[3] == "page" else t[2].p
        for t in tests
    ]
    adjusted = statistics.holm(pvalues)
    text = _page(rows, args, sections, tests, pvalues, adjusted, lambdas)
    from keras_rlr._atomic import write_text

    write_text(os.path.join(args.output, f"{args.name}.md"), text)
    _plot(rows, sections, lambdas, os.path.join(args.output, f"{args.name}.png"))
    return text


def _mean_interval(values):
    from keras_rlr.report import statistics

    d = statistics.one_sample(values, 0.0)
    low, high = d.interval()
    if math.isnan(low):
        return f"{d.estimate:.3f}"
    return f"{d.estimate:.3f} [{low:.3f}, {high:.3f}]"


def _page(rows, args, sections, tests, pvalues, adjusted, lambdas):
    from keras_rlr.report import statistics

    seconds = {}
    for r in rows:
        seconds[(r["architecture"], r["reg_lambda"], r["seed"])] = float(r["seconds"])
    out = [
        "# Memorization profile across depths: a residual CNN and a small ViT",
        "",
        "Written by `experiments/memorization_profile_any.py` from "
        f"`{args.name}.csv` (every run, one row per cut). Exact command:",
        "",
        "    nice -n 19 python experiments/memorization_profile_any.py "
        + " ".join(
            f"--{k}={v}"
            for k, v in (
                ("max_train_examples", args.max_train_examples),
                ("epochs", args.epochs),
                ("width", args.width),
            )
        ),
        "",
        f"Setting: digits32, the first {args.max_train_examples} training images, no "
        f"augmentation, {args.epochs} epochs, batch {args.batch_size}, R = {R} "
        f"(chance {1 / R:.2f}). CNN: SGD lr {args.learning_rate:g}, momentum 0.9; "
        f"ViT: Adam lr {args.vit_learning_rate:g} (SGD did not train it). "
        "**Our choices** (not the paper's): both architectures, their widths, the "
        "cuts, the heads' cut after the last block (each head a copy of pooling "
        "and the last Dense, plus the ViT's final LayerNormalization), the "
        "optimizers, λ ∈ {0, 1} at the heads only. Probes are C copies of the "
        "whole tail from their cut, trained on L_rand only (nothing flows back). "
        "Training random-label accuracy is measured at the end, in inference mode, "
        "on the un-augmented training set (`model.evaluate`). Cuts run from the "
        "input (left) to the heads (right): a cut nearer the input copies more "
        "layers into each probe.",
        "",
        f"Run time: {len(seconds)} runs, {sum(seconds.values()) / 60:.1f} min in "
        f"all (median {np.median(list(seconds.values())):.0f} s a run), at "
        "`nice 19` on 2 shared CPU cores.",
        "",
        f"![profile]({args.name}.png)",
        "",
        "## The profile (mean [95 % interval] over seeds)",
        "",
    ]
    for section in sections:
        a = section["architecture"]
        out += [
            f"### {a} ({len(section['seeds'])} seeds: "
            f"{', '.join(map(str, section['seeds']))})",
            "",
            "| λ | "
            + " | ".join(
                f"`{c}`" + (" (heads)" if i == len(section["cuts"]) - 1 else "")
                for i, c in enumerate(section["cuts"])
            )
            + " | train class acc | test class acc | test random-label acc |",
            "| --- " * (len(section["cuts"]) + 4) + "|",
        ]
        for reg_lambda in lambdas:
            cells = []
            for cut in section["cuts"]:
                v = list(by_seed(rows, a, reg_lambda, cut).values())
                cells.append(_mean_interval(v) if v else "—")
            heads = section["cuts"][-1]
            for key in (
                "train_accuracy",
                "test_accuracy",
                "test_random_label_accuracy",
            ):
                v = list(by_seed(rows, a, reg_lambda, heads, key).values())
                cells.append(_mean_interval(v) if v else "—")
            out.append(f"| {reg_lambda:g} | " + " | ".join(cells) + " |")
        level = section["level"]
        out += [
            "",
            f"Class-only level (each class's most common random label): "
            f"{_mean_interval(level) if len(level) else '—'}.",
            "",
            "Effective group size at λ = 0 (`statistics.group_size`):",
            "",
            *section["lines"],
            "",
        ]
    out += [
        "## Verdicts",
        "",
        "Seed-paired t intervals (95 %); p two-sided; Holm over all "
        f"{sum(not math.isnan(p) for p in pvalues)} tests on this page. A verdict "
        'is given only where the Holm-adjusted p ≤ 0.05; otherwise "can\'t tell" '
        "(which is no evidence of absence). A step `A → B` moves the cut one block "
        "towards the input, from `A` to `B`: its estimate is accuracy at `B` "
        "minus accuracy at `A`.",
        "",
        "| architecture | test | estimate [95 %] | p | Holm p | verdict |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for (a, label, result, kind), p, ph in zip(tests, pvalues, adjusted, strict=True):
        if kind == "page":
            estimate = str(result)
            verdict = (
                "can't tell"
                if math.isnan(ph) or ph > 0.05
                else (
                    "rises towards the output"
                    if result.p_up <= result.p_down
                    else "rises towards the input"
                )
            )
            label = "Page's trend over the cuts, λ = 0"
        elif kind == "step":
            estimate, verdict = _interval(result), _verdict(result, ph)
            label = f"step {label}, λ = 0"
        elif kind == "level":
            estimate = _interval(result)
            verdict = _verdict(result, ph, "above", "below")
            label = f"`{label}` − class-only level, λ = 0"
        else:
            estimate = _interval(result)
            verdict = _verdict(result, ph, "λ raises it", "λ lowers it")
            label = f"`{label}` − λ = 0"
        out.append(f"| {a} | {label} | {estimate} | {_p(p)} | {_p(ph)} | {verdict} |")
    out += ["", "## Where the largest rise lies (λ = 0)", ""]
    for section in sections:
        a = section["architecture"]
        steps = [
            (label, r) for (arch, label, r, k) in tests if arch == a and k == "step"
        ]
        if not steps:
            continue
        order = sorted(range(len(steps)), key=lambda k: -steps[k][1].estimate)
        label, best = steps[order[0]]
        line = f"- {a}: the largest mean rise is the step {label}: {_interval(best)}"
        if len(order) > 1 and len(section["seeds"]) > 1:
            _, rla = matrix(rows, a, 0.0, section["cuts"])
            first, second = order[0], order[1]
            weights = np.zeros(rla.shape[1])
            weights[[first, first + 1]] += (1, -1)
            weights[[second, second + 1]] -= (1, -1)
            d = statistics.paired_contrast(rla.T, weights)
            line += (
                f"; minus the next largest ({steps[second][0]}): {_interval(d)}, "
                f"p = {_p(d.p)} (the pair was picked as the largest on these "
                "same seeds, so this p is optimistic; not in the Holm family)"
            )
        out.append(line + ".")
    out.append("")
    return "\n".join(out)


def _p(p):
    return "—" if math.isnan(p) else f"{p:.2g}"


def _plot(rows, sections, lambdas, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from keras_rlr.report import statistics

    figure, axes = plt.subplots(1, len(sections), figsize=(5 * len(sections), 3.8))
    for ax, section in zip(np.atleast_1d(axes), sections, strict=True):
        a, cuts = section["architecture"], section["cuts"]
        x = np.arange(len(cuts))
        for reg_lambda, marker in zip(lambdas, "os^v", strict=False):
            means, errors = [], []
            for cut in cuts:
                d = statistics.one_sample(
                    list(by_seed(rows, a, reg_lambda, cut).values()), 0.0
                )
                low, high = d.interval()
                means.append(d.estimate)
                errors.append(0.0 if math.isnan(low) else d.estimate - low)
            ax.errorbar(
                x,
                means,
                yerr=errors,
                marker=marker,
                capsize=3,
                label=f"λ = {reg_lambda:g} at the heads",
            )
        if len(section["level"]):
            ax.axhline(
                np.mean(section["level"]), ls=":", c="k", label="class-only level"
            )
        ax.axhline(1 / R, ls="--", c="grey", label="chance")
        ax.set_xticks(
            x,
            [
                c + ("\n(heads)" if i == len(cuts) - 1 else "")
                for i, c in enumerate(cuts)
            ],
            fontsize=8,
        )
        ax.set_title(f"{a} ({len(section['seeds'])} seeds, 95 % intervals)")
        ax.set_ylabel("train random-label accuracy")
        ax.set_xlabel("cut (input → output)")
        ax.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# -- Main -----------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--architectures", nargs="+", default=list(ARCHITECTURES))
    parser.add_argument("--reg_lambdas", type=float, nargs="+", default=[0.0, 1.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--max_train_examples", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=0.05)
    parser.add_argument("--vit_learning_rate", type=float, default=1e-3)
    parser.add_argument(
        "--width", type=int, default=8, help="CNN stem width; the ViT's dim is 4x"
    )
    parser.add_argument("--output", default=os.path.join(ROOT, "results", "cpu"))
    parser.add_argument("--name", default="profile_any")
    parser.add_argument(
        "--skip_analysis", action="store_true", help="train only; no page or plot"
    )
    args = parser.parse_args(argv)
    for architecture in args.architectures:
        if architecture not in ARCHITECTURES:
            parser.error(
                f"--architectures takes {', '.join(ARCHITECTURES)}. "
                f"Received: --architectures={architecture}"
            )
    return args


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.output, exist_ok=True)
    csv_path = os.path.join(args.output, f"{args.name}.csv")
    rows = read_rows(csv_path)
    setting = (args.max_train_examples, args.epochs, args.width)
    done = {
        (r["architecture"], r["reg_lambda"], r["seed"])
        for r in rows
        if (r["train_examples"], r["epochs"], r["width"]) == setting
    }
    for seed in args.seeds:  # seeds outermost: a cut-short run has whole seeds
        for architecture in args.architectures:
            for reg_lambda in args.reg_lambdas:
                if (architecture, reg_lambda, seed) in done:
                    continue
                rows += train_one(architecture, reg_lambda, seed, args)
                write_rows(csv_path, rows)
                print(
                    f"{architecture} lambda={reg_lambda:g} seed={seed}: "
                    f"{rows[-1]['seconds']:.0f} s",
                    flush=True,
                )
    if not args.skip_analysis:
        analyse(rows, args)


if __name__ == "__main__":
    main()

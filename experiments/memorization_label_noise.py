"""Does the memorization score find the examples that must be memorized?

    python experiments/memorization_label_noise.py          (or: make memorization)

Trains the quickstart (digits, small CNN, R = 10) with `--label_noise=0.1` for
several seeds, reads each run's `memorization.csv` and measures how well the
score separates the mislabeled training examples (`label != clean_label`: they
can only be fit by memorizing them) from the rest: ROC AUC per seed, and the
mean over seeds with a bootstrap 95 % interval that resamples the examples
within each seed (the variation from training seeds shows in the per-seed
values), beside the AUC of the obvious detector, each example's class loss on
its trained label. Finished runs are reused; delete the output directory to retrain.
Not part of `make test`: about 2 minutes per seed on 2 CPU cores. Flags
this script does not know go to `train.py`:

    python experiments/memorization_label_noise.py --dataset=synthetic \
        --cnn_width=8 --epochs=40 --output_dir=runs/memorization_synthetic
    python experiments/memorization_label_noise.py --label_noise=0.3 \
        --output_dir=runs/memorization_label_noise_30
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np
from sklearn.metrics import roc_auc_score

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from keras_rlr.train import memorization_report  # noqa: E402
from keras_rlr.train.run_directory import MEMORIZATION, RunDirectory  # noqa: E402


def train(output_dir, seed, args):
    """Trains one seed unless its run is finished; returns its summary."""
    run = RunDirectory(output_dir)
    if not run.is_finished():
        command = [
            sys.executable,
            "train.py",
            f"--flagfile={args.flagfile}",
            f"--label_noise={args.label_noise}",
            f"--seed={seed}",
            f"--output_dir={output_dir}",
            "--verbose=0",
            *args.extra,
        ]
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if result.returncode:
            sys.exit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return run.read_summary()


def class_losses(output_dir):
    """Each training example's class loss on its trained label, from the saved
    model: the obvious mislabel detector, to compare the score with."""
    import keras

    from keras_rlr.train import builders
    from keras_rlr.train.config import Config

    with open(os.path.join(output_dir, "config.json")) as f:
        config = Config(**json.load(f))
    inputs = builders.build_inputs(config, initial_epoch=config.epochs)
    model = keras.saving.load_model(os.path.join(output_dir, "model.keras"))
    losses = []
    for images, labels in inputs.splits.train.batch(config.eval_batch_size):
        logits = np.asarray(model(images, training=False), np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        losses.append(-log_probs[np.arange(len(logits)), labels.numpy()])
    return np.concatenate(losses)


def bootstrap(runs, repeats, rng):
    """95 % intervals of the mean over seeds of the score's AUC and of its
    difference from the class loss's AUC (paired: the same resample for both),
    resampling each seed's examples."""
    means = np.empty((repeats, 2))
    for b in range(repeats):
        aucs = []
        for noisy, score, loss in runs:
            while True:  # a resample needs both classes
                pick = rng.integers(0, len(score), len(score))
                if 0 < noisy[pick].sum() < len(pick):
                    break
            auc = roc_auc_score(noisy[pick], score[pick])
            aucs.append((auc, auc - roc_auc_score(noisy[pick], loss[pick])))
        means[b] = np.mean(aucs, axis=0)
    return np.percentile(means, [2.5, 97.5], axis=0).T  # rows: AUC, difference


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flagfile", default="configs/quickstart.cfg")
    parser.add_argument("--label_noise", type=float, default=0.1)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--output_dir", default="runs/memorization_label_noise")
    parser.add_argument("--bootstrap", type=int, default=1000)
    # Any other --flag goes to train.py (e.g. --dataset=synthetic --epochs=40).
    args, args.extra = parser.parse_known_args()

    runs, rows = [], []
    for seed in args.seeds:
        output_dir = os.path.join(args.output_dir, f"seed_{seed}")
        summary = train(output_dir, seed, args)
        table = memorization_report.read_csv(os.path.join(output_dir, MEMORIZATION))
        noisy = table["label"] != table["clean_label"]
        score = table["score"]
        loss = class_losses(output_dir)
        runs.append((noisy, score, loss))
        rows.append(
            dict(
                seed=seed,
                train_seconds=summary["train_seconds"],
                test_accuracy=summary["val_accuracy"],
                num_noisy=int(noisy.sum()),
                num_clean=int((~noisy).sum()),
                auc=roc_auc_score(noisy, score),
                class_loss_auc=roc_auc_score(noisy, loss),
                ci=list(
                    bootstrap(
                        [(noisy, score, loss)],
                        args.bootstrap,
                        np.random.default_rng(seed),
                    )[0]
                ),
                mean_score_noisy=float(score[noisy].mean()),
                mean_score_clean=float(score[~noisy].mean()),
                correct_noisy=float(table["correct"][noisy].mean()),
                correct_clean=float(table["correct"][~noisy].mean()),
            )
        )
    (low, high), (diff_low, diff_high) = bootstrap(
        runs, args.bootstrap, np.random.default_rng(0)
    )
    mean = float(np.mean([r["auc"] for r in rows]))
    loss_mean = float(np.mean([r["class_loss_auc"] for r in rows]))
    print(f"{args.flagfile} {' '.join(args.extra)}, label noise {args.label_noise}")
    print(
        "seed  noisy/clean  AUC [95% CI]          mean score noisy/clean  "
        "RL accuracy noisy/clean  class-loss AUC  test acc  train s"
    )
    for r in rows:
        print(
            f"{r['seed']:>4}  {r['num_noisy']:>5}/{r['num_clean']:<5}  "
            f"{r['auc']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]  "
            f"{r['mean_score_noisy']:.3f} / {r['mean_score_clean']:.3f}"
            f"           {r['correct_noisy']:.3f} / {r['correct_clean']:.3f}"
            f"            {r['class_loss_auc']:.3f}"
            f"          {r['test_accuracy']:.3f}     {r['train_seconds']:.0f}"
        )
    print(
        f"mean AUC over {len(rows)} seeds: {mean:.3f}, 95% CI [{low:.3f}, {high:.3f}]; "
        f"class loss {loss_mean:.3f}; score minus class loss {mean - loss_mean:+.3f}, "
        f"95% CI [{diff_low:+.3f}, {diff_high:+.3f}] (bootstrap over the examples "
        "within each seed)"
    )
    with open(os.path.join(args.output_dir, "results.json"), "w") as f:
        json.dump(
            dict(
                seeds=rows,
                mean_auc=mean,
                ci=[low, high],
                class_loss_mean_auc=loss_mean,
                difference_ci=[diff_low, diff_high],
            ),
            f,
            indent=2,
        )


if __name__ == "__main__":
    main()

"""Does the memorization score find the examples that must be memorized?

    python experiments/memorization_label_noise.py          (or: make memorization)

Trains the quickstart (digits, small CNN, R = 10) with `--label_noise=0.1` for
several seeds, reads each run's `memorization.csv` and measures how well the
score separates the mislabeled training examples (`label != clean_label`: they
can only be fit by memorizing them) from the rest: ROC AUC per seed, and the
mean over seeds with a bootstrap 95 % interval that resamples the examples
within each seed (the variation from training seeds shows in the per-seed
values). Finished runs are reused; delete the output directory to retrain.
Not part of `make test`: about 2 minutes per seed on 2 CPU cores. Flags
this script does not know go to `train.py`:

    python experiments/memorization_label_noise.py --dataset=synthetic \
        --cnn_width=8 --epochs=40 --output_dir=runs/memorization_synthetic
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from sklearn.metrics import roc_auc_score

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from keras_rlr.train import memorization_report  # noqa: E402
from keras_rlr.train.run_directory import MEMORIZATION, RunDirectory  # noqa: E402


def train(output_dir, seed, args):
    run = RunDirectory(output_dir)
    if run.is_finished():
        return 0.0
    start = time.time()
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
    return time.time() - start


def bootstrap_mean_auc(runs, repeats, rng):
    """Mean over seeds of the AUC, each seed's examples resampled."""
    means = np.empty(repeats)
    for b in range(repeats):
        aucs = []
        for noisy, score in runs:
            while True:  # a resample needs both classes
                pick = rng.integers(0, len(score), len(score))
                if 0 < noisy[pick].sum() < len(pick):
                    break
            aucs.append(roc_auc_score(noisy[pick], score[pick]))
        means[b] = np.mean(aucs)
    return np.percentile(means, [2.5, 97.5])


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
        seconds = train(output_dir, seed, args)
        table = memorization_report.read_csv(os.path.join(output_dir, MEMORIZATION))
        noisy = table["label"] != table["clean_label"]
        score = table["score"]
        runs.append((noisy, score))
        rows.append(
            dict(
                seed=seed,
                train_seconds=round(seconds, 1),
                num_noisy=int(noisy.sum()),
                num_clean=int((~noisy).sum()),
                auc=roc_auc_score(noisy, score),
                ci=list(
                    bootstrap_mean_auc(
                        [(noisy, score)], args.bootstrap, np.random.default_rng(seed)
                    )
                ),
                mean_score_noisy=float(score[noisy].mean()),
                mean_score_clean=float(score[~noisy].mean()),
                correct_noisy=float(table["correct"][noisy].mean()),
                correct_clean=float(table["correct"][~noisy].mean()),
            )
        )
    low, high = bootstrap_mean_auc(runs, args.bootstrap, np.random.default_rng(0))
    mean = float(np.mean([r["auc"] for r in rows]))
    print(f"{args.flagfile} {' '.join(args.extra)}, label noise {args.label_noise}")
    print(
        "seed  noisy/clean  AUC [95% CI]          mean score noisy/clean  "
        "RL accuracy noisy/clean  train s"
    )
    for r in rows:
        print(
            f"{r['seed']:>4}  {r['num_noisy']:>5}/{r['num_clean']:<5}  "
            f"{r['auc']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]  "
            f"{r['mean_score_noisy']:.3f} / {r['mean_score_clean']:.3f}"
            f"           {r['correct_noisy']:.3f} / {r['correct_clean']:.3f}"
            f"            {r['train_seconds']:.0f}"
        )
    print(
        f"mean AUC over {len(rows)} seeds: {mean:.3f}, 95% CI [{low:.3f}, {high:.3f}] "
        "(bootstrap over examples within each seed)"
    )
    with open(os.path.join(args.output_dir, "results.json"), "w") as f:
        json.dump(dict(seeds=rows, mean_auc=mean, ci=[low, high]), f, indent=2)


if __name__ == "__main__":
    main()

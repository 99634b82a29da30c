"""The report on synthetic sweep directories with known numbers: the table, the
findings and the list of missing runs say what was written."""

import json
import math
import os
import subprocess
import sys

import pytest

from keras_rlr.report import figures, results, writer
from keras_rlr.sweep import config as sweep_config
from keras_rlr.sweep import grid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write_sweep(tmp_path, lines, numbers, histories=None):
    """A sweep directory whose runs hold `numbers[(point, seed)]`:
    (train acc, test acc, train random-label acc, test random-label acc)."""
    out = tmp_path / "sweep"
    text = "\n".join(
        ["--name=synthetic", "--base=configs/quickstart.cfg", f"--output_dir={out}"]
        + lines
    )
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        s = grid.expand(sweep_config.parse_config_text(text, "synthetic.cfg"))
    finally:
        os.chdir(cwd)
    s.write_manifest()
    for (point, seed), values in numbers.items():
        run_dir = out / point / f"seed_{seed}"
        os.makedirs(run_dir)
        summary = dict(zip([m for m, _ in results.METRICS], values, strict=True))
        summary.update(chance=0.1, num_random_labels=10, num_test_examples=360)
        (run_dir / "summary.json").write_text(json.dumps(summary))
        history = (histories or {}).get((point, seed))
        if history:
            names = list(history)
            rows = [",".join(names)] + [
                ",".join(str(history[n][i]) for n in names)
                for i in range(len(history[names[0]]))
            ]
            (run_dir / "history.csv").write_text("\n".join(rows) + "\n")
    return out


FIG2 = ["--figure=fig2", "--seeds=0,1", "--panel=dropout", "--grid=dropout:0,0.5"]
FIG2 += ["--panel=weight_decay", "--grid=weight_decay:0,1e-3"]


def _history(rla):
    return {
        "epoch": [0, 1, 2, 3],
        "train_accuracy": [0.5, 0.995, 1.0, 1.0],
        "train_random_label_accuracy": rla,
    }


def test_fig2_table_findings_and_missing_runs(tmp_path):
    numbers = {
        ("base", 0): (1.0, 0.9, 0.6, 0.1),
        ("base", 1): (1.0, 0.8, 0.8, 0.1),
        ("dropout=0.5", 0): (0.9, 0.95, 0.3, 0.11),
        ("dropout=0.5", 1): (0.9, 0.85, 0.5, 0.09),
        ("weight_decay=0.001", 0): (1.0, 0.9, 0.9, 0.1),
        # weight_decay=0.001 seed 1: failed
    }
    histories = {
        ("base", 0): _history([0.1, 0.2, 0.4, 0.6]),
        ("base", 1): _history([0.1, 0.3, 0.5, 0.8]),
    }
    out = _write_sweep(tmp_path, FIG2, numbers, histories)
    failed_dir = out / "weight_decay=0.001" / "seed_1"
    os.makedirs(failed_dir)
    (out / "weight_decay=0.001" / "seed_1.failed").write_text("1\n")
    (out / "weight_decay=0.001" / "seed_1.log").write_text("boom\n")

    png, md = writer.write_report(str(out), str(tmp_path / "results"))
    assert png.endswith("results/fig2.png") and os.path.getsize(png) > 10_000
    text = open(md).read()
    assert "| dropout | dropout=0 | 2/2 | 1.000 ± 0.000 | 0.850 ± 0.071 | " in text
    assert "0.700 ± 0.141 | 0.100 ± 0.000 |" in text
    assert "| dropout | dropout=0.5 | 2/2 | 0.900 ± 0.000 | 0.900 ± 0.071 | " in text
    assert "0.400 ± 0.141 | 0.100 ± 0.014 |" in text
    assert "| weight_decay | weight_decay=0.001 | 1/2 | 1.000 ± 0.000 |" in text

    outcomes = {o.claim: o for o in figures.findings(results.load(str(out)))}
    above = outcomes["1. Training random-label accuracy is well above chance"]
    assert above.verdict is True
    assert "0.700 ± 0.141 (base) = 7.0x chance 0.100" in above.evidence
    rise = outcomes[
        "1. It keeps rising after class training accuracy reaches 100 % (≥ 0.99)"
    ]
    # Fit at epoch 2 (0.995): 0.2 -> 0.6 and 0.3 -> 0.8, a mean rise of 0.45.
    assert rise.verdict is True and "from epoch 2–2" in rise.evidence
    assert "rose by +0.450" in rise.evidence
    dropout = outcomes["2. Dropout lowers random-label accuracy"]
    assert str(dropout) == (
        "2. Dropout lowers random-label accuracy: train random-label accuracy "
        "0.700 (dropout=0) → 0.400 (dropout=0.5) [dropout] (yes)"
    )
    decay = outcomes["2. Weight decay lowers random-label accuracy"]
    assert decay.verdict is False and "0.700 (weight_decay=0) → 0.900" in str(decay)
    assert outcomes["2. Label smoothing lowers random-label accuracy"].verdict is None
    assert outcomes["Control: test random-label accuracy stays at chance"].verdict

    assert "- 2. Dropout lowers random-label accuracy: " in text
    assert "[dropout] (yes)" in text
    assert "## Missing or failed runs (1)" in text
    assert f"- `{failed_dir}`: failed (log `{failed_dir}.log`)" in text
    assert "`dataset` cifar100 → digits" in text


def test_heat_map_sweep_and_per_group_findings(tmp_path):
    lines = ["--figure=figa2", "--seeds=0"]
    lines += ["--grid=reg_lambda:0,1", "--grid=label_smoothing:0,0.1"]
    numbers = {
        ("base", 0): (1.0, 0.90, 0.8, 0.1),
        ("reg_lambda=1", 0): (1.0, 0.95, 0.2, 0.1),
        ("label_smoothing=0.1", 0): (1.0, 0.90, 0.5, 0.1),
        # reg_lambda=1,label_smoothing=0.1 missing
    }
    out = _write_sweep(tmp_path, lines, numbers)
    png, md = writer.write_report(str(out))
    assert os.path.getsize(png) > 10_000
    outcomes = {o.claim: o for o in figures.findings(results.load(str(out)))}
    lam = outcomes["4. λ > 0 lowers random-label accuracy"]
    assert lam.verdict is None  # one group decided yes, one missing
    assert "0.800 (reg_lambda=0) → 0.200 (reg_lambda=1) [label_smoothing=0]" in str(lam)
    assert (
        "missing runs [label_smoothing=0.1]; holds in 1 of 2, can't tell in 1"
        in str(lam)
    )
    smoothing = outcomes["2. Label smoothing lowers random-label accuracy"]
    assert "0.800 (label_smoothing=0) → 0.500 (label_smoothing=0.1)" in str(smoothing)
    # 0.95 vs 0.90 with one seed (std 0): test accuracy improved.
    test = outcomes["4. λ > 0 does not improve test accuracy"]
    assert "0.900 ± 0.000 (reg_lambda=0) vs best 0.950 ± 0.000 (reg_lambda=1)" in str(
        test
    )
    assert "## Missing or failed runs (1)" in open(md).read()


def test_copy_depth_jump_and_widening(tmp_path):
    lines = ["--figure=fig3a", "--seeds=0", "--set=model:vgg16"]
    lines += ["--panel=depth", "--grid=copy_depth:1,4,5,6,7,14"]
    lines += ["--panel=width", "--grid=copy_depth:5"]
    lines += ["--grid=copy_width_multiplier:1,4"]
    rla = {1: 0.15, 4: 0.2, 5: 0.25, 6: 0.5, 7: 0.6, 14: 0.7}
    numbers = {
        ("base" if d == 1 else f"copy_depth={d}", 0): (1, 0.9, v, 0.1)
        for d, v in rla.items()
    }
    numbers[("copy_depth=5,copy_width_multiplier=4", 0)] = (1, 0.9, 0.3, 0.1)
    out = _write_sweep(tmp_path, lines, numbers)
    _, md = writer.write_report(str(out))
    # The width panel's rows name the depth it holds fixed.
    assert "| width (copy_depth=5) | copy_width_multiplier=4 | 1/1 |" in open(md).read()
    outcomes = figures.findings(results.load(str(out)))
    assert str(outcomes[0]) == (
        "3. Random-label accuracy jumps between copy depths 5 and 7: largest "
        "increase of train random-label accuracy between consecutive copy_depth: "
        "5 → 6 (+0.250); copy_depth 5 → 7: 0.250 → 0.600 (yes)"
    )
    assert str(outcomes[1]) == (
        "3. Widening the copies at depth 5 does not explain the jump: train "
        "random-label accuracy 0.300 ± 0.000 (copy_depth=5, copy_width_multiplier=4) "
        "vs 0.600 ± 0.000 (copy_depth=7) (yes)"
    )


def test_no_manifest_is_an_error_naming_the_directory(tmp_path):
    with pytest.raises(results.ReportError, match="holds no sweep.json"):
        results.load(str(tmp_path))


def _report_py(*args):
    return subprocess.run(
        [sys.executable, "report.py", *args], cwd=ROOT, capture_output=True, text=True
    )


def test_entry_point_writes_the_report_and_prints_the_findings(tmp_path):
    numbers = {
        ("base", 0): (1.0, 0.9, 0.6, 0.1),
        ("dropout=0.5", 0): (1, 0.9, 0.3, 0.1),
    }
    out = _write_sweep(tmp_path, FIG2, numbers)
    result = _report_py(f"--sweep_dir={out}", f"--output_dir={tmp_path / 'r'}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "- 2. Dropout lowers random-label accuracy: " in result.stdout
    # Seed 1 of both points and the weight-decay point never ran.
    assert "4 run(s) missing or failed" in result.stdout
    assert (tmp_path / "r" / "fig2.png").is_file()
    assert (tmp_path / "r" / "fig2.md").is_file()

    missing = _report_py(f"--sweep_dir={tmp_path / 'nope'}")
    assert missing.returncode == 1
    assert "report.py: error: " in missing.stderr
    assert "holds no sweep.json" in missing.stderr
    assert "Traceback" not in missing.stderr


@pytest.mark.parametrize("scale, verdict", [(0.99, True), (1.01, False)])
def test_leak_control_band_is_family_wise(tmp_path, scale, verdict):
    """The leak control's band holds the false-alarm chance over all runs at 5 %:
    z solves P(|N(0,1)| > z) = 0.05 / runs (found here by bisection on erfc,
    independently of the report's NormalDist), so one run at 0.99 of the band
    passes (a fixed 2-std band would flag it) and one at 1.01 fails."""
    points = ["base", "dropout=0.5", "weight_decay=0.001"]
    runs = [(point, seed) for point in points for seed in (0, 1)]
    lo, hi = 0.0, 10.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if math.erfc(mid / math.sqrt(2)) > 0.05 / len(runs):
            lo = mid
        else:
            hi = mid
    std = math.sqrt(0.1 * 0.9 / 360)
    value = 0.1 - scale * lo * std
    assert scale * lo > 2  # the 2-std band would call this run a leak
    numbers = {run: (1.0, 0.9, 0.5, 0.1) for run in runs}
    numbers[("dropout=0.5", 1)] = (1.0, 0.9, 0.5, value)
    out = _write_sweep(tmp_path, FIG2, numbers)
    outcomes = {o.claim: o for o in figures.findings(results.load(str(out)))}
    control = outcomes["Control: test random-label accuracy stays at chance"]
    assert control.verdict is verdict
    assert f"{value:.3f} (dropout=0.5/seed_1, band ±{lo * std:.3f} = {lo:.2f} std" in (
        control.evidence
    )


@pytest.mark.parametrize(
    "wide, verdict, text",
    [
        ((0.30, 0.32), True, "0.310 ± 0.014 (copy_depth=5, copy_width_multiplier=2)"),
        ((0.55, 0.62), None, "the gap +0.015 is within the seeds' spread"),
        ((0.80, 0.82), False, "vs 0.600 ± 0.000 (copy_depth=7) (no)"),
    ],
)
def test_widening_verdict_needs_a_gap_beyond_the_seeds_spread(
    tmp_path, wide, verdict, text
):
    lines = ["--figure=fig3a", "--seeds=0,1", "--set=model:vgg16"]
    lines += ["--panel=depth", "--grid=copy_depth:5,7"]
    lines += ["--panel=width", "--grid=copy_depth:5"]
    lines += ["--grid=copy_width_multiplier:1,2"]
    numbers = {}
    for seed in (0, 1):
        numbers[("copy_depth=5", seed)] = (1, 0.9, 0.2, 0.1)
        numbers[("copy_depth=7", seed)] = (1, 0.9, 0.6, 0.1)
        numbers[("copy_depth=5,copy_width_multiplier=2", seed)] = (
            1,
            0.9,
            wide[seed],
            0.1,
        )
    out = _write_sweep(tmp_path, lines, numbers)
    outcome = figures.findings(results.load(str(out)))[1]
    assert outcome.claim.startswith("3. Widening the copies")
    assert outcome.verdict is verdict
    assert text in str(outcome)


@pytest.mark.parametrize(
    "dropped, verdict, text",
    [
        ((0.30, 0.34), True, "0.700 (dropout=0) → 0.320 (dropout=0.5) (yes)"),
        ((0.60, 0.76), None, "→ 0.680 (dropout=0.5), within the seeds' spread ±0.113"),
        ((0.90, 0.94), False, "0.700 (dropout=0) → 0.920 (dropout=0.5) (no)"),
    ],
)
def test_lowers_needs_a_drop_beyond_the_seeds_spread(tmp_path, dropped, verdict, text):
    lines = ["--figure=fig2", "--seeds=0,1", "--grid=dropout:0,0.5"]
    numbers = {("base", 0): (1, 0.9, 0.7, 0.1), ("base", 1): (1, 0.9, 0.7, 0.1)}
    for seed in (0, 1):
        numbers[("dropout=0.5", seed)] = (1, 0.9, dropped[seed], 0.1)
    out = _write_sweep(tmp_path, lines, numbers)
    outcomes = {o.claim: o for o in figures.findings(results.load(str(out)))}
    dropout = outcomes["2. Dropout lowers random-label accuracy"]
    assert dropout.verdict is verdict
    assert text in str(dropout)
    assert str(dropout).endswith({None: "(can't tell)"}.get(verdict, ")"))

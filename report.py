r"""Turn a sweep directory into its figure (PNG) and a Markdown report.

    python report.py --sweep_dir=runs/sweeps/fig2_cpu --output_dir=results/cpu

A thin wrapper of `keras_rlr.report.cli` (also installed as `keras-rlr-report`
and run by `python -m keras_rlr.report`).
"""

from keras_rlr.report.cli import run

if __name__ == "__main__":
    run()

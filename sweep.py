r"""Run a sweep: every grid point x seed of a sweep config, as training runs.

    python sweep.py --config=configs/sweeps/fig2_cpu.cfg --parallel=2

A thin wrapper of `keras_rlr.sweep.cli` (also installed as `keras-rlr-sweep`
and run by `python -m keras_rlr.sweep`). Run it from the repository root: the
configs name flagfiles by paths relative to it.
"""

from keras_rlr.sweep.cli import run

if __name__ == "__main__":
    run()

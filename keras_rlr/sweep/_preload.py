"""What every run of a sweep imports, loaded once by the sweep's fork server
(`keras_rlr.sweep.runner`) and inherited by each run's process.

TensorFlow is imported as `train.py` imports it (`console.import_tensorflow`:
its start-up lines hidden unless `TF_CPP_MIN_LOG_LEVEL` is 0); importing
creates no TensorFlow runtime, so every run still starts its own, with its
own thread settings.
"""

import os
import signal

from keras_rlr.train import console

# SIGTERM to the whole job (Slurm's preemption and time limit) is for the
# runner and the runs, which stop at a backup: the server must outlive them,
# since the runner learns from it how they ended and waits for that (it
# ignores SIGINT itself). It exits when the runner and its runs are gone;
# each run installs its own handlers.
signal.signal(signal.SIGTERM, signal.SIG_IGN)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # as train.py does
console.import_tensorflow()

import keras  # noqa: E402, F401

from keras_rlr.train import cli, experiment  # noqa: E402, F401

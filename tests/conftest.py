import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# No TensorFlow import here: under pytest-xdist the controller process loads
# this file too, and TF's start-up lines would land after the summary line.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def train_flags():
    """train.py's flags, as the sweep runner reads them (from the repo root)."""
    from keras_rlr import sweep

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        yield sweep.train_flags()
    finally:
        os.chdir(cwd)

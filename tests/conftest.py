import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
from train_utils import ROOT  # noqa: E402


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

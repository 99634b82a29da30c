"""`python -m keras_rlr.sweep`: see `keras_rlr.sweep.cli`."""

from keras_rlr.sweep.cli import run

run()

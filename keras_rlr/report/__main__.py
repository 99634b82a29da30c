"""`python -m keras_rlr.report`: see `keras_rlr.report.cli`."""

from keras_rlr.report.cli import run

run()

"""`python -m keras_rlr.sweep`: see `keras_rlr.sweep.cli`."""

from keras_rlr.sweep.cli import run

if __name__ == "__main__":  # the runs' processes import it again
    run()

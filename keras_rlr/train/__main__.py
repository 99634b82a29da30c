"""`python -m keras_rlr.train`: see `keras_rlr.train.cli`."""

from keras_rlr.train.cli import run

if __name__ == "__main__":
    run()

r"""Train a classifier with random-label prediction heads.

    python train.py --flagfile=configs/quickstart.cfg
    python train.py --flagfile=configs/cifar100_wrn16_4.cfg --data_dir=~/tfds

A thin wrapper of `keras_rlr.train.cli` (also installed as `keras-rlr-train`
and run by `python -m keras_rlr.train`): the flags are generated from the run
schema, `keras_rlr/train/config.py`. Run it from the repository root:
flagfiles include each other by paths relative to it.
"""

from keras_rlr.train.cli import run

if __name__ == "__main__":
    run()

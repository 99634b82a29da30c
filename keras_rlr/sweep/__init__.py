"""Sweeps: a grid of training runs over several seeds, resumable and shardable
(experiment tooling).

- `config`: the sweep config format -> `SweepConfig`;
- `grid`: its runs (grid points x seeds), their commands and directories;
- `runner`: trains the unfinished runs, `parallel` at a time;
- `cli`: the command line (`sweep.py`, `keras-rlr-sweep`,
  `python -m keras_rlr.sweep`).

Depends on `keras_rlr.train` (the run schema and the run directory); imports no
TensorFlow: a sweep's runs are `python -m keras_rlr.train` commands, each in a
process forked from a server that imported TensorFlow once (`_preload`).
"""

"""One training run: from a `Config` to a run directory (experiment tooling).

- `config`: the run schema, every setting defined once (no TensorFlow);
- `flags`: `train.py`'s absl flags, generated from the schema (no TensorFlow);
- `builders`: the model, optimizer and data a `Config` describes;
- `experiment`: `train_and_evaluate(config, output_dir)`;
- `run_directory`: the run directory's files and state, its one owner;
- `leak_control`: is a random-label accuracy at chance (no leak)?
- `distribute`: strategies by name, and who writes the run directory;
- `plots`: `curves.png`;
- `cli`: the command line (`train.py`, `keras-rlr-train`,
  `python -m keras_rlr.train`).

Depends on the core (`keras_rlr.model`, `keras_rlr.data`, ...), never the
other way round. Importing this package loads nothing.
"""

"""A sweep directory -> its figure, table and findings (experiment tooling).

- `results`: a sweep directory, read (`load`) into `SweepResults`;
- `findings`: the paper's claims as checks on the results, each an `Outcome`;
- `figures`: the registry, `--figure` name -> layout and findings;
- `markdown`: the report's text; `plots`: its figure; `writer`: both, written;
- `cli`: the command line (`report.py`, `keras-rlr-report`,
  `python -m keras_rlr.report`).

Reads CSV and JSON only: imports no TensorFlow. Depends on `keras_rlr.train`
(the run directory, the leak control) and `keras_rlr.sweep` (the manifest).
"""

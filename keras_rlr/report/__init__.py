"""A sweep directory -> its figure, table and findings (experiment tooling).

- `results`: a sweep directory, read (`load`) into `SweepResults`;
- `statistics`: Welch intervals, equivalence, trend tests and Holm (SciPy);
- `findings`: the checks on the results, decided by those statistics;
- `figures`: the registry, `--figure` name -> layout and the paper's claims
  (figure, section, kind, paraphrase, margin);
- `choices`: which config values are ours (the paper's text lost them);
- `markdown`: the report's text; `plots`: its figure; `writer`: both, written;
- `cli`: the command line (`report.py`, `keras-rlr-report`,
  `python -m keras_rlr.report`).

Reads CSV and JSON only: imports no TensorFlow. Depends on `keras_rlr.train`
(the run directory, the leak control) and `keras_rlr.sweep` (the manifest).
"""

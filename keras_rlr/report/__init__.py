"""A sweep directory -> its figure, table and findings (experiment tooling).

- `results`: a sweep directory, read (`load`) into `SweepResults` (complete
  runs only; the others listed with the file and the reason); its run table
  as CSV (`to_csv`) and back (`from_csv`);
- `statistics`: paired and Welch intervals, equivalence, Page's and
  Jonckheere–Terpstra trends, Holm, a null's power, the effective group size
  (SciPy);
- `findings`: the checks on the results, decided by those statistics
  (`yes`, `no`, `can't tell`, `not tested`);
- `figures`: the registry, `--figure` name -> layout and the paper's claims
  (figure, section, kind, paraphrase, margin); `regimes`: the checks whose
  regime must be reached first (learning rates, label smoothing) and the
  margins;
- `choices`: which config values are ours (the paper's text lost them);
- `markdown`: the report's text; `plots`: its figure; `writer`: both and the
  run table, written all together or not at all (`rebuild`: from the CSV);
- `cli`: the command line (`report.py`, `keras-rlr-report`,
  `python -m keras_rlr.report`).

Reads CSV and JSON only: imports no TensorFlow. Depends on `keras_rlr.train`
(the run directory, the leak control) and `keras_rlr.sweep` (the manifest).
"""

r"""Turn a sweep directory into its figure (PNG) and a Markdown report.

    python report.py --sweep_dir=runs/sweeps/fig2_cpu --output_dir=results/cpu

Wiring only: the tables, plots and findings live in `keras_rlr.report`. Writes
`<figure>.png` and `<figure>.md` (the figure named by the sweep config's
--figure); runs that are missing or failed are listed, what exists is plotted.
"""

from absl import flags

from keras_rlr.train import console

FLAGS = flags.FLAGS

flags.DEFINE_string("sweep_dir", None, "The sweep's directory (its --output_dir).")
flags.DEFINE_string("output_dir", None, "Where to write (default: --sweep_dir).")
flags.DEFINE_string("name", None, "File name stem (default: the sweep's --figure).")
flags.mark_flag_as_required("sweep_dir")
USAGE = """\
Turn a sweep directory into its figure (PNG) and a Markdown report.

  {program} --sweep_dir=runs/sweeps/tiny
  {program} --sweep_dir=runs/sweeps/fig2_cpu --output_dir=results/cpu

Runs that are missing or failed are listed; what exists is plotted.
"""


def main(argv):
    console.reject_arguments(argv)
    from keras_rlr.report import figures, results, writer

    try:
        loaded = results.load(FLAGS.sweep_dir)
        paths = writer.write(loaded, FLAGS.output_dir or FLAGS.sweep_dir, FLAGS.name)
    except results.ReportError as error:
        console.fail(error)
    for outcome in figures.findings(loaded):
        print(f"- {outcome}")
    missing = loaded.unfinished()
    for run in missing:
        if run["problem"]:
            print(f"corrupt: {run['problem']}")
    if missing:
        print(f"{len(missing)} run(s) missing or failed: see {paths[1]}")
    print(f"wrote {', '.join(paths)}")


def run():
    """The console entry point (`keras-rlr-report`)."""
    console.run_app(main, USAGE, ("sweep_dir", "output_dir", "name"))

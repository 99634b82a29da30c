r"""Turn a sweep directory into its figure (PNG) and a Markdown report.

    python report.py --sweep_dir=runs/sweeps/fig2_cpu --output_dir=results/cpu
    python report.py --from_csv=results/cpu/fig2.csv --output_dir=/tmp/fig2

Wiring only: the tables, plots and findings live in `keras_rlr.report`. Writes
`<figure>.png`, `<figure>.md` and `<figure>.csv` (every run), all or none (the
figure named by the sweep config's --figure); `--from_csv` rebuilds the page and
plot from that CSV alone. Runs that are missing, failed or incomplete are
listed, never averaged in.
"""

from absl import flags

from keras_rlr.train import console

FLAGS = flags.FLAGS

flags.DEFINE_string("sweep_dir", None, "The sweep's directory (its --output_dir).")
flags.DEFINE_string("output_dir", None, "Where to write (default: --sweep_dir).")
flags.DEFINE_string("name", None, "File name stem (default: the sweep's --figure).")
flags.DEFINE_string("from_csv", None, "Rebuild the report from its run table alone.")
flags.register_multi_flags_validator(
    ["sweep_dir", "from_csv"],
    lambda v: bool(v["sweep_dir"]) != bool(v["from_csv"]),
    "Give exactly one of --sweep_dir and --from_csv.",
)
USAGE = """\
Turn a sweep directory into its figure (PNG) and a Markdown report.

  {program} --sweep_dir=runs/sweeps/tiny
  {program} --sweep_dir=runs/sweeps/fig2_cpu --output_dir=results/cpu
  {program} --from_csv=results/cpu/fig2.csv --output_dir=/tmp/fig2

Writes <figure>.png, <figure>.md and <figure>.csv (every run), all or none;
--from_csv rebuilds the page and plot from that CSV alone. Runs that are
missing, failed or incomplete are listed, never averaged in.
"""


def main(argv):
    console.reject_arguments(argv)
    from keras_rlr.report import figures, results, writer

    try:
        if FLAGS.from_csv:
            paths = writer.rebuild(FLAGS.from_csv, FLAGS.output_dir, FLAGS.name)
            with open(paths[2], encoding="utf-8") as f:
                loaded = results.from_csv(f.read(), paths[2])
        else:
            loaded = results.load(FLAGS.sweep_dir)
            paths = writer.write(
                loaded, FLAGS.output_dir or FLAGS.sweep_dir, FLAGS.name
            )
    except results.ReportError as error:
        console.fail(error)
    for outcome in figures.findings(loaded):
        print(f"- {outcome}")
    missing = loaded.unfinished()
    for run in missing:
        if run["state"] in ("corrupt", "incomplete"):
            print(f"{run['state']}: {run['problem']}")
    if missing:
        print(f"{len(missing)} run(s) missing or failed: see {paths[1]}")
    print(f"wrote {', '.join(paths)}")


def run():
    """The console entry point (`keras-rlr-report`)."""
    console.run_app(main, USAGE, ("sweep_dir", "from_csv", "output_dir", "name"))

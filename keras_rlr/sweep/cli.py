r"""Run a sweep: every grid point x seed of a sweep config, as training runs.

    python sweep.py --config=configs/sweeps/fig2_cpu.cfg --parallel=2
    python sweep.py --config=configs/sweeps/fig2.cfg --shard=0/4 --set=data_dir:DIR

Wiring only: the format and the logic live in `keras_rlr.sweep`. Started again,
it skips finished runs and resumes interrupted ones. Unless --shard is given, it
ends by writing the report (`keras_rlr.report`) into the sweep directory.
In a Slurm job array (`configs/slurm/sweep_array.sbatch`) each task takes its
shard from SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT.
"""

import os
import sys

from absl import flags

from keras_rlr.train import console

FLAGS = flags.FLAGS
NAMES = ("config", "parallel", "seeds", "list", "output_dir", "set", "shard", "report")
USAGE = """\
Run a sweep: every grid point x seed of a sweep config, as training runs.

  {program} --config=configs/sweeps/tiny.cfg --parallel=2    (6 runs, ~1.5 min)
  {program} --config=configs/sweeps/fig2_cpu.cfg --list      (the runs' states)
  {program} --config=configs/sweeps/fig2.cfg --shard=0/4 --set=data_dir:DIR

Started again, it skips finished runs and resumes interrupted ones. Unless
--shard is given, it ends by writing the report (PNG and Markdown) into the
sweep directory. Paths in a config are relative to the working directory.
"""


def define_flags():
    """Defines sweep.py's flags (at start, not import: the runs' processes
    import the main module again, and train.py's flags must not meet these).
    """
    flags.DEFINE_string(
        "config", None, "A sweep config file, e.g. configs/sweeps/tiny.cfg."
    )
    flags.DEFINE_integer(
        "parallel", 1, "Runs at a time on this machine.", lower_bound=1
    )
    flags.DEFINE_string(
        "shard",
        None,
        "i/n: run only this machine's slice (every n-th run from the i-th, 0 <= i < n) "
        "to spread a sweep over n machines sharing --output_dir. Default in a Slurm "
        "job array: the task's place in the array (SLURM_ARRAY_TASK_ID, "
        "SLURM_ARRAY_TASK_COUNT).",
    )
    flags.DEFINE_string("output_dir", None, "Overrides the config's --output_dir.")
    flags.DEFINE_list("seeds", None, "Overrides the config's --seeds, e.g. 0,1,2,3,4.")
    flags.DEFINE_multi_string(
        "set",
        [],
        "flag:value, a train.py flag added to every run after the config's own "
        "(e.g. data_dir:/path/to/tfds). Repeatable.",
    )
    flags.DEFINE_bool(
        "list", False, "Print every run's state and directory; run nothing."
    )
    flags.DEFINE_bool("report", True, "Write the report when this machine is done.")
    flags.mark_flag_as_required("config")


def main(argv):
    console.reject_arguments(argv)
    from keras_rlr.sweep import config as sweep_config
    from keras_rlr.sweep import grid, runner
    from keras_rlr.train.run_directory import RunDirectoryError

    try:
        config = sweep_config.parse_config(FLAGS.config)
        config = sweep_config.with_overrides(
            config, output_dir=FLAGS.output_dir, seeds=FLAGS.seeds, sets=FLAGS.set
        )
        sweep = grid.expand(config)
        runs = sweep.runs
        shard = FLAGS.shard or grid.shard_from_slurm(os.environ)
        if shard:
            runs = grid.shard(runs, *grid.parse_shard(shard))
        if FLAGS.list:
            print(runner.describe(sweep, runs))
            return
        # One sweep process per directory; --shard processes share it.
        lock = runner.lock_sweep(sweep, shared=bool(shard))  # noqa: F841
        sweep.write_manifest()
    except (sweep_config.SweepError, RunDirectoryError) as error:
        console.fail(error)
    except OSError as error:
        console.fail(
            f"cannot write {error.filename} ({error.strerror}). "
            "Free space on that disk (or fix its permissions) and run it again."
        )
    try:
        failed = runner.run_sweep(sweep, runs, parallel=FLAGS.parallel)
    except console.Interrupted as interrupted:  # forwarded to the runs
        sys.exit(interrupted.exit_code)
    if FLAGS.report and not shard:
        from keras_rlr.report import writer
        from keras_rlr.report.results import ReportError

        try:
            paths = writer.write_report(config.output_dir)
            print(f"report: {', '.join(paths)}")
        except ReportError as error:
            console.fail(error)
    if failed:
        lines = "\n".join(
            f"  {sweep.run_dir(run)} ({runner.describe_failure(code)}; "
            f"log {sweep.run_dir(run)}.log)"
            for run, code in failed
        )
        sys.exit(f"{console.program()}: {len(failed)} run(s) failed:\n{lines}")


def run():
    """The console entry point (`keras-rlr-sweep`)."""
    define_flags()
    console.run_app(main, USAGE, NAMES)

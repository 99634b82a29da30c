r"""What does a sweep cost, its runs forked from a fork server or each started
as a fresh interpreter? And against the code of another commit?

    python benchmarks/sweep_cost.py            # or: make bench (~10 min)
    python benchmarks/sweep_cost.py --config=configs/sweeps/fig3b_cpu.cfg
    python benchmarks/sweep_cost.py --baseline=9bde5f2 --rounds=3

A slice of a CPU-scale figure sweep (default: Fig. 2's, seed 0: 7 runs of the
40-epoch quickstart, 2 at a time), trained from scratch into a temporary
directory by two variants, alternating round after round:

- `sweep_py`: `python sweep.py --config=... --parallel=N`, as users run it:
  every run forked from a server that imported TensorFlow once
  (`keras_rlr.sweep.runner`);
- `fresh`: the same runs, the same N at a time with the same thread settings,
  each started as its own `python -m keras_rlr.train` command (what the
  runner did before the fork server).

With `--baseline=REV`, the second variant is `baseline` instead of `fresh`:
`sweep.py` of git revision REV (e.g. 9bde5f2, the code before issue #13),
checked out in a temporary worktree and run from there with the same flags,
this interpreter and its packages (the revision's own `keras_rlr` is the one
imported: the worktree is the working directory).

Printed: each variant's wall time and the CPU time the whole machine spent
meanwhile (user + system, from /proc/stat on Linux: what the runs cost,
whatever else slows the machine's cores), per round, and the median per-round
ratios `sweep_py / fresh` (or `/ baseline`). Both variants train the same
runs; that `sweep_py` and `fresh` train them to the same numbers is
`tests/test_sweep.py`'s check (a run's logged command, run alone, gives its
history to the bit).
"""

import contextlib
import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app, flags

from keras_rlr.sweep import config as sweep_config
from keras_rlr.sweep import grid, runner

flags.DEFINE_string("config", "configs/sweeps/fig2_cpu.cfg", "A sweep config.")
flags.DEFINE_list("seeds", ["0"], "The seeds of the slice.")
flags.DEFINE_multi_string("set", [], "flag:value added to every run.")
flags.DEFINE_integer("parallel", 2, "Runs at a time.")
flags.DEFINE_integer("rounds", 2, "Rounds; each runs both variants once.")
flags.DEFINE_string(
    "baseline",
    None,
    "A git revision: compare with its sweep.py (from a temporary worktree) "
    "instead of fresh interpreters.",
)
FLAGS = flags.FLAGS


def sweep_py(output_dir, cwd=None):
    """`sweep.py` on the slice, as a user runs it (from `cwd`, default here)."""
    command = [
        sys.executable,
        "sweep.py",
        f"--config={FLAGS.config}",
        f"--seeds={','.join(FLAGS.seeds)}",
        f"--output_dir={output_dir}",
        f"--parallel={FLAGS.parallel}",
        "--noreport",
        *[f"--set={value}" for value in FLAGS.set],
    ]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=cwd)


@contextlib.contextmanager
def worktree(revision):
    """A temporary detached git worktree of `revision`; removed afterwards."""
    path = tempfile.mkdtemp(prefix="sweep_cost_baseline_")
    git = ["git", "-C", os.path.dirname(os.path.abspath(__file__))]
    subprocess.run(
        [*git, "worktree", "add", "--detach", "--quiet", path, revision], check=True
    )
    try:
        yield path
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", path], check=True)


def fresh(output_dir):
    """Every run's command in its own interpreter, `parallel` at a time."""
    sweep = slice_of(output_dir)
    env = runner.run_environment(FLAGS.parallel)
    pending, running = list(sweep.runs), []
    while pending or running:
        while pending and len(running) < FLAGS.parallel:
            run = pending.pop(0)
            os.makedirs(os.path.dirname(sweep.run_dir(run)), exist_ok=True)
            with open(sweep.run_dir(run) + ".log", "w") as log:
                running.append(
                    subprocess.Popen(
                        sweep.command(run), stdout=log, stderr=log, env=env
                    )
                )
        time.sleep(0.1)
        for process in [p for p in running if p.poll() is not None]:
            if process.returncode:
                raise RuntimeError(f"{process.args} exited {process.returncode}")
            running.remove(process)


def machine_cpu_seconds():
    """User + system CPU seconds of the whole machine since boot (Linux;
    NaN elsewhere): /proc/stat's user, nice, system, irq and softirq."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return float("nan")
    user, nice, system, _, _, irq, softirq = (int(v) for v in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def slice_of(output_dir):
    config = sweep_config.parse_config(FLAGS.config)
    config = sweep_config.with_overrides(
        config, output_dir=output_dir, seeds=FLAGS.seeds, sets=FLAGS.set
    )
    return grid.expand(config)


def main(argv):
    del argv
    with contextlib.ExitStack() as stack:
        variants = {"sweep_py": sweep_py}
        if FLAGS.baseline:
            path = stack.enter_context(worktree(FLAGS.baseline))
            # The revision's own sweep.py and configs (same relative paths).
            variants["baseline"] = functools.partial(sweep_py, cwd=path)
        else:
            variants["fresh"] = fresh
        compare(variants)


def compare(variants):
    """Runs `variants` (two) in alternating rounds; prints times and ratios."""
    runs = len(slice_of(tempfile.gettempdir()).runs)
    seconds = {name: [] for name in variants}
    cpu = {name: [] for name in variants}
    for round_index in range(FLAGS.rounds):
        names = list(variants)[round_index % 2 :] + list(variants)[: round_index % 2]
        for name in names:
            output_dir = tempfile.mkdtemp(prefix=f"sweep_cost_{name}_")
            start, cpu_start = time.perf_counter(), machine_cpu_seconds()
            variants[name](output_dir)
            seconds[name].append(time.perf_counter() - start)
            cpu[name].append(machine_cpu_seconds() - cpu_start)
            done = slice_of(output_dir)
            states = [runner.state(done.run_dir(run)) for run in done.runs]
            if states.count("finished") != runs:
                raise RuntimeError(f"{name}: not every run finished: {states}")
            shutil.rmtree(output_dir)
            print(
                f"round {round_index + 1} {name}: wall {seconds[name][-1]:.1f} s, "
                f"machine CPU {cpu[name][-1]:.1f} s",
                flush=True,
            )
    print(
        f"{FLAGS.config}, seeds {','.join(FLAGS.seeds)}: {runs} runs, "
        f"{FLAGS.parallel} at a time, {FLAGS.rounds} rounds"
    )
    for name in variants:
        print(
            f"{name:<10} median wall {statistics.median(seconds[name]):7.1f} s, "
            f"machine CPU {statistics.median(cpu[name]):7.1f} s"
        )
    first, second = variants
    for what, times in (("wall", seconds), ("machine CPU", cpu)):
        ratios = [a / b for a, b in zip(times[first], times[second], strict=True)]
        print(
            f"{first} / {second}, {what}: median ratio "
            f"{statistics.median(ratios):.3f} "
            f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
        )


if __name__ == "__main__":
    app.run(main)

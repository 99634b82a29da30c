"""Running a sweep: every unfinished run, `parallel` at a time.

Finished runs are skipped; interrupted and failed ones are started again with
the same command (train.py resumes them from their backup). A run's state is
its `keras_rlr.train.run_directory.RunDirectory`'s.

One sweep process per sweep directory (`lock_sweep`: `--shard` processes share
the lock, so they cooperate, and each run is still locked by its own
`train.py`); a run whose directory is locked (running elsewhere) is never
started again. The children die with the runner, even when it is SIGKILLed
(`PR_SET_PDEATHSIG` on Linux).
"""

import ctypes
import os
import signal
import subprocess
import sys
import time

from keras_rlr.sweep.grid import LOCK
from keras_rlr.train.run_directory import (
    DIVERGED_STATE,
    RunDirectory,
    RunDirectoryError,
    hold_lock,
)

# States that another attempt would not change: never started again.
_DONE = ("finished", DIVERGED_STATE, "corrupt")


def lock_sweep(sweep, shared=False):
    """Takes the sweep directory's lock (`shared` for `--shard` processes).

    Returns the open lock file: keep it for the life of the process. Raises
    `RunDirectoryError` naming the holder when another sweep process has it.
    """
    os.makedirs(sweep.config.output_dir, exist_ok=True)
    return hold_lock(
        os.path.join(sweep.config.output_dir, LOCK),
        shared=shared,
        what=f"the sweep directory {sweep.config.output_dir}",
    )


def state(run_dir):
    """The state of the run in `run_dir` (`RunDirectory.state`)."""
    return RunDirectory(run_dir).state()


def run_sweep(
    sweep,
    runs=None,
    parallel=1,
    python=sys.executable,
    train_script=None,
    poll_seconds=0.5,
    out=sys.stdout,
):
    """Trains every unfinished run of `runs` (default: all), `parallel` at a time.

    Finished runs are skipped; interrupted and failed ones are started again
    with the same command (train.py resumes them from their backup). Each run's
    output goes to `<run_dir>.log`; a run that exits non-zero leaves
    `<run_dir>.failed` holding its exit status.

    Returns:
        The runs that failed, as `(run, exit status)` pairs.
    """
    runs = sweep.runs if runs is None else runs
    states = [state(sweep.run_dir(run)) for run in runs]
    todo = [
        run
        for run, s in zip(runs, states, strict=True)
        if s not in _DONE + ("running",)
    ]
    total, skipped = len(runs), len(runs) - len(todo)
    say = _printer(out)
    finished = states.count("finished")
    say(
        f"sweep {sweep.config.name}: {total} runs, {finished} finished, "
        f"{len(todo)} to run, {parallel} at a time"
    )
    for run, run_state in zip(runs, states, strict=True):
        if run_state in ("running", DIVERGED_STATE, "corrupt"):
            say(f"skip {_label(run)}: {run_state} ({sweep.run_dir(run)})")
    env = dict(os.environ)
    # Each run gets its share of the cores instead of all of them competing.
    threads = str(max(1, (os.cpu_count() or 1) // parallel))
    for name in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS"):
        env.setdefault(name, threads)
    running, failed, done = {}, [], skipped
    queue = list(enumerate(todo))
    try:
        while queue or running:
            while queue and len(running) < parallel:
                key, run = queue.pop(0)
                running[key] = (run, *_start(sweep, run, python, train_script, env))
                say(
                    f"[{done}/{total} done, {len(running)} running] start {_label(run)}"
                )
            time.sleep(poll_seconds)
            for key, (run, process, log, start) in list(running.items()):
                code = process.poll()
                if code is None:
                    continue
                log.close()
                del running[key]
                done += 1
                seconds = time.time() - start
                run_dir = RunDirectory(sweep.run_dir(run))
                if code == 0 and run_dir.is_finished():
                    status = f"finished in {seconds:.0f} s"
                else:
                    code = code or 1
                    failed.append((run, code))
                    run_dir.write_failed_marker(code)
                    status = f"FAILED (exit {code}, see {run_dir.log_file})"
                say(
                    f"[{done}/{total} done, {len(running)} running, "
                    f"{len(failed)} failed] {_label(run)} {status}"
                )
    except KeyboardInterrupt as interrupt:
        # Forward SIGINT or SIGTERM (`console.Interrupted`): each run stops
        # at its own last complete backup.
        signum = getattr(interrupt, "signum", signal.SIGINT)
        for _, process, log, _ in running.values():
            process.send_signal(signum)
            process.wait()
            log.close()
        say("interrupted: run the same command again to resume")
        raise
    return failed


def _start(sweep, run, python, train_script, env):
    run_dir = RunDirectory(sweep.run_dir(run))
    os.makedirs(os.path.dirname(run_dir.path), exist_ok=True)
    if os.path.exists(run_dir.failed_marker):
        os.remove(run_dir.failed_marker)
    log = open(run_dir.log_file, "a")
    command = sweep.command(run, python, train_script)
    log.write(f"$ {' '.join(command)}\n")
    log.flush()
    process = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        preexec_fn=_die_with_parent(os.getpid()),
    )
    return process, log, time.time()


def _die_with_parent(parent):
    """A `preexec_fn`: the child gets SIGKILL when the runner dies, however.

    Without it a SIGKILLed runner leaves its `train.py` children running, and
    a rerun would start the same runs on top of them.
    """

    # Loaded here, in the parent: the child, between fork and exec, only calls.
    prctl = ctypes.CDLL(None).prctl if sys.platform.startswith("linux") else None

    def set_death_signal():
        if prctl is not None:
            prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the runner died before prctl took effect
            os._exit(1)

    return set_death_signal


def _label(run):
    return f"{run.point}/seed_{run.seed}"


def _printer(out):
    def say(message):
        print(f"{time.strftime('%H:%M:%S')} {message}", file=out, flush=True)

    return say


def describe(sweep, runs=None):
    """One line per run: its state and directory (for `sweep.py --list`);
    a corrupt run's line names the file and the problem."""
    runs = sweep.runs if runs is None else runs
    lines = []
    for run in runs:
        run_dir = RunDirectory(sweep.run_dir(run))
        line = f"{run_dir.state():<11} {run_dir.path}"
        if run_dir.state() == "corrupt":
            try:
                run_dir.read_summary()
            except RunDirectoryError as error:
                line += f"  ({error})"
        lines.append(line)
    return "\n".join(lines)

"""Running a sweep: every unfinished run, `parallel` at a time.

Finished runs are skipped; interrupted and failed ones are started again with
the same command (train.py resumes them from their backup). A run's state is
its `keras_rlr.train.run_directory.RunDirectory`'s.

Each run is its own process, as if its command line (the first line of its
log) were typed: a fresh interpreter state, its own seeds and signal
handlers, its exit status. The processes are forked from a
`multiprocessing` fork server that imported TensorFlow, Keras and
`keras_rlr.train` once, before any TensorFlow runtime existed: a run skips
the ~4.5 s of CPU those imports take, a sixth of a 40-epoch quickstart run's
(`benchmarks/sweep_cost.py`).

One sweep process per sweep directory (`lock_sweep`: `--shard` processes share
the lock, so they cooperate, and each run is still locked by its own
`train.py`); a run whose directory is locked (running elsewhere) is never
started again. The runs die with the runner, even when it is SIGKILLed
(each watches the runner's `multiprocessing` sentinel).
"""

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import runpy
import shlex
import signal
import sys
import threading
import time

from keras_rlr.sweep.grid import LOCK, TRAIN_MODULE
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
    train_script=None,
    poll_seconds=0.5,
    out=sys.stdout,
):
    """Trains every unfinished run of `runs` (default: all), `parallel` at a time.

    Finished runs are skipped; interrupted and failed ones are started again
    with the same command (train.py resumes them from their backup). Each run's
    output goes to `<run_dir>.log`; a run that exits non-zero leaves
    `<run_dir>.failed` holding its exit status. `train_script` runs a script
    in place of `python -m keras_rlr.train` (tests stand in for train.py).

    A run that ends unfinished is re-read before it is called failed: one
    that another process (an overlapping `--shard`) is running or has
    finished is that process's, not a failure here, and gets no marker.

    Returns:
        The runs that failed, as `(run, exit status)` pairs; runs skipped as
        `failed (diverged)` or `corrupt` are among them, with that state in
        place of an exit status (a rerun does not change them, and the sweep
        is not complete while they are there).
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
    env = run_environment(parallel)
    running, done = {}, skipped
    failed = [
        (run, run_state)
        for run, run_state in zip(runs, states, strict=True)
        if run_state in (DIVERGED_STATE, "corrupt")
    ]
    queue = list(enumerate(todo))
    try:
        while queue or running:
            while queue and len(running) < parallel:
                key, run = queue.pop(0)
                running[key] = (run, _start(sweep, run, train_script, env), time.time())
                say(
                    f"[{done}/{total} done, {len(running)} running] start {_label(run)}"
                )
            # Until a run exits (its sentinel), not a fixed poll: the next
            # run starts at once.
            multiprocessing.connection.wait(
                [process.sentinel for _, process, _ in running.values()],
                timeout=poll_seconds,
            )
            for key, (run, process, start) in list(running.items()):
                code = process.exitcode
                if code is None:
                    continue
                process.close()
                del running[key]
                done += 1
                seconds = time.time() - start
                run_dir = RunDirectory(sweep.run_dir(run))
                # Read again, now: another process may have run it meanwhile.
                now = run_dir.state()
                if now == "finished":
                    _remove(run_dir.failed_marker)  # of an earlier attempt
                    status = f"finished in {seconds:.0f} s"
                    if code:
                        status = f"finished by another process (exit {code} here)"
                elif now == "running":
                    status = f"running in another process (exit {code} here)"
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
        for _, process, _ in running.values():
            with contextlib.suppress(ProcessLookupError):  # ended already
                os.kill(process.pid, signum)
            process.join()
        say("interrupted: run the same command again to resume")
        raise
    return failed


def _remove(path):
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def describe_failure(code):
    """A failure of `run_sweep`'s result as words: `exit 3`, `corrupt`, ..."""
    return f"exit {code}" if isinstance(code, int) else code


def run_environment(parallel):
    """The environment of each run when `parallel` run at a time: this
    process's, where each run gets its share of the cores (unless set)
    instead of all of them competing."""
    env = dict(os.environ)
    threads = str(max(1, (os.cpu_count() or 1) // parallel))
    for name in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS"):
        env.setdefault(name, threads)
    return env


def _start(sweep, run, train_script, env):
    """Starts `run`'s process (forked from the fork server); returns it."""
    run_dir = RunDirectory(sweep.run_dir(run))
    os.makedirs(os.path.dirname(run_dir.path), exist_ok=True)
    _remove(run_dir.failed_marker)
    command = sweep.command(run, sys.executable, train_script)
    with open(run_dir.log_file, "a") as log:
        log.write(f"$ {shlex.join(command)}\n")
    process = _fork_server(preload=train_script is None).Process(
        target=_run_in_child,
        args=(sweep.flags(run), train_script, run_dir.log_file, env, os.getcwd()),
        name=_label(run),
    )
    process.start()
    return process


def _fork_server(preload):
    """The `forkserver` context; the server (started by the first run)
    imports what every run imports (`keras_rlr.sweep._preload`) when
    `preload`."""
    context = multiprocessing.get_context("forkserver")
    if preload:
        # Taken when the server starts; a no-op for a running one.
        context.set_forkserver_preload(["keras_rlr.sweep._preload"])
    return context


def _run_in_child(flags, train_script, log_file, env, cwd):
    """A run's process: its command line, with the runner's environment and
    working directory, its output appended to `log_file`."""
    _die_with_the_runner()
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, sys.stdout.fileno())
    os.dup2(fd, sys.stderr.fileno())
    os.close(fd)
    sys.argv = [train_script or TRAIN_MODULE, *flags]
    if train_script:
        runpy.run_path(train_script, run_name="__main__")
    else:  # sys.argv[0] becomes keras_rlr/train/__main__.py, as with -m
        runpy.run_module(TRAIN_MODULE, run_name="__main__", alter_sys=True)


def _die_with_the_runner():
    """The calling run gets SIGKILL as soon as the runner is gone, however.

    Without it a SIGKILLed runner leaves its runs training, and a rerun
    would start the same runs on top of them. The run's parent is the fork
    server, not the runner; `parent_process()` is the runner, and its
    sentinel becomes ready when the runner exits (also if it already has).
    """

    def watch(sentinel):
        multiprocessing.connection.wait([sentinel])
        os.kill(os.getpid(), signal.SIGKILL)

    sentinel = multiprocessing.parent_process().sentinel
    threading.Thread(target=watch, args=(sentinel,), daemon=True).start()


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
                run_dir.verify_finished()
            except RunDirectoryError as error:
                line += f"  ({error})"
        lines.append(line)
    return "\n".join(lines)

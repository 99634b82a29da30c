"""Running a sweep: every unfinished run, `parallel` at a time.

Finished runs are skipped; interrupted and failed ones are started again with
the same command (train.py resumes them from their backup). A run's state is
its `keras_rlr.train.run_directory.RunDirectory`'s.
"""

import os
import signal
import subprocess
import sys
import time

from keras_rlr.train.run_directory import RunDirectory


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
    todo = [run for run in runs if state(sweep.run_dir(run)) != "finished"]
    total, skipped = len(runs), len(runs) - len(todo)
    say = _printer(out)
    say(
        f"sweep {sweep.config.name}: {total} runs, {skipped} finished, "
        f"{len(todo)} to run, {parallel} at a time"
    )
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
                    with open(run_dir.failed_marker, "w") as f:
                        f.write(f"{code}\n")
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
        command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
    )
    return process, log, time.time()


def _label(run):
    return f"{run.point}/seed_{run.seed}"


def _printer(out):
    def say(message):
        print(f"{time.strftime('%H:%M:%S')} {message}", file=out, flush=True)

    return say


def describe(sweep, runs=None):
    """One line per run: its state and directory (for `sweep.py --list`)."""
    runs = sweep.runs if runs is None else runs
    return "\n".join(
        f"{state(sweep.run_dir(run)):<11} {sweep.run_dir(run)}" for run in runs
    )

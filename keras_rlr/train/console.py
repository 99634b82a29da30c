"""What the three command lines share: help, argv, quiet TensorFlow, signals.

`run_app(main, program)` wraps absl's `app.run` for `train.py`, `sweep.py` and
`report.py`:

- `-h` means `--help`, and asking for help (`-h`, `--help`, `--helpshort`,
  `--helpfull`, `--helpxml`) exits 0 (absl exits 1 by design);
- TensorFlow's C++ log lines (oneDNN, CUDA probing) are silenced unless the
  user sets `TF_CPP_MIN_LOG_LEVEL` (0 shows them all): level 3 by default, and
  the lines its shared libraries print while loading, before they read that
  variable, are hidden by `import_tensorflow` (stderr redirected; shown if
  the import fails);
- SIGINT and SIGTERM (what Slurm and Kubernetes send before preemption) raise
  `Interrupted` in the main thread, once; `main` reports it in one line and
  `run_app` exits `128 + signal` (130, 143), without a traceback. While
  `defer_signals()` is on (training) a signal is only recorded, and
  `raise_pending()` raises it at a safe point: never while a backup is being
  written.

A refused flag and a stray positional argument (`reject_arguments`) are one
line each. Imports no TensorFlow.
"""

import os
import signal
import sys
import tempfile

from absl import app, flags

HELP_FLAGS = ("--help", "--helpshort", "--helpfull", "--helpxml", "-?")
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; `exit_code` is the shell's `128 + signal`."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


def run_app(main, program):
    """Runs `main` with absl's `app.run` as `program` (e.g. "train.py")."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    argv = ["--help" if arg == "-h" else arg for arg in sys.argv]
    asked_for_help = any(
        arg.split("=")[0] in HELP_FLAGS for arg in argv[1:] if arg != "--"
    )
    for signum in SIGNALS:
        signal.signal(signum, _raise_interrupted)
    try:
        app.run(main, argv=argv, flags_parser=_flags_parser(program))
    except SystemExit as exit:
        if asked_for_help and exit.code == 1:
            sys.exit(0)
        raise
    except Interrupted as interrupted:  # before `main` could report it
        print(f"{program}: interrupted", file=sys.stderr)
        sys.exit(interrupted.exit_code)


def import_tensorflow():
    """Imports TensorFlow, hiding the lines its shared libraries print while
    they load (unless `TF_CPP_MIN_LOG_LEVEL` is 0 or unset)."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") == "0":
        import tensorflow  # noqa: F401

        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except Exception:  # not an interruption: show why it failed
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def reject_arguments(argv, program):
    """Exits with one line if `argv` (absl's leftover) holds positional args."""
    if len(argv) > 1:
        sys.exit(
            f"{program}: error: unexpected argument(s) {' '.join(argv[1:])}: "
            f"every setting is a --flag (see {program} --help)."
        )


def _flags_parser(program):
    """absl's parser, but a refused flag is one line (absl adds a second)."""

    def parse(argv):
        try:
            return flags.FLAGS(argv)
        except flags.Error as error:
            sys.exit(f"{program}: error: {error} (see {program} --help)")

    return parse


_state = {"defer": False, "pending": None}


def defer_signals(defer=True):
    """While on, SIGINT and SIGTERM are recorded; `raise_pending` raises them."""
    _state["defer"] = defer


def raise_pending():
    """Raises `Interrupted` if a signal arrived inside `deferred_signals`."""
    if _state["pending"] is not None:
        signum, _state["pending"] = _state["pending"], None
        raise Interrupted(signum)


def _raise_interrupted(signum, frame):
    # Once: a second Ctrl-C (or the sweep forwarding the first) must not
    # interrupt the clean-up that the first one started.
    for other in SIGNALS:
        signal.signal(other, signal.SIG_IGN)
    if _state["defer"]:
        _state["pending"] = signum
        return
    raise Interrupted(signum)

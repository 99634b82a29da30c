"""What the three command lines share: help, argv, quiet TensorFlow, signals.

`run_app(main, usage, flag_names)` wraps absl's `app.run` for `train.py`,
`sweep.py` and `report.py` (and their console scripts):

- `-h` means `--help`, which lists the command's own flags (absl's `--helpfull`
  adds absl's); asking for help (`-h`, `--help`, `--helpshort`, `--helpfull`,
  `--helpxml`) exits 0 (absl exits 1 by design);
- every message names the command as it was typed (`program()`: `train.py`,
  `keras-rlr-sweep`, `python -m keras_rlr.report`);
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

import difflib
import os
import re
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


def program():
    """The command as typed: `train.py`, `keras-rlr-train`, or
    `python -m keras_rlr.train` (whose `sys.argv[0]` is its `__main__.py`)."""
    path = sys.argv[0] if sys.argv and sys.argv[0] else "python"
    name = os.path.basename(path)
    if name == "__main__.py":
        package = os.path.basename(os.path.dirname(path))
        return f"python -m keras_rlr.{package}"
    return name


def run_app(main, usage, flag_names):
    """Runs `main` with absl's `app.run`.

    Args:
        main: absl's `main(argv)`.
        usage: what `-h` prints above the flags; `{program}` is replaced by
            `program()`.
        flag_names: the command's own flags, listed by `-h`.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    name = program()
    # absl's `--help` prints `__main__`'s docstring, then the flags that are
    # key flags of the module `sys.argv[0]`: make both this command's.
    sys.modules["__main__"].__doc__ = usage.replace("{program}", name)
    for flag in flag_names:
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[flag])
    argv = ["--help" if arg == "-h" else arg for arg in sys.argv]
    asked_for_help = any(
        arg.split("=")[0] in HELP_FLAGS for arg in argv[1:] if arg != "--"
    )
    for signum in SIGNALS:
        signal.signal(signum, _raise_interrupted)
    try:
        app.run(main, argv=argv, flags_parser=_flags_parser(name))
    except SystemExit as exit:
        if asked_for_help and exit.code == 1:
            sys.exit(0)
        raise
    except Interrupted as interrupted:  # before `main` could report it
        print(f"{name}: interrupted", file=sys.stderr)
        sys.exit(interrupted.exit_code)
    except BrokenPipeError:  # `-h | head`: the reader left; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0 if asked_for_help else 1)


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


def fail(message):
    """Exits with status 1 and one line: `<program>: error: <message>`."""
    sys.exit(f"{program()}: error: {message}")


def reject_arguments(argv):
    """Exits with one line if `argv` (absl's leftover) holds positional args."""
    if len(argv) > 1:
        fail(
            f"unexpected argument(s) {' '.join(argv[1:])}: every setting is a "
            f"--flag, e.g. --output_dir=DIR (see {program()} -h)."
        )


def did_you_mean(value, names):
    """` Did you mean 'x'?` for the name of `names` closest to `value`, or ''."""
    close = difflib.get_close_matches(str(value), list(names), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def _flags_parser(name):
    """absl's parser, but a refused flag is one line (absl adds a second), and
    a value an enum flag refuses gets a "did you mean"."""

    def parse(argv):
        try:
            return flags.FLAGS(argv)
        except flags.Error as error:
            message = str(error)
            flag = getattr(error, "flag_name", None) or _flag_of(message)
            choices = (
                getattr(flags.FLAGS[flag], "parser", None)
                if flag in flags.FLAGS
                else None
            )
            choices = getattr(choices, "enum_values", None)
            if choices:
                value = _value_of(message, flag)
                message += did_you_mean(value, choices) if value else ""
            if flag in flags.FLAGS and message.endswith("other than None."):
                help_text = re.split(r"\.\s+(?=[A-Z])", flags.FLAGS[flag].help)[0]
                help_text = help_text.rstrip(".")
                message = (
                    f"--{flag} is required ({help_text}): give it on the command "
                    f"line or in a --flagfile. Received: {flag}=None"
                )
            if isinstance(error, flags.CantOpenFlagFileError):
                sys.exit(f"{name}: error: {flagfile_error(error, argv[1:])}")
            sys.exit(f"{name}: error: {message} (see {name} -h)")

    return parse


def flagfile_error(error, args):
    """One line for absl's `CantOpenFlagFileError` while parsing `args`: the
    file, why, and which flagfile named it (nested paths are read relative to
    the working directory)."""
    cause = error.__context__
    missing = getattr(cause, "filename", None)
    if missing is None:
        return str(error)
    why = getattr(cause, "strerror", None) or str(cause)
    includer = _includer(missing, args)
    if includer is None:
        return f"cannot open --flagfile={missing} ({why})."
    return (
        f"cannot open --flagfile={missing} ({why}), named in {includer}: a "
        "flagfile inside another is read relative to the working directory "
        f"({os.getcwd()}), not to the file. Run from the directory its paths start "
        "from (the repository root for configs/*.cfg)."
    )


def _includer(missing, args):
    """The flagfile reached from `args` that has the line `--flagfile=missing`."""
    todo = [a.split("=", 1)[1] for a in args if a.startswith("--flagfile=")]
    seen = set()
    while todo:
        path = todo.pop(0)
        if path in seen:
            continue
        seen.add(path)
        try:
            with open(path) as f:
                lines = [line.strip() for line in f]
        except OSError:
            continue
        for line in lines:
            if line.startswith("--flagfile="):
                nested = line.split("=", 1)[1]
                if nested == missing:
                    return path
                todo.append(nested)
    return None


def _flag_of(message):
    """The flag an absl message `flag --name=value: ...` is about, or None."""
    if message.startswith("flag --"):
        return message[len("flag --") :].split("=", 1)[0].split(":", 1)[0]
    return None


def _value_of(message, flag):
    prefix = f"flag --{flag}="
    if message.startswith(prefix):
        return message[len(prefix) :].split(":", 1)[0]
    return None


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

"""A sweep directory (or its published CSV) -> its figure (PNG), Markdown
report and run table (CSV), written all together or not at all.

The report is always built from the run table: `write` turns the loaded sweep
into CSV text and builds the page and figure from that text, `rebuild` from
the CSV file alone, so that both give the same bytes. Every file is written
to a temporary name first (flushed, fsynced); only when all are on disk are
they renamed onto their names. A failure before (a full disk) leaves the old
report, or none: never a figure without its page.
"""

import os

from keras_rlr import _atomic
from keras_rlr.report import markdown, plots
from keras_rlr.report.results import ReportError, from_csv, load, to_csv
from keras_rlr.sweep.config import SweepError, check_name


def write_report(sweep_dir, output_dir=None, name=None):
    """Writes `<name>.png`, `<name>.md` and `<name>.csv` for the sweep in
    `sweep_dir`.

    Args:
        sweep_dir: the directory `sweep.py` wrote (holds `sweep.json`).
        output_dir: where to write (default: `sweep_dir`).
        name: file name stem (default: the sweep's `--figure`).

    Returns:
        The paths written: PNG, Markdown, CSV.
    """
    return write(load(sweep_dir), output_dir or sweep_dir, name)


def write(results, output_dir, name=None):
    """Writes the report of loaded `results`; see `write_report`."""
    text = to_csv(results)
    return _write_all(from_csv(text), text, output_dir, name or results.figure)


def rebuild(csv_path, output_dir=None, name=None):
    """The report rebuilt from a run table that `write` wrote (`<name>.csv`)
    alone: the same `.md` and `.png`, byte for byte. Returns the paths."""
    try:
        with open(csv_path, encoding="utf-8", newline="") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as error:
        raise ReportError(
            f"Cannot read --from_csv={csv_path} ({error}). Give the `.csv` a report "
            "wrote beside its `.md`."
        ) from None
    stem = os.path.splitext(os.path.basename(csv_path))[0]
    output_dir = output_dir or os.path.dirname(os.path.abspath(csv_path))
    return _write_all(from_csv(text, csv_path), text, output_dir, name or stem)


def _write_all(results, csv_text, output_dir, name):
    try:
        check_name(name, "The report's --name")
    except SweepError as error:
        raise ReportError(str(error)) from None
    paths = [os.path.join(output_dir, f"{name}.{ext}") for ext in ("png", "md", "csv")]
    temps = [
        os.path.join(output_dir, f".{os.path.basename(p)}.{os.getpid()}.tmp")
        for p in paths
    ]
    try:
        os.makedirs(output_dir, exist_ok=True)
        plots.plot(results, temps[0])
        page = markdown.markdown(
            results, os.path.basename(paths[0]), os.path.basename(paths[2])
        )
        for temp, text in ((temps[1], page), (temps[2], csv_text)):
            with open(temp, "w", encoding="utf-8", newline="") as f:
                f.write(text)
        for temp in temps:
            with open(temp, "rb+") as f:
                os.fsync(f.fileno())
        for temp, path in zip(temps, paths, strict=True):
            os.replace(temp, path)
        _atomic.fsync_dir(output_dir)
    except OSError as error:
        raise ReportError(
            f"Could not write the report {name} in {output_dir} ({error}); nothing "
            "was replaced. Free space (or fix the permissions) and run report.py "
            "again."
        ) from None
    finally:
        for temp in temps:
            if os.path.exists(temp):
                os.remove(temp)
    return paths

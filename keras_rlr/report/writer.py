"""A sweep directory -> its figure (PNG) and Markdown report, written."""

import os

from keras_rlr import _atomic
from keras_rlr.report import markdown, plots
from keras_rlr.report.results import ReportError, load
from keras_rlr.sweep.config import SweepError, check_name


def write_report(sweep_dir, output_dir=None, name=None):
    """Writes `<name>.png` and `<name>.md` for the sweep in `sweep_dir`.

    Args:
        sweep_dir: the directory `sweep.py` wrote (holds `sweep.json`).
        output_dir: where to write (default: `sweep_dir`).
        name: file name stem (default: the sweep's `--figure`).

    Returns:
        The paths written, PNG first.
    """
    return write(load(sweep_dir), output_dir or sweep_dir, name)


def write(results, output_dir, name=None):
    """Writes the report of loaded `results`; see `write_report`."""
    name = name or results.figure
    try:
        check_name(name, "The report's --name")
    except SweepError as error:
        raise ReportError(str(error)) from None
    os.makedirs(output_dir, exist_ok=True)
    png = os.path.join(output_dir, f"{name}.png")
    md = os.path.join(output_dir, f"{name}.md")
    plots.plot(results, png)
    _atomic.write_text(md, markdown.markdown(results, os.path.basename(png)))
    return [png, md]

"""Which of a flagfile's values are ours, not the paper's.

The paper's text lost many numbers (METHOD.md): a config marks each value it
had to choose with a comment that starts `# choice (paper text lost the
value)`, on the line (or in the comment block) right above the flag.
`marked(path)` reads those marks from a flagfile and the flagfiles it
includes (`--flagfile=`), or from a sweep config (its `--grid=` and `--set=`
lines), so that the report can tell what the paper states from what we chose.
"""

import os

MARK = "choice (paper text lost the value)"


def marked(path):
    """The flags whose value at `path` (and its includes) is marked as our
    choice, in file order. A missing file marks nothing."""
    flags = []
    if not path or not os.path.isfile(path):
        return flags
    pending = False
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("#"):
                pending = pending or line.lstrip("# ").startswith(MARK)
                continue
            if not line.startswith("--"):
                pending = False
                continue
            name, _, value = line[2:].partition("=")
            if name == "flagfile":
                flags += [f for f in marked(value) if f not in flags]
            elif pending:
                if name in ("grid", "set"):
                    name = value.partition(":")[0]
                if name not in flags:
                    flags.append(name)
            pending = False
    return flags


def differs(manifest):
    """Where a sweep (its manifest) differs from the paper, split into values
    the paper states and values its text lost (our choice in the paper config
    too), and the list of our choices: lines of Markdown."""
    from keras_rlr.sweep.config import PAPER_BASE

    config = manifest["config"]
    paper = config.get("paper_base", PAPER_BASE)
    ours = marked(paper)
    # None: the sweep compared with the run schema's defaults (no clone).
    paper = paper or "keras_rlr's built-in defaults"
    scaled = manifest.get("differs_from_paper") or {}
    stated = {f: v for f, v in scaled.items() if f not in ours}
    lost = {f: v for f, v in scaled.items() if f in ours}
    lines = []
    if stated:
        changes = ", ".join(f"`{f}` {a} → {b}" for f, (a, b) in stated.items())
        lines += ["", f"Differs from the paper's setting (`{paper}`): {changes}."]
    if lost:
        changes = ", ".join(f"`{f}` {a} → {b}" for f, (a, b) in lost.items())
        lines += [
            "",
            f"Differs from our choice where the paper's text lost the value: "
            f"{changes}.",
        ]
    base = manifest["base_values"]
    grid = marked(config.get("path"))
    chosen = [f"`{f}={base[f]}`" for f in ours if f in base and f not in scaled]
    chosen += [f"the grid values of `{f}`" for f in grid]
    if chosen:
        lines += [
            "",
            "Our choices, not the paper's (its text lost the value): "
            + ", ".join(chosen)
            + ".",
        ]
    return lines

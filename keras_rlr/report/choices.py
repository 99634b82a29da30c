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

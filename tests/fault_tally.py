"""The fault campaign's tally: `python tests/fault_tally.py LOG` (`make faults`).

`LOG` holds one JSON line per injected fault, `{"fault": ..., "outcome": ...}`,
appended by `tests/test_fault_campaign.py` under `KERAS_RLR_FAULT_LOG=LOG`.
Prints the count of faults and of each outcome; exits 1 if any outcome is
"other" (neither recovered exactly nor refused clearly) or nothing was logged.
"""

import collections
import json
import sys

OUTCOMES = ("recovered exactly", "refused clearly", "other")


def tally(path):
    """`(text, failures)`: the tally as printed, and how many were "other"."""
    try:
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        rows = []
    counts = collections.Counter(row["outcome"] for row in rows)
    lines = [f"fault campaign: {len(rows)} faults injected"]
    lines += [f"  {name:<18} {counts.get(name, 0)}" for name in OUTCOMES]
    lines += [f"  other: {row['fault']}" for row in rows if row["outcome"] == "other"]
    return "\n".join(lines), counts.get("other", 0) + (not rows)


if __name__ == "__main__":
    text, failures = tally(sys.argv[1])
    print(text)
    sys.exit(1 if failures else 0)

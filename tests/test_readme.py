"""The README as a newcomer uses it: its links lead somewhere, its shell commands
name flags and files that exist, and its library snippet runs as pasted."""

import glob
import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
PAGES = [README, *sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))]
# The command as a README writes it -> the script whose `-h` lists its flags.
COMMANDS = {
    "train.py": "train.py",
    "keras-rlr-train": "train.py",
    "keras_rlr.train": "train.py",
    "sweep.py": "sweep.py",
    "keras-rlr-sweep": "sweep.py",
    "keras_rlr.sweep": "sweep.py",
    "report.py": "report.py",
    "keras-rlr-report": "report.py",
    "keras_rlr.report": "report.py",
}
# Flags whose value is a file that must exist in the repository.
FILE_FLAGS = ("flagfile", "config")


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def _fenced(text, language):
    """The bodies of the ```language blocks of `text`."""
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.M | re.S)


def _slug(heading):
    """GitHub's anchor of a Markdown heading."""
    heading = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return heading.replace(" ", "-")


def _anchors(path):
    text = re.sub(r"^```.*?^```", "", _read(path), flags=re.M | re.S)
    return {_slug(h) for h in re.findall(r"^#+ (.*)$", text, re.M)}


def test_the_readme_is_short_and_keeps_its_two_make_targets():
    text = _read(README)
    assert len(text.splitlines()) <= 250
    assert "make quickstart" in text and "make test" in text


@pytest.mark.parametrize("page", PAGES, ids=lambda p: os.path.relpath(p, ROOT))
def test_every_relative_link_resolves(page):
    text = re.sub(r"^```.*?^```", "", _read(page), flags=re.M | re.S)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(page), path or page))
        if not os.path.exists(resolved):
            broken.append(target)
        elif anchor and resolved.endswith(".md") and anchor not in _anchors(resolved):
            broken.append(target)
    assert not broken, f"{os.path.relpath(page, ROOT)}: {broken}"


def _flags_of(script):
    """The flags `script -h` lists (absl writes a bool flag as `--[no]name`)."""
    result = subprocess.run(
        [sys.executable, script, "-h"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return set(re.findall(r"^\s+--(?:\[no\])?(\w+):", result.stdout, re.M))


def _commands(text):
    """`(line, words)` of every command of a ```sh block, comments removed."""
    for block in _fenced(text, "sh"):
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                yield line, shlex.split(line)


def test_every_shell_command_names_real_flags_and_files():
    flags = {script: _flags_of(script) for script in set(COMMANDS.values())}
    flags["train.py"].add("flagfile")  # absl's, read by every command
    makefile = _read(os.path.join(ROOT, "Makefile"))
    checked = set()
    for line, words in _commands(_read(README)):
        if words[0] == "make":
            for target in words[1:]:
                assert re.search(rf"^{target}:", makefile, re.M), line
            continue
        names = [w for w in words if w in COMMANDS or w.endswith(tuple(COMMANDS))]
        if not names:
            continue
        script = COMMANDS[next(c for c in COMMANDS if names[0].endswith(c))]
        if script.endswith(".py") and script in words[1:2]:
            assert os.path.isfile(os.path.join(ROOT, script)), line
        checked.add(script)
        for word in words:
            if not word.startswith("--"):
                continue
            name, _, value = word[2:].partition("=")
            known = name in flags[script] or (
                name.startswith("no") and name[2:] in flags[script]
            )
            assert known, f"{line}: --{name} is not a flag of {script}"
            if name in FILE_FLAGS:
                assert os.path.isfile(os.path.join(ROOT, value)), line
    assert checked == {"train.py", "sweep.py", "report.py"}


def test_every_python_block_compiles():
    for block in _fenced(_read(README), "python"):
        compile(block, "README.md", "exec")


@pytest.mark.heavy
def test_the_library_snippet_runs_as_pasted(tmp_path):
    """The README's first Python block, in a fresh process outside the clone."""
    snippet = _fenced(_read(README), "python")[0]
    result = subprocess.run(
        [sys.executable, "-c", snippet],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ROOT},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = dict(
        re.findall(
            r"^(train|test): class accuracy [\d.]+, random-label accuracy ([\d.]+)",
            result.stdout,
            re.M,
        )
    )
    # Memorized on the training set: above chance (0.1) and above what the
    # class alone gives (0.143 for these digits); at chance on the test set
    # (360 examples: a binomial's 99.9 % band is about +-0.05).
    assert float(found["train"]) > 0.2, result.stdout
    assert abs(float(found["test"]) - 0.1) < 0.05, result.stdout

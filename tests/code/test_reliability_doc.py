"""RELIABILITY.md names tests that exist: every `tests/...py::name` it mentions is a test
function of that file, and every `-k` word of its commands selects a test of the files the
command names (a renamed test makes the figure's command select nothing)."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

from conftest import REPO

DOC = REPO / "RELIABILITY.md"
NODE = re.compile(r"(tests/[\w/]+\.py)(?:::(\w+))?")
COMMAND = re.compile(r"`(python -m pytest [^`]+)`")


def _functions(path: Path) -> set[str]:
    """The names of the functions a test module defines at its top level."""
    tree = ast.parse(path.read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_every_named_test_exists():
    """Each test file RELIABILITY.md names exists, and each test it names is defined there."""
    text = DOC.read_text()
    named = NODE.findall(text)
    assert len(named) > 40, "RELIABILITY.md should name the tests behind its figures"
    for file, test in named:
        path = REPO / file
        assert path.is_file(), f"RELIABILITY.md names {file}, which does not exist"
        if test:
            assert test in _functions(path), f"RELIABILITY.md names {file}::{test}: no such test"


def test_every_k_word_selects_a_test():
    """Each word of a command's `-k "a or b"` is part of a test name in the files it runs."""
    commands = COMMAND.findall(DOC.read_text())
    assert len(commands) > 30, "RELIABILITY.md should give a command per figure"
    for command in commands:
        words = shlex.split(command)[3:]
        if "-k" not in words:
            continue
        expression = words[words.index("-k") + 1]
        files = [REPO / w for w in words if w.startswith("tests/") and "::" not in w]
        assert files, command
        names = set().union(*(_functions(path) for path in files))
        for word in expression.split(" or "):
            assert re.fullmatch(r"\w+", word), f"{command}: only 'a or b' expressions are checked"
            assert any(word in name for name in names), f"{command}: -k {word} selects nothing"

"""The task modules stay thin: shared flags worded once, no private names borrowed between
task modules, deferred imports in one place (issue 16). No database needed."""

from __future__ import annotations

import ast
from pathlib import Path

from nself.tasks import flags, library, namespace

TASKS = Path(flags.__file__).parent


def _trees():
    for path in sorted(TASKS.glob("*.py")):
        yield path.name, ast.parse(path.read_text(encoding="utf-8"))


def _every_task():
    def walk(collection, prefix):
        for name, task in collection.tasks.items():
            yield f"{prefix}{name}", task
        for name, sub in collection.collections.items():
            yield from walk(sub, f"{prefix}{name}.")

    yield from walk(namespace, "")


def test_shared_flags_have_one_help_text():
    """Every task's --lock-timeout and --allow-env-mismatch show flags.py's one wording, and
    every --confirm the one sentence built from the safety table."""
    seen = set()
    for name, task in _every_task():
        for flag, text in task.help.items():
            key = flag.replace("-", "_")
            if key == "lock_timeout":
                # one wording, built by flags.lock_help; only what it waits for differs
                assert text in (flags.LOCK_HELP, flags.lock_help("another mock run")), name
            elif key == "allow_env_mismatch":
                assert text == flags.MISMATCH_HELP, name
            elif key == "confirm":
                assert text.startswith("Type the confirmation in advance: `yes`"), name
            else:
                continue
            seen.add(key)
    assert seen == {"lock_timeout", "allow_env_mismatch", "confirm"}


def test_no_task_module_imports_private_names_of_another():
    """A task module takes nothing whose name starts with `_` from another task module."""
    borrowed = []
    for filename, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nself.tasks"):
                borrowed += [f"{filename}: {node.module}.{a.name}" for a in node.names
                             if a.name.startswith("_")]
    assert not borrowed


def test_deferred_imports_live_in_library_only():
    """No task body imports a module itself: what a task imports late goes through
    nself/tasks/library.py (base.py's help printer imports the namespace that imports it)."""
    inside = []
    for filename, tree in _trees():
        if filename == "base.py":
            continue
        for func in ast.walk(tree):
            if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                inside += [f"{filename}:{node.lineno}" for node in ast.walk(func)
                           if isinstance(node, ast.Import | ast.ImportFrom)]
    assert not inside


def test_deferred_modules_exist_and_load_on_first_use():
    """Every module library.py names can be imported, and a name read through it is the
    module's own."""
    for name, value in vars(library).items():
        if isinstance(value, library.Deferred):
            module = value.module
            public = next(n for n in vars(module) if not n.startswith("_"))
            assert getattr(value, public) is getattr(module, public), name

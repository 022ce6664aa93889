"""How the library's modules import each other: no cycle, no printing, every deferral said.

The library is nself/ without its front end (nself/tasks/, nself/cli.py, nself/__main__.py).
Only imports of nself's own modules are checked here: a deferred third-party import
(pglast, sh, rich, ...) is the start-up budget's business (tests/cli/test_startup.py).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "nself"
FRONT_END = ("nself/tasks/", "nself/cli.py", "nself/__main__.py")

# Function-level imports of nself modules that carry no comment of their own, each with the
# reason it stays (file, imported module). An entry whose import is gone fails the test:
# remove it then.
ALLOWED: dict[tuple[str, str], str] = {}


def _name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _shown(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


MODULES = {_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
LIBRARY = {name: path for name, path in MODULES.items()
           if not _shown(path).startswith(FRONT_END)}


def _imports(tree: ast.AST):
    """(node, nself module it imports, whether inside a function) for every nself import;
    `from nself.pkg import sub` names the submodule when `sub` is one."""
    def walk(node, nested):
        for child in ast.iter_child_nodes(node):
            inside = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                  ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == "nself":
                        yield child, alias.name, inside
            elif (isinstance(child, ast.ImportFrom) and child.level == 0 and child.module
                  and child.module.split(".")[0] == "nself"):
                for alias in child.names:
                    full = f"{child.module}.{alias.name}"
                    yield child, full if full in MODULES else child.module, inside
            yield from walk(child, inside)

    yield from walk(tree, False)


@cache
def _parsed(path: Path) -> tuple[ast.AST, list[str]]:
    text = path.read_text(encoding="utf-8")
    return ast.parse(text), text.splitlines()


def _others_at_top() -> list[str]:
    """Every module not of nself (stdlib, third-party) that a module of nself imports at
    its top level."""
    found = set()
    for path in MODULES.values():
        tree, _ = _parsed(path)
        for node in tree.body:
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
    return sorted(name for name in found if name.split(".")[0] not in ("nself", "__future__"))


def test_every_module_imports_alone():
    """Each module of nself imports by itself, first, in an interpreter where nothing of
    nself was loaded: no cycle that works only when another module happened to load first.
    (One clean interpreter, with the modules of others that nself imports preloaded (they
    are no part of a cycle among nself's), forks a child per module: the isolation of a
    process each, in seconds.)"""
    driver = (
        "import importlib, os, sys, traceback\n"
        "for name in sys.argv[1].split(','):\n"
        "    importlib.import_module(name)\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'nself']\n"
        "failed, running = [], {}\n"
        "def reap():\n"
        "    pid, status = os.wait()\n"
        "    if os.waitstatus_to_exitcode(status):\n"
        "        failed.append(running[pid])\n"
        "    del running[pid]\n"
        "for name in sys.argv[2:]:\n"
        "    if len(running) == 2:\n"
        "        reap()\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        try:\n"
        "            importlib.import_module(name)\n"
        "        except BaseException:\n"
        "            traceback.print_exc()\n"
        "            os._exit(1)\n"
        "        os._exit(0)\n"
        "    running[pid] = name\n"
        "while running:\n"
        "    reap()\n"
        "print('FAILED', sorted(failed))\n"
    )
    proc = subprocess.run([sys.executable, "-c", driver, ",".join(_others_at_top()),
                           *MODULES], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "FAILED []" in proc.stdout, proc.stdout + proc.stderr


def test_the_library_import_graph_has_no_cycle():
    """Counting the imports inside functions too, no library module reaches itself: a
    deferred import may keep start-up fast, never hide a cycle (the shared piece goes to the
    lower module, or the caller passes a function in)."""
    edges = {name: set() for name in LIBRARY}
    for name, path in LIBRARY.items():
        tree, _ = _parsed(path)
        edges[name] |= {target for _, target, _ in _imports(tree)
                        if target in LIBRARY and target != name}
    cycles, state, stack = [], {}, []

    def visit(name):
        state[name] = "open"
        stack.append(name)
        for target in sorted(edges[name]):
            if state.get(target) == "open":
                cycles.append(" -> ".join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target)
        stack.pop()
        state[name] = "done"

    for name in sorted(edges):
        if name not in state:
            visit(name)
    assert cycles == [], "import cycles:\n" + "\n".join(cycles)


def test_the_library_never_imports_the_output_module():
    """The library says things through its caller's callbacks (say, warn, progress, ask);
    only the front end prints (`nself.output`). Sizes in words and the secret registry are
    in `nself.display`, which does no I/O."""
    found = []
    for path in LIBRARY.values():
        tree, _ = _parsed(path)
        found += [f"{_shown(path)}:{node.lineno}" for node, target, _ in _imports(tree)
                  if target == "nself.output"]
    assert found == [], f"library modules importing nself.output: {found}"


def _import_spans(tree: ast.AST) -> dict[int, int]:
    """The last line of every import statement (any module) -> its first line."""
    return {node.end_lineno: node.lineno for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))}


def _reason_above(lines: list[str], spans: dict[int, int], lineno: int) -> bool:
    """Whether a comment stands on the line above the block of imports (blank lines
    between its groups allowed) that the import starting at `lineno` belongs to."""
    above = lineno - 1
    while above >= 1:
        if above in spans:
            above = spans[above] - 1
        elif not lines[above - 1].strip():
            above -= 1
        else:
            return lines[above - 1].strip().startswith("#")
    return False


def test_every_deferred_import_says_why():
    """Each import of an nself module inside a function has a comment saying why, on its
    line or just above the block of imports it belongs to (or an entry in ALLOWED)."""
    unexplained, used = [], set()
    for path in LIBRARY.values():
        tree, lines = _parsed(path)
        spans = _import_spans(tree)
        for node, target, inside in _imports(tree):
            if not inside:
                continue
            key = (_shown(path), target)
            if key in ALLOWED:
                used.add(key)
                continue
            if "#" not in lines[node.lineno - 1] and not _reason_above(lines, spans, node.lineno):
                unexplained.append(f"{_shown(path)}:{node.lineno} imports {target}")
    unexplained = sorted(set(unexplained))
    assert unexplained == [], (
        "function-level imports without a reason: make them top-level (a cycle: move the "
        "shared piece to the lower module, or pass a function in), or say on the line above "
        "why they are deferred (the start-up budget, with the cost):\n" + "\n".join(unexplained))
    assert set(ALLOWED) <= used, f"ALLOWED entries whose import is gone: {set(ALLOWED) - used}"

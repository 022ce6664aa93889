"""The schema as a diagram sees it: tables (nodes) with their columns, one edge per foreign
key between columns, and clusters (schemas, DBML TableGroups) with their colours.

Every output format (SVG, PNG, DOT, Mermaid, HTML) is drawn from a Graph, and a Graph is
made from the schema model (`from_schema`), whether the model was read from a live
database or built from a DBML file; what only DBML has (TableGroups, header colours) comes
in as `Extras`. The views (`keys_only`, `around`, `only_schema`) return new Graphs.

For the writers of the other formats (names here stay stable; additions are noted here):
- `keys_only` also keeps the columns a foreign key references (part of a multi-column
  key), so that every edge has both its end rows;
- `fold_partitions()` (applied by `schema diagram` before the other views) leaves out the
  partitions of a partitioned table; the parent's `Node.partitions` lists their ids;
- `nself.diagram.sources.from_dbml` fills Extras from the DBML's TableGroups (colour as
  #rrggbb, note) and headercolors; `nself.diagram.layout.blocks(graph)` is the one
  split into frames (first TableGroup, else schema) the SVG, PNG and DOT share."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

from nself.errors import UsageError
from nself.schema import ddl
from nself.schema.model import Schema


@dataclass
class Column:
    name: str
    type: str
    pk: bool = False
    fk: bool = False
    unique: bool = False            # a single-column UNIQUE constraint or unique index
    nullable: bool = True
    default: str | None = None
    note: str | None = None


@dataclass
class Node:
    """One table (or view-like relation) of the diagram; `id` is "schema.table"."""
    id: str
    schema: str
    name: str
    columns: list[Column] = field(default_factory=list)
    note: str | None = None
    color: str | None = None        # DBML headercolor, "#rrggbb"
    constraints: list[str] = field(default_factory=list)   # "name: definition"
    indexes: list[str] = field(default_factory=list)       # CREATE INDEX text
    partition_of: str | None = None
    partitions: list[str] = field(default_factory=list)    # node ids folded in (the view)
    # the column lists of its primary key, UNIQUE constraints and full unique indexes
    unique_keys: list[list[str]] = field(default_factory=list)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass
class Edge:
    """One foreign key: SOURCE's columns reference TARGET's columns."""
    name: str
    source: str
    source_columns: list[str]
    target: str
    target_columns: list[str]
    on_delete: str = "NO ACTION"


@dataclass
class Cluster:
    """A group of nodes drawn together: a schema or a DBML TableGroup."""
    name: str
    kind: str                        # "schema" | "group"
    members: list[str] = field(default_factory=list)       # node ids
    color: str | None = None
    note: str | None = None


@dataclass
class Extras:
    """What a DBML file says about the picture and the database does not keep."""
    groups: list[Cluster] = field(default_factory=list)    # kind "group"
    colors: dict[str, str] = field(default_factory=dict)   # node id -> headercolor


@dataclass
class Graph:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)

    def keys_only(self) -> Graph:
        """The same graph with only primary-key, foreign-key and unique columns shown, and
        the columns a foreign key references (part of a multi-column key), which its
        edge is drawn to."""
        referenced = {(e.target, c) for e in self.edges for c in e.target_columns}
        nodes = {i: replace(n, columns=[c for c in n.columns if c.pk or c.fk or c.unique
                                        or (i, c.name) in referenced])
                 for i, n in self.nodes.items()}
        return Graph(nodes, list(self.edges), list(self.clusters))

    def around(self, table: str, depth: int = 1) -> Graph:
        """TABLE and the tables within DEPTH foreign keys of it (either direction)."""
        start = self.find(table)
        if depth < 0:
            raise UsageError(f"--depth must be 0 or more, not {depth}.")
        near: dict[str, list[str]] = {i: [] for i in self.nodes}
        for e in self.edges:
            near[e.source].append(e.target)
            near[e.target].append(e.source)
        seen = {start: 0}
        queue = deque([start])
        while queue:
            here = queue.popleft()
            if seen[here] == depth:
                continue
            for there in near[here]:
                if there not in seen:
                    seen[there] = seen[here] + 1
                    queue.append(there)
        return self._subgraph(set(seen))

    def only_schema(self, name: str) -> Graph:
        """The tables of schema NAME and the foreign keys among them."""
        keep = {i for i, n in self.nodes.items() if n.schema == name}
        if not keep:
            schemas = sorted({n.schema for n in self.nodes.values()})
            raise UsageError(f"No table is in schema {name!r}; the schemas with tables are: "
                             f"{', '.join(schemas) or 'none'}.")
        return self._subgraph(keep)

    def fold_partitions(self) -> Graph:
        """The same graph without the partitions of a partitioned table it also holds: each
        parent lists them in `partitions` (sub-partitions under the top parent). A
        partition's foreign keys are its parent's (PostgreSQL clones them), so no edge is
        lost; a key of a partition's own is drawn from its parent."""
        top: dict[str, str] = {}
        for i, n in self.nodes.items():
            seen, up = {i}, n.partition_of
            while up in self.nodes and up not in seen:
                seen.add(up)
                top[i] = up
                up = self.nodes[up].partition_of
        if not top:
            return self
        nodes = {i: replace(n, partitions=sorted(p for p, t in top.items() if t == i))
                 for i, n in self.nodes.items() if i not in top}
        edges, kept = [], set()
        for e in self.edges:
            moved = replace(e, source=top.get(e.source, e.source),
                            target=top.get(e.target, e.target))
            key = (moved.source, tuple(moved.source_columns), moved.target,
                   tuple(moved.target_columns))
            if key not in kept:
                kept.add(key)
                edges.append(moved)
        clusters = [replace(c, members=[m for m in c.members if m in nodes])
                    for c in self.clusters]
        return Graph(nodes, edges, [c for c in clusters if c.members])

    def find(self, table: str) -> str:
        """The node id for TABLE ("name" or "schema.name"); a UsageError naming close
        matches when there is none or the bare name is in several schemas."""
        if table in self.nodes:
            return table
        found = [i for i, n in self.nodes.items() if n.name == table]
        if len(found) == 1:
            return found[0]
        if found:
            raise UsageError(f"Table {table!r} is in several schemas: {', '.join(sorted(found))};"
                             f" name one.")
        close = sorted(i for i, n in self.nodes.items() if table.lower() in n.name.lower())
        hint = f" Close names: {', '.join(close[:5])}." if close else ""
        raise UsageError(f"No table named {table!r} in the schema.{hint}")

    def _subgraph(self, keep: set[str]) -> Graph:
        nodes = {i: n for i, n in self.nodes.items() if i in keep}
        edges = [e for e in self.edges if e.source in keep and e.target in keep]
        clusters = [replace(c, members=[m for m in c.members if m in keep])
                    for c in self.clusters]
        return Graph(nodes, edges, [c for c in clusters if c.members])


def from_schema(schema: Schema, extras: Extras | None = None) -> Graph:
    """The diagram of SCHEMA: every table a node, every foreign key an edge, every schema
    that has tables a cluster, plus EXTRAS' TableGroups and header colours."""
    extras = extras or Extras()
    graph = Graph()
    for table in schema.tables:
        keys = {c for con in table.constraints if con.kind == "p" for c in con.columns}
        refs = {c for con in table.foreign_keys for c in con.columns}
        single = {con.columns[0] for con in table.constraints
                  if con.kind == "u" and len(con.columns) == 1}
        single |= {i.columns[0] for i in table.indexes
                   if i.unique and len(i.columns) == 1 and not i.where}
        node = Node(
            id=table.qualified, schema=table.schema, name=table.name,
            columns=[Column(c.name, c.type, c.name in keys, c.name in refs, c.name in single,
                            c.nullable, c.default, c.comment) for c in table.columns],
            note=table.comment, color=extras.colors.get(table.qualified),
            constraints=[f"{c.name}: {ddl.constraint_body(c)}" for c in table.constraints],
            indexes=[ddl.create_index(i, table) for i in table.indexes],
            partition_of=table.partition_of,
            unique_keys=[list(c.columns) for c in table.constraints if c.kind in ("p", "u")]
            + [list(i.columns) for i in table.indexes if i.unique and not i.where])
        graph.nodes[node.id] = node
        for fk in table.foreign_keys:
            target = f"{fk.ref_schema}.{fk.ref_table}"
            graph.edges.append(Edge(fk.name, table.qualified, list(fk.columns), target,
                                    list(fk.ref_columns), fk.on_delete))
    graph.edges = [e for e in graph.edges if e.target in graph.nodes]
    by_schema: dict[str, list[str]] = {}
    for node in graph.nodes.values():
        by_schema.setdefault(node.schema, []).append(node.id)
    graph.clusters = [Cluster(name, "schema", members, note=schema.comments.get(f"schema:{name}"))
                      for name, members in by_schema.items()]
    graph.clusters += [replace(g, members=[m for m in g.members if m in graph.nodes])
                       for g in extras.groups]
    return graph

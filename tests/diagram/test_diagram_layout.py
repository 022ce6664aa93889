"""nself's own layout (nself.diagram.layout): every table a box that overlaps no other,
every foreign key a route from its referencing column's row to its referenced column's row,
frames around their clusters' members, the same picture for the same schema, and the
shapes that break naive layouts (cycles, self-references, tables without keys, one table
with many references, a 300-table schema)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from nself.diagram import layout as diagram_layout
from nself.diagram.graph import Cluster, Extras, Graph, from_schema
from nself.schema.model import Column, Constraint, Schema, Table
from nself.schema.render import to_sql

TYPES = ["text", "integer", "bigint", "timestamp with time zone", "character varying(255)",
         "numeric(10,2)", "boolean", "jsonb"]


@dataclass
class Generated:
    schema: Schema

    @property
    def sql(self) -> str:
        return to_sql(self.schema)

    def graph(self, extras: Extras | None = None) -> Graph:
        return from_schema(self.schema, extras)


def generated(tables: int = 300, fks: int = 600, seed: int = 7,
              schemas: tuple[str, ...] = ("public", "billing", "audit"),
              loners: int = 20) -> Generated:
    """A schema of TABLES tables over SCHEMAS with about FKS foreign keys, most pointing at
    tables made before (as real schemas grow), some back (cycles), a few at themselves, and
    LONERS tables with no foreign key either way."""
    rng = random.Random(seed)
    made: list[Table] = []
    for n in range(tables):
        schema = schemas[n % len(schemas)]
        columns = [Column("id", "bigint", nullable=False)]
        columns += [Column(f"c{k}_{rng.choice(['name', 'at', 'total', 'note'])}",
                           rng.choice(TYPES)) for k in range(rng.randint(1, 8))]
        made.append(Table(schema, f"t{n:03d}", columns,
                          [Constraint(f"t{n:03d}_pkey", "p", ["id"])]))
    linked = made[:tables - loners]
    for k in range(fks):
        source = rng.choice(linked)
        at = linked.index(source)
        if k % 50 == 0:
            target = source                                   # a self-reference
        elif k % 9 == 0 and at + 1 < len(linked):
            target = rng.choice(linked[at + 1:])              # back: makes cycles
        elif at:
            target = linked[rng.randrange(max(0, at - 40), at)]
        else:
            continue
        column = f"ref_{k}_{target.name}"
        source.columns.append(Column(column, "bigint"))
        source.constraints.append(Constraint(f"{source.name}_{column}_fkey", "f", [column],
                                             ref_schema=target.schema, ref_table=target.name,
                                             ref_columns=["id"]))
    return Generated(Schema(schemas=sorted(set(schemas)), tables=made))


def overlapping(boxes) -> list[tuple[str, str]]:
    """The pairs of boxes that overlap (a sweep over x, fine for thousands)."""
    found = []
    ordered = sorted(boxes.values(), key=lambda b: b.x)
    for n, a in enumerate(ordered):
        for b in ordered[n + 1:]:
            if b.x >= a.x + a.width:
                break
            if a.y < b.y + b.height and b.y < a.y + a.height:
                found.append((a.node.id, b.node.id))
    return found


def inside(box, frame) -> bool:
    return (frame.x <= box.x and box.x + box.width <= frame.x + frame.width
            and frame.y <= box.y and box.y + box.height <= frame.y + frame.height)


def check_layout(graph: Graph) -> diagram_layout.Layout:
    """Lay GRAPH out and check what every layout must hold."""
    placed = diagram_layout.layout(graph)
    assert set(placed.boxes) == set(graph.nodes)
    assert overlapping(placed.boxes) == []
    for box in placed.boxes.values():
        assert box.x >= 0 and box.y >= 0
        assert box.x + box.width <= placed.width and box.y + box.height <= placed.height
        assert box.height == diagram_layout.HEADER + diagram_layout.ROW * len(box.node.columns)
    assert [r.edge for r in placed.routes] == graph.edges
    for route in placed.routes:
        e = route.edge
        source, target = placed.boxes[e.source], placed.boxes[e.target]
        start, end = route.curves[0][0], route.curves[-1][-1]
        assert start[1] == source.row_y(e.source_columns[0])
        assert end[1] == target.row_y(e.target_columns[0])
        assert start[0] in (source.x, source.x + source.width)
        assert end[0] in (target.x, target.x + target.width)
        for a, b in zip(route.curves, route.curves[1:], strict=False):
            assert a[3] == b[0]    # one continuous line
    for frame in placed.frames:
        for member in frame.cluster.members:
            if member in placed.boxes and _block_of(placed, member) is frame:
                assert inside(placed.boxes[member], frame)
    frames = placed.frames
    for n, a in enumerate(frames):
        for b in frames[n + 1:]:
            assert not (a.x < b.x + b.width and b.x < a.x + a.width
                        and a.y < b.y + b.height and b.y < a.y + a.height)
    return placed


def _block_of(placed, member):
    """The frame MEMBER is drawn in: its first TableGroup's, else its schema's."""
    groups = [f for f in placed.frames if f.cluster.kind == "group"
              and member in f.cluster.members]
    if groups:
        return groups[0]
    schema = placed.graph.nodes[member].schema
    return next((f for f in placed.frames if f.cluster.kind == "schema"
                 and f.cluster.name == schema), None)


def test_300_tables_no_box_overlaps_and_every_edge_attaches_to_its_rows():
    """A 300-table schema with ~600 foreign keys (cycles, self-references, loners) in three
    schemas: boxes apart, routes between the right rows, frames around their schemas."""
    graph = generated().graph()
    assert len(graph.nodes) == 300 and len(graph.edges) > 550
    placed = check_layout(graph)
    assert sorted(f.cluster.name for f in placed.frames) == ["audit", "billing", "public"]


def test_layout_is_deterministic():
    """The same schema gives the same picture, whatever the hash seed or dict history."""
    first = diagram_layout.layout(generated(80, 150, seed=3).graph())
    second = diagram_layout.layout(generated(80, 150, seed=3).graph())
    assert [(b.node.id, b.x, b.y) for b in first.boxes.values()] == \
        [(b.node.id, b.x, b.y) for b in second.boxes.values()]
    assert [r.points for r in first.routes] == [r.points for r in second.routes]


def test_the_svg_does_not_depend_on_the_hash_seed():
    """A process with another string hash seed than this one draws byte-identical SVG
    (no set's order leaks into the picture)."""
    import hashlib
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, hashlib; from test_diagram_layout import generated; "
            "from nself.diagram import layout, svg; "
            "print(hashlib.sha256(svg.render(layout.layout(generated(80, 150, seed=3)"
            ".graph())).encode()).hexdigest())")
    here = str(Path(__file__).parent)
    digests = set()
    for seed in ("0" if os.environ.get("PYTHONHASHSEED") == "1" else "1",):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env={"PYTHONHASHSEED": seed, "PYTHONPATH": here}, timeout=120)
        assert done.returncode == 0, done.stderr
        digests.add(done.stdout.strip())
    from nself.diagram import svg

    here_digest = hashlib.sha256(svg.render(diagram_layout.layout(
        generated(80, 150, seed=3).graph())).encode()).hexdigest()
    assert digests == {here_digest}


def test_referenced_tables_sit_left_of_the_tables_referencing_them():
    """A chain a -> b -> c (a references b, b references c) goes c, b, a from left to
    right, and each route leaves its table on the side facing the other."""
    gen = generated(3, 0, loners=0, schemas=("public",))
    t0, t1, t2 = gen.schema.tables
    for source, target in ((t0, t1), (t1, t2)):
        source.columns.append(Column("up", "bigint"))
        source.constraints.append(Constraint(f"{source.name}_up_fkey", "f", ["up"],
                                             ref_schema="public", ref_table=target.name,
                                             ref_columns=["id"]))
    placed = check_layout(gen.graph())
    xs = [placed.boxes[f"public.{t.name}"].x for t in (t2, t1, t0)]
    assert xs == sorted(xs) and len(set(xs)) == 3
    for route in placed.routes:
        source = placed.boxes[route.edge.source]
        assert route.points[0][0] == source.x     # leaves on its left, towards the target


def test_cycles_self_references_and_a_table_referenced_by_many():
    """Two tables referencing each other, a table referencing itself twice, and one table
    referenced by 60 others: laid out with no overlap, each edge attached, the 60 spread
    over columns."""
    gen = generated(64, 0, loners=0, schemas=("public",))
    hub, *others = gen.schema.tables
    for t in others:
        t.columns.append(Column("hub_id", "bigint"))
        t.constraints.append(Constraint(f"{t.name}_hub_fkey", "f", ["hub_id"],
                                        ref_schema="public", ref_table=hub.name,
                                        ref_columns=["id"]))
    a, b = others[0], others[1]
    a.columns.append(Column("b_id", "bigint"))
    a.constraints.append(Constraint("a_b", "f", ["b_id"], ref_schema="public",
                                    ref_table=b.name, ref_columns=["id"]))
    b.columns.append(Column("a_id", "bigint"))
    b.constraints.append(Constraint("b_a", "f", ["a_id"], ref_schema="public",
                                    ref_table=a.name, ref_columns=["id"]))
    for name in ("parent", "previous"):
        hub.columns.append(Column(name, "bigint"))
        hub.constraints.append(Constraint(f"hub_{name}", "f", [name], ref_schema="public",
                                          ref_table=hub.name, ref_columns=["id"]))
    placed = check_layout(gen.graph())
    # the 60 tables referencing the hub are spread over several columns, not stacked in one
    columns = {placed.boxes[f"public.{t.name}"].x for t in others}
    assert len(columns) >= 4 and placed.height < 1.5 * placed.width
    loops = [r for r in placed.routes if r.edge.source == r.edge.target]
    assert len(loops) == 2
    for route in loops:     # out of the right side and back into it
        box = placed.boxes[route.edge.source]
        assert route.points[0][0] == route.points[-1][0] == box.x + box.width


def test_tables_without_foreign_keys_are_packed_in_a_grid():
    """Forty unrelated tables: several rows and several columns, not one long line."""
    placed = check_layout(generated(40, 0, loners=40, schemas=("public",)).graph())
    rows = {b.y for b in placed.boxes.values()}
    columns = {b.x for b in placed.boxes.values()}
    assert len(rows) > 2 and len(columns) > 2
    assert placed.frames == []      # one schema and no group: nothing to frame


def test_table_groups_are_framed_and_schemas_around_the_rest():
    """A TableGroup's members are in its frame (with its colour); the schema's other tables
    in the schema's frame; a table without columns is a header-only box."""
    gen = generated(12, 20, seed=5, loners=2, schemas=("public",))
    gen.schema.tables.append(Table("public", "empty"))
    extras = Extras([Cluster("core", "group", ["public.t000", "public.t001", "public.t002"],
                             "#aa3300", "The core tables")])
    placed = check_layout(gen.graph(extras))
    frames = {f.cluster.name: f for f in placed.frames}
    assert set(frames) == {"core", "public"} and frames["core"].cluster.color == "#aa3300"
    for member in ("public.t000", "public.t001", "public.t002"):
        assert inside(placed.boxes[member], frames["core"])
        assert not inside(placed.boxes[member], frames["public"])
    assert placed.boxes["public.empty"].height == diagram_layout.HEADER


@pytest.mark.parametrize("view", ["keys_only", "around", "only_schema"])
def test_views_lay_out(view):
    """Every view of a generated schema lays out with the same guarantees."""
    graph = generated(90, 180, seed=11).graph()
    narrowed = {"keys_only": lambda: graph.keys_only(),
                "around": lambda: graph.around("t030", 2),
                "only_schema": lambda: graph.only_schema("billing")}[view]()
    check_layout(narrowed)


def test_an_empty_schema_lays_out_as_an_empty_picture():
    """No tables: no boxes, a small canvas."""
    placed = diagram_layout.layout(Graph())
    assert placed.boxes == {} and placed.routes == [] and placed.width > 0


def test_crossings_are_counted_and_removed_when_an_order_removes_them():
    """Two layers a b / c d with a-d and b-c cross once; the sweeps swap c and d; a
    complete bipartite pair of layers keeps its (unavoidable) crossing count."""
    layers = [["a", "b"], ["c", "d"]]
    right = {"a": ["d"], "b": ["c"]}
    left = {"d": ["a"], "c": ["b"]}
    pos = {"a": 0, "b": 1, "c": 0, "d": 1}
    assert diagram_layout._crossings(layers, right, pos) == 1
    diagram_layout._reduce_crossings(layers, left, right)
    assert layers == [["a", "b"], ["d", "c"]]
    full = [["a", "b", "c"], ["x", "y", "z"]]
    right = {u: ["x", "y", "z"] for u in "abc"}
    left = {v: ["a", "b", "c"] for v in "xyz"}
    pos = {n: at for lay in full for at, n in enumerate(lay)}
    assert diagram_layout._crossings(full, right, pos) == 9    # 3 pairs of sources x 3
    diagram_layout._reduce_crossings(full, left, right)
    pos = {n: at for lay in full for at, n in enumerate(lay)}
    assert diagram_layout._crossings(full, right, pos) == 9


def test_wide_characters_take_two_cells():
    """A name in CJK letters gets a box twice as wide as the same count of Latin ones."""
    assert diagram_layout.text_width("顧客テーブル") == 2 * diagram_layout.text_width("abcdef")
    assert diagram_layout.text_width("café") == diagram_layout.text_width("cafe")


def crossed_boxes(placed) -> list[tuple[str, str]]:
    """(edge name, table) for every table box a route passes through (sampled along its
    curves; the edge's own two tables left out)."""
    from nself.diagram.png import _bezier

    found = []
    for route in placed.routes:
        e = route.edge
        for box in placed.boxes.values():
            if box.node.id in (e.source, e.target):
                continue
            if any(box.x + 2 < x < box.x + box.width - 2 and box.y + 2 < y < box.y + box.height - 2
                   for curve in route.curves for k in range(1, 20)
                   for x, y in [_bezier(*curve, k / 20)]):
                found.append((e.name, box.node.id))
    return found


def test_edges_between_frames_go_around_the_tables():
    """The rich schema (two schemas and a TableGroup, keys between all three frames): no
    edge passes through a table's box; those between frames run in the gaps."""
    from conftest import REPO

    from nself.diagram import sources

    placed = check_layout(sources.from_dbml(REPO / "tests/data/dbml/rich.dbml"))
    assert len(placed.frames) == 3
    assert crossed_boxes(placed) == []
    between = [r for r in placed.routes
               if _block_of(placed, r.edge.source) is not _block_of(placed, r.edge.target)]
    assert len(between) == 3
    for route in between:       # straight pieces, each horizontal or vertical
        assert all(a[0] == b[0] or a[1] == b[1]
                   for a, b in zip(route.points, route.points[1:], strict=False))

"""The diagram's Graph from a DBML file (TableGroups as clusters with their colours and
notes, headercolors, aliases) and its views (--keys-only, --around/--depth, --schema),
with the errors a user sees for a table or schema that is not there."""

from __future__ import annotations

import pytest

from nself.diagram import sources
from nself.errors import UsageError

DBML = """
Table app.users as U [headercolor: #3498DB, note: 'People who log in'] {
  id integer [pk]
  email varchar [unique]
  nickname text
}
Table orders [headercolor: #abc] {
  id bigint [pk]
  user_id integer [ref: > U.id, note: 'who ordered']
  code char(8)
  total numeric
}
Table order_lines {
  order_id bigint [ref: > orders.id]
  line integer
  product_code char(8)
  qty integer
  indexes { (order_id, line) [pk] }
}
Table products {
  code char(8)
  sku integer
  name text
  indexes { (code, sku) [unique] }
}
Ref: order_lines.(product_code, qty) > products.(code, sku)
Table loner {
  note text
}
TableGroup sales [color: #E67E22, note: 'Orders and their lines'] {
  orders
  order_lines
}
TableGroup people {
  U
  ghost
}
"""


@pytest.fixture
def graph(tmp_path):
    path = tmp_path / "schema.dbml"
    path.write_text(DBML)
    return sources.from_dbml(path)


def test_dbml_table_groups_become_clusters_with_colour_and_note(graph):
    """TableGroups (members by name, schema.name or alias) are group clusters beside the
    schema clusters; a colour is #rrggbb, a member that is no table is left out."""
    groups = {c.name: c for c in graph.clusters if c.kind == "group"}
    assert groups["sales"].members == ["public.orders", "public.order_lines"]
    assert groups["sales"].color == "#e67e22" and groups["sales"].note == \
        "Orders and their lines"
    assert groups["people"].members == ["app.users"] and groups["people"].color is None
    schemas = {c.name: c.members for c in graph.clusters if c.kind == "schema"}
    assert schemas == {"app": ["app.users"], "public": ["public.orders", "public.order_lines",
                                                        "public.products", "public.loner"]}


def test_dbml_headercolors_and_notes_reach_the_nodes(graph):
    """headercolor (#rgb widened) colours the node; table and column notes are kept."""
    assert graph.nodes["app.users"].color == "#3498db"
    assert graph.nodes["public.orders"].color == "#aabbcc"
    assert graph.nodes["public.loner"].color is None
    assert graph.nodes["app.users"].note == "People who log in"
    assert graph.nodes["public.orders"].column("user_id").note == "who ordered"


def test_every_reference_is_an_edge_between_its_columns(graph):
    """Single and composite references, into another schema through an alias."""
    edges = {(e.source, tuple(e.source_columns), e.target, tuple(e.target_columns))
             for e in graph.edges}
    assert edges == {
        ("public.orders", ("user_id",), "app.users", ("id",)),
        ("public.order_lines", ("order_id",), "public.orders", ("id",)),
        ("public.order_lines", ("product_code", "qty"), "public.products", ("code", "sku")),
    }


def test_keys_only_keeps_key_columns_and_referenced_columns(graph):
    """--keys-only: PK, FK and unique columns, and the columns of a multi-column key a
    foreign key references (products.code, sku), nothing else."""
    keys = graph.keys_only()
    shown = {i: [c.name for c in n.columns] for i, n in keys.nodes.items()}
    assert shown == {"app.users": ["id", "email"], "public.orders": ["id", "user_id"],
                     "public.order_lines": ["order_id", "line", "product_code", "qty"],
                     "public.products": ["code", "sku"], "public.loner": []}
    assert keys.edges == graph.edges


def test_around_follows_foreign_keys_both_ways_to_the_depth(graph):
    """--around orders: depth 0 is the table, 1 adds users and order_lines, 2 products."""
    assert set(graph.around("orders", 0).nodes) == {"public.orders"}
    assert set(graph.around("orders", 1).nodes) == {"public.orders", "app.users",
                                                    "public.order_lines"}
    two = graph.around("public.orders", 2)
    assert set(two.nodes) == {"public.orders", "app.users", "public.order_lines",
                              "public.products"}
    assert len(two.edges) == 3
    assert {c.name for c in two.clusters} == {"app", "public", "sales", "people"}


def test_only_schema_keeps_its_tables_and_the_keys_among_them(graph):
    """--schema public: the four public tables, the two keys inside it (not the one to
    app.users), and only the clusters left with members."""
    public = graph.only_schema("public")
    assert set(public.nodes) == {"public.orders", "public.order_lines", "public.products",
                                 "public.loner"}
    assert len(public.edges) == 2
    assert {c.name for c in public.clusters} == {"public", "sales"}


@pytest.mark.parametrize("call, message", [
    (lambda g: g.around("nope"), "No table named 'nope' in the schema."),
    (lambda g: g.around("order"), "Close names: public.order_lines, public.orders."),
    (lambda g: g.around("orders", -1), "--depth must be 0 or more, not -1."),
    (lambda g: g.only_schema("nope"), "No table is in schema 'nope'; the schemas with "
                                      "tables are: app, public."),
])
def test_unknown_tables_and_schemas_are_usage_errors(graph, call, message):
    """A name that is not there is a UsageError naming what is."""
    with pytest.raises(UsageError) as error:
        call(graph)
    assert message in str(error.value)


def test_a_bare_name_in_two_schemas_must_be_qualified(tmp_path):
    """users in public and in app: --around users asks which."""
    path = tmp_path / "two.dbml"
    path.write_text("Table users {\n  id int [pk]\n}\nTable app.users {\n  id int [pk]\n}\n")
    graph = sources.from_dbml(path)
    with pytest.raises(UsageError, match="is in several schemas: app.users, public.users"):
        graph.around("users")
    assert set(graph.around("app.users", 3).nodes) == {"app.users"}


def test_fold_partitions_moves_edges_to_the_top_table():
    """Partitions (and theirs) leave the graph; a key of a partition's own is drawn from
    the partitioned table, a duplicate of the parent's key once."""
    from nself.diagram.graph import Cluster, Column, Edge, Graph, Node

    def node(name, parent=None):
        return Node(f"public.{name}", "public", name, [Column("id", "int")],
                    partition_of=f"public.{parent}" if parent else None)

    nodes = [node("u"), node("ev"), node("ev_1", "ev"), node("ev_1_a", "ev_1"), node("ev_2", "ev")]
    graph = Graph({n.id: n for n in nodes},
                  [Edge("a", "public.ev", ["id"], "public.u", ["id"]),
                   Edge("b", "public.ev_1_a", ["id"], "public.u", ["id"]),
                   Edge("c", "public.ev_2", ["id"], "public.ev_1", ["id"])],
                  [Cluster("public", "schema", [n.id for n in nodes])])
    folded = graph.fold_partitions()
    assert list(folded.nodes) == ["public.u", "public.ev"]
    assert folded.nodes["public.ev"].partitions == ["public.ev_1", "public.ev_1_a",
                                                    "public.ev_2"]
    assert [(e.name, e.source, e.target) for e in folded.edges] == \
        [("a", "public.ev", "public.u"), ("c", "public.ev", "public.ev")]
    assert folded.clusters[0].members == ["public.u", "public.ev"]
    assert graph.fold_partitions().nodes["public.ev"].partitions  # the original is untouched
    assert graph.nodes["public.ev"].partitions == []

"""Where a diagram's Graph comes from: the configured environment's live database (read as
`schema export` reads it) or a DBML file (whose TableGroups and header colours only a
diagram uses)."""

from __future__ import annotations

from pathlib import Path

from nself.diagram.graph import Cluster, Extras, Graph, from_schema
from nself.pg import connection
from nself.schema.dbml import load_dbml_document
from nself.schema.introspect import introspect


def from_database(env) -> Graph:
    """The diagram of ENV's database as it is now."""
    with connection.connect(connection.target(env)) as conn:
        return from_schema(introspect(conn))


def from_dbml(path: str | Path) -> Graph:
    """The diagram of the DBML file at PATH (a file with problems is a DbmlError listing
    them), with its TableGroups as clusters and its header colours."""
    document = load_dbml_document(path)
    extras = Extras([Cluster(g.name, "group", list(g.members), _color(g.color), g.note)
                     for g in document.groups],
                    {table: c for table, color in document.colors.items()
                     if (c := _color(color))})
    return from_schema(document.schema, extras)


def _color(text: str | None) -> str | None:
    """A DBML colour (#rgb or #rrggbb) as #rrggbb; None for anything else (never drawn)."""
    if not text:
        return None
    digits = text.strip().lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    if len(digits) != 6 or any(d not in "0123456789abcdefABCDEF" for d in digits):
        return None
    return "#" + digits.lower()

"""The order of statements by what each object really uses (pg_depend, read into the model:
`Definition.depends_on`, `Table.uses`, `Domain.uses`), shared by the differ (UP and DOWN)
and the SQL export.

Composite types and functions are placed by what they use: with the domains when they use
no table or view (a domain's check may call a function; a function may take a domain), with
the tables when they use a table (its row type, a table in a `BEGIN ATOMIC` body) and no view
(a table's default, generated column or index may call it), after the tables otherwise.
Within such a place, `ordered` puts each object after what it uses (before it, for drops)."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from typing import TypeVar

from nself.schema.model import Definition, Schema

T = TypeVar("T")

EARLY, WITH_TABLES, LATE = 0, 1, 2


def tier(definition: Definition, tables: set[str], views: set[str]) -> int:
    """Where DEFINITION goes: EARLY (with the domains), WITH_TABLES, or LATE (after the
    tables, with the views, triggers and policies)."""
    if definition.kind not in ("function", "type"):
        return LATE
    if any(x in views for x in definition.depends_on):
        return LATE
    if any(x in tables for x in definition.depends_on):
        return WITH_TABLES
    return EARLY


def relations(schema: Schema) -> tuple[set[str], set[str]]:
    """The qualified names of SCHEMA's tables and of its views (and materialized views)."""
    return ({t.qualified for t in schema.tables},
            {d.qualified for d in schema.definitions
             if d.kind in ("view", "materialized view")})


def needs(schema: Schema) -> dict[str, set[str]]:
    """Qualified name -> the qualified names it uses: tables (and a partition its parent),
    domains, definitions."""
    found: dict[str, set[str]] = {}
    for t in schema.tables:
        found[t.qualified] = set(t.uses) | ({t.partition_of} if t.partition_of else set())
    for d in schema.domains:
        found[d.qualified] = set(d.uses)
    for d in schema.definitions:
        found.setdefault(d.qualified, set()).update(d.depends_on)
    return found


def ordered(items: Iterable[T], name_of: Callable[[T], str], uses: dict[str, set[str]],
            reverse: bool = False) -> list[T]:
    """ITEMS grouped by name (a group keeps its order), each group after the groups it uses
    (before them with REVERSE, as drops go); otherwise in the order given. A cycle is broken
    at the earliest group."""
    groups: dict[str, list[T]] = {}
    for item in items:
        groups.setdefault(name_of(item), []).append(item)
    names = list(groups)
    position = {n: i for i, n in enumerate(names)}
    edges: dict[str, set[str]] = {n: set() for n in names}   # n -> what must come first
    for n in names:
        for m in uses.get(n, ()):
            if m in position and m != n:
                if reverse:
                    edges[m].add(n)
                else:
                    edges[n].add(m)
    if not any(edges.values()):
        return [item for n in names for item in groups[n]]
    waiting = {n: len(e) for n, e in edges.items()}
    then: dict[str, list[str]] = {n: [] for n in names}
    for n, first in edges.items():
        for m in first:
            then[m].append(n)
    ready = [position[n] for n in names if not waiting[n]]
    heapq.heapify(ready)
    done: list[str] = []
    placed: set[str] = set()
    while len(done) < len(names):
        if not ready:  # a cycle: the earliest group still waiting goes now
            heapq.heappush(ready, min(position[n] for n in names if n not in placed))
        n = names[heapq.heappop(ready)]
        if n in placed:
            continue
        placed.add(n)
        done.append(n)
        for m in then[n]:
            waiting[m] -= 1
            if waiting[m] == 0 and m not in placed:
                heapq.heappush(ready, position[m])
    return [item for n in done for item in groups[n]]

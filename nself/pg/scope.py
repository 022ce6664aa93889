"""What one run calls the database: the whole of it, or one tenant's schema.

Normally nself keeps its tables in the schema `nself` and every schema but PostgreSQL's,
nself's and extensions' is the user's (`catalog.USER_SCHEMA_WHERE`). A fleet's schema
target (schema per tenant) runs with a *tenant scope*: nself's tables live in the tenant's
own bookkeeping schema (`nself_<tenant>`: its own tracking table, progress rows, recorded
environment and layout version), and the tenant's schema is the only user schema (its
drift fingerprint is its own, not its neighbours').

The SQL that names nself's tables (`nself.migrations`) or the user schemas is written once,
for the whole database, as `Scoped` text: psycopg renders it when it runs (`as_bytes`), and
str() or .format() renders it where it is composed, for the scope of the thread running it
(a context variable: the fleet runs each target in a thread of its own).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from psycopg import sql

OWN = "nself"
MAX_NAME_BYTES = 63
# the predicate's first line in catalog.USER_SCHEMA_WHERE: in a tenant scope, only the tenant
EVERY_USER_SCHEMA = "n.nspname NOT IN ('pg_catalog', 'information_schema', 'nself')"
# nself's own schema where SQL names it: a table in it, the schema itself, its name as text
_OWN_TABLE = re.compile(r"(?<![\w\"$])nself\.(?=[a-z_]+\b)")
_OWN_SCHEMA = re.compile(r"\bSCHEMA nself\b")
_OWN_NAME = re.compile(r"'nself'(?!')")
_PLAIN = re.compile(r"[a-z_][a-z0-9_]*")


@dataclass(frozen=True)
class Scope:
    """Where nself's tables are (`own`) and, for a tenant scope, the one user schema."""

    own: str = OWN
    tenant: str | None = None

    def render(self, text: str) -> str:
        """TEXT (written for the whole database) for this scope."""
        if self.tenant is None:
            return text
        literal = "'" + self.tenant.replace("'", "''") + "'"
        text = text.replace(EVERY_USER_SCHEMA, f"n.nspname = {literal}")
        text = _OWN_TABLE.sub(f"{self.own}.", text)
        text = _OWN_SCHEMA.sub(f"SCHEMA {self.own}", text)
        return _OWN_NAME.sub(f"'{self.own}'", text)


WHOLE = Scope()
_current: ContextVar[Scope | None] = ContextVar("nself_scope", default=None)


def current() -> Scope:
    """The scope of this thread's run: the whole database unless `tenant` set one."""
    return _current.get() or WHOLE


def own_schema(tenant: str) -> str:
    """The bookkeeping schema of TENANT: nself_<tenant> when that is a plain name of at most
    63 bytes, else nself_<16 hex digits of its md5> (always a plain, unquoted name)."""
    name = f"{OWN}_{tenant}"
    if _PLAIN.fullmatch(name) and len(name) <= MAX_NAME_BYTES:
        return name
    return f"{OWN}_{hashlib.md5(tenant.encode()).hexdigest()[:16]}"


@contextmanager
def tenant(schema: str) -> Iterator[Scope]:
    """The tenant scope of SCHEMA for the block (this thread only)."""
    token = _current.set(Scope(own_schema(schema), schema))
    try:
        yield current()
    finally:
        _current.reset(token)


class Scoped(sql.Composable):
    """SQL written for the whole database, rendered for the current scope when it runs."""

    def __init__(self, text: str):
        super().__init__(text)

    @property
    def text(self) -> str:
        return current().render(self._obj)

    def as_bytes(self, context=None) -> bytes:
        return self.text.encode()

    def as_string(self, context=None) -> str:
        return self.text

    def __str__(self) -> str:
        return self.text

    def format(self, *args, **kwargs) -> str:
        return self.text.format(*args, **kwargs)

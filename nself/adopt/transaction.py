"""Transaction statements in another tool's SQL scripts.

Sqitch scripts and Django's `sqlmigrate` output open and close their own transaction
(`BEGIN;` ... `COMMIT;`), and Alembic's `--sql` output does too: nself runs each migration
in its own transaction (or statement by statement with the no-transaction directive), so
those statements are taken out, their lines left blank so that lines still match the
source file's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nself import sql
from nself.adopt.source import Problem

OPENS = ("TransactionStmt:TRANS_STMT_BEGIN", "TransactionStmt:TRANS_STMT_START")
CLOSES = ("TransactionStmt:TRANS_STMT_COMMIT",)


def statements(text: str) -> list[sql.Statement] | None:
    """Every statement of `text` with its parse tree; None when PostgreSQL cannot parse it
    (the core then names the line)."""
    try:
        return sql.split(text, parse=True)
    except sql.SqlSyntaxError:
        return None


def blank(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with each (start, end) span, and the `;` just after it, replaced by nothing
    but the line breaks it held."""
    parts, at = [], 0
    for start, end in sorted(spans):
        parts.append(text[at:start])
        tail = re.match(r"\s*;", text[end:])
        stop = end + tail.end() if tail else end
        parts.append("\n" * text.count("\n", start, stop))
        at = stop
    parts.append(text[at:])
    return "".join(parts)


@dataclass
class Unwrapped:
    """A script without its own BEGIN/COMMIT: `wrapped` when it had both, `inside` the
    transaction statements left in it (each a line of `text`)."""

    text: str
    wrapped: bool
    inside: list[sql.Statement]


def unwrap(text: str) -> Unwrapped:
    """Take out a BEGIN that opens `text` and the COMMIT that ends it."""
    found = statements(text)
    if not found:
        return Unwrapped(text, False, [])
    wrapped = found[0].kind in OPENS and found[-1].kind in CLOSES and len(found) > 1
    if wrapped:
        text = blank(text, [(found[0].start, found[0].end), (found[-1].start, found[-1].end)])
        found = found[1:-1]
    return Unwrapped(text, wrapped, [s for s in found if s.kind.startswith("TransactionStmt")])


def report_inside(script: Unwrapped, shown: str, problems: list[Problem]) -> None:
    """A problem for each transaction statement left inside a script."""
    for statement in script.inside:
        problems.append(Problem(shown, statement.line, f"`{statement.text.strip()}` inside the "
                                "script: nself runs a migration in one transaction (or, "
                                "without BEGIN/COMMIT around it, statement by statement)"))


def ordered_keys(names: list[str], numbers: list[int | None]) -> list[tuple]:
    """The ordering key of each name for a tool that orders by name: the number when every
    name has one and the numbers keep the names' order (then the number stays nself's
    version), else the name itself."""
    if all(n is not None for n in numbers):
        pairs = sorted(zip(names, numbers, strict=True))
        if [n for _, n in pairs] == sorted(n for _, n in pairs) and len(set(numbers)) == len(
                numbers):
            return [(n,) for n in numbers]
    return [(name,) for name in names]

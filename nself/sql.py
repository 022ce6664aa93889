"""SQL text as statements: where each one starts, and what it does, read from its parse tree.

The one home of SQL parsing for running SQL (migrations, seeds, the engine's error lines):
`split` cuts a text into `Statement`s with one pglast parse, finds every statement's line
in one pass over the text, and classifies a statement from its parse tree: whether it can
run in a transaction block, whether it destroys data (and why), whether it changes a
session setting or adds an enum value, and the table lock it takes. A keyword in a comment
or a string literal is never a hit.

Building a Python parse tree costs far more than cutting the text, so a statement gets a
tree only when it holds one of the words its kind would need (`TREE_WORDS`): keywords are
never quoted, so a statement without any of them is none of the kinds classified here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

# A line ends with CRLF, CR or LF, as editors on every system write them.
LINE_BREAK = re.compile(r"(\r\n|\r|\n)")
# Every statement kind `classify` tells apart holds one of these keywords. Matched on the
# lower-cased text, each a whole word (not part of an identifier); the lookahead on the
# first letter lets the scan skip most positions at once (4-8x faster than `(?i)\b...\b`).
TREE_WORDS = re.compile(
    r"(?<![a-z0-9_$])(?=[abcdeoprstuv])(?:begin|start|commit|end|rollback|abort|savepoint|"
    r"release|prepare|concurrently|vacuum|database|tablespace|system|subscription|reindex|"
    r"cluster|discard|drop|truncate|delete|update|alter|set|set_config|reset|do|owned|call)"
    r"(?![a-z0-9_$])")

# Statements that cannot run inside a transaction block, whatever their options.
SIMPLE_NO_TRANSACTION = {
    "VacuumStmt": "VACUUM", "CreatedbStmt": "CREATE DATABASE", "DropdbStmt": "DROP DATABASE",
    "AlterSystemStmt": "ALTER SYSTEM", "CreateTableSpaceStmt": "CREATE TABLESPACE",
    "DropTableSpaceStmt": "DROP TABLESPACE", "CreateSubscriptionStmt": "CREATE SUBSCRIPTION",
    "DropSubscriptionStmt": "DROP SUBSCRIPTION", "DiscardStmt": "DISCARD ALL"}

# DROP of these loses rows (or a sequence's counter); a view, index or function is code.
DATA_HOLDING = {"OBJECT_TABLE": "TABLE", "OBJECT_SCHEMA": "SCHEMA",
                "OBJECT_MATVIEW": "MATERIALIZED VIEW", "OBJECT_SEQUENCE": "SEQUENCE",
                "OBJECT_FOREIGN_TABLE": "FOREIGN TABLE"}

# Column types as PostgreSQL's format_type() writes them, by the names a parse gives.
TYPE_NAMES = {"int2": "smallint", "int4": "integer", "int8": "bigint", "float4": "real",
              "float8": "double precision", "varchar": "character varying",
              "bpchar": "character", "bool": "boolean", "timestamptz":
              "timestamp with time zone", "timestamp": "timestamp without time zone",
              "timetz": "time with time zone", "time": "time without time zone"}
# old type -> new types that hold every value of it unchanged (an ALTER COLUMN ... TYPE
# between them, without USING, loses nothing)
WIDER = {
    "smallint": {"integer", "bigint", "numeric"},
    "integer": {"bigint", "numeric"},
    "bigint": {"numeric"},
    "real": {"double precision"},
    "character varying": {"text", "character varying"},
    "text": {"character varying"},
    "json": {"text"},  # not jsonb: it drops duplicate keys and the spacing
}

# The table lock a statement takes (PostgreSQL's "Explicit Locking" chapter), by kind.
LOCKS = {
    "SelectStmt": "ACCESS SHARE", "InsertStmt": "ROW EXCLUSIVE",
    "UpdateStmt": "ROW EXCLUSIVE", "DeleteStmt": "ROW EXCLUSIVE", "MergeStmt": "ROW EXCLUSIVE",
    "CopyStmt": "ROW EXCLUSIVE", "DropStmt": "ACCESS EXCLUSIVE",
    "TruncateStmt": "ACCESS EXCLUSIVE", "RenameStmt": "ACCESS EXCLUSIVE",
    "ClusterStmt": "ACCESS EXCLUSIVE", "CreateTrigStmt": "SHARE ROW EXCLUSIVE",
    "CreateStatsStmt": "SHARE UPDATE EXCLUSIVE", "CommentStmt": "SHARE UPDATE EXCLUSIVE"}
# ALTER TABLE subcommands that take less than ACCESS EXCLUSIVE
ALTER_TABLE_LOCKS = {
    "AT_SetStatistics": "SHARE UPDATE EXCLUSIVE", "AT_ValidateConstraint":
    "SHARE UPDATE EXCLUSIVE", "AT_ClusterOn": "SHARE UPDATE EXCLUSIVE",
    "AT_DropCluster": "SHARE UPDATE EXCLUSIVE", "AT_AttachPartition": "SHARE UPDATE EXCLUSIVE",
    "AT_EnableTrig": "SHARE ROW EXCLUSIVE", "AT_DisableTrig": "SHARE ROW EXCLUSIVE",
    "AT_EnableTrigAll": "SHARE ROW EXCLUSIVE", "AT_DisableTrigAll": "SHARE ROW EXCLUSIVE",
    "AT_EnableTrigUser": "SHARE ROW EXCLUSIVE", "AT_DisableTrigUser": "SHARE ROW EXCLUSIVE"}
# Statements that run a query as they are executed (their subqueries and CTEs included)
RUNS_QUERY = {"SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt",
              "CreateTableAsStmt", "CopyStmt", "DeclareCursorStmt"}
LOCK_STRENGTH = ["", "ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE",
                 "SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"]


class SqlSyntaxError(ValueError):
    """PostgreSQL's parser refused the text; `offset` is where (the best guess when the
    parser gave no position), as a character offset into the text."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.message = message
        self.offset = offset


def lines_at(text: str, offsets: list[int]) -> list[int]:
    """The 1-based lines of ascending character `offsets` in `text`: one pass over both."""
    breaks = [m.end() for m in LINE_BREAK.finditer(text)]
    found, passed = [], 0
    for offset in offsets:
        while passed < len(breaks) and breaks[passed] <= offset:
            passed += 1
        found.append(passed + 1)
    return found


def line_of(text: str, offset: int) -> int:
    """The 1-based line of character `offset` in `text` (one lookup; `lines_at` for many)."""
    return len(LINE_BREAK.findall(text, 0, offset)) + 1


@dataclass(frozen=True)
class TypeChange:
    """An ALTER COLUMN ... TYPE: the column and the type it gets (as format_type writes it)."""

    schema: str
    table: str
    column: str
    new_type: str
    using: bool  # a USING expression: anything may happen to the values

    def loses_data(self, old_type: str | None) -> bool:
        """Whether changing from `old_type` (None: unknown) can change or drop a value."""
        if self.using or old_type is None:
            return True
        return not widens(old_type, self.new_type)

    def __str__(self) -> str:
        table = f"{self.schema}.{self.table}" if self.schema else self.table
        return f"ALTER COLUMN {table}.{self.column} TYPE {self.new_type}"


def widens(old: str, new: str) -> bool:
    """Whether every value of type `old` survives unchanged as type `new`."""
    if old == new:
        return True
    old_base, old_args = _type_parts(old)
    new_base, new_args = _type_parts(new)
    if old_base.endswith("[]") or new_base.endswith("[]"):
        if not (old_base.endswith("[]") and new_base.endswith("[]")):
            return False
        return widens(old.replace("[]", ""), new.replace("[]", ""))
    if old_base == new_base == "character varying":
        return not new_args or (bool(old_args) and new_args[0] >= old_args[0])
    if old_base == new_base == "numeric":
        if not new_args:
            return True
        if not old_args:
            return False
        old_scale = old_args[1] if len(old_args) > 1 else 0
        new_scale = new_args[1] if len(new_args) > 1 else 0
        return new_scale >= old_scale and new_args[0] - new_scale >= old_args[0] - old_scale
    if new_base == "character varying" and new_args:
        return False
    if new_base == "numeric" and new_args:
        return False
    return new_base in WIDER.get(old_base, ())


def _type_parts(name: str) -> tuple[str, list[int]]:
    match = re.match(r"^([^(]+?)(?:\(([\d,\s]+)\))?(\[\])?$", name.strip())
    if not match:
        return name, []
    args = [int(a) for a in match.group(2).split(",")] if match.group(2) else []
    return match.group(1) + (match.group(3) or ""), args


@dataclass(frozen=True)
class Statement:
    """One statement of a text: its SQL, the line it starts on, its offsets in the text,
    and what its parse tree tells (empty for a statement that needed no tree)."""

    text: str
    line: int
    start: int = 0
    end: int = 0
    kind: str = ""            # the parse node's name ("DropStmt", "TransactionStmt:...")
    no_transaction: str = ""  # why it cannot run in a transaction block, if it cannot
    target: str = ""          # the index, database or enum type it creates or drops
    schema: str = ""          # the schema the statement names for `target` ("" = search_path)
    relation: str = ""        # CREATE INDEX CONCURRENTLY: the table it indexes
    value: str = ""           # ALTER TYPE ... ADD VALUE: the new label
    destroys: str = ""        # what data it destroys ("DROP TABLE audit"); "" if none
    type_changes: tuple[TypeChange, ...] = ()  # ALTER COLUMN ... TYPE, lossy or not by type
    sets_session: bool = False  # may change a session setting (SET, set_config, DO)
    # procedures it CALLs (a CALL, or a DO block's CALLs): one of them may COMMIT inside,
    # which only the catalog can tell (`commits_inside` on their bodies)
    procedures: tuple[str, ...] = ()
    node: object = field(default=None, compare=False, repr=False)

    @property
    def adds_enum_value(self) -> bool:
        return self.kind == "AlterEnumStmt" and bool(self.value)

    @cached_property
    def lock(self) -> str:
        """The strongest table lock the statement takes ("" when it takes none)."""
        return lock_of(self.node if self.node is not None else _parse_one(self.text))


def split(text: str, first_line: int = 1, parse: bool = False) -> list[Statement]:
    """The statements of `text` with their lines (`first_line` is the text's first line),
    classified from their parse trees; `parse` builds every statement's tree (its `kind`
    is then always known). Raises `SqlSyntaxError` for text PostgreSQL cannot parse."""
    spans = slices(text)
    lines = lines_at(text, [start for start, _ in spans])
    wanted = [parse] * len(spans)
    if not parse:
        hits = word_hits(text)
        h = 0
        for i, (start, end) in enumerate(spans):
            while h < len(hits) and hits[h] < start:
                h += 1
            wanted[i] = h < len(hits) and hits[h] < end
    trees = _trees(text, spans, wanted)
    statements = []
    for (start, end), node, at in zip(spans, trees, lines, strict=True):
        line = first_line + at - 1
        body = text[start:end]
        if node is None:
            statements.append(Statement(body, line, start, end))
        else:
            statements.append(Statement(body, line, start, end, node=node, **classify(node)))
    return statements


def word_hits(text: str) -> list[int]:
    """The offsets of `TREE_WORDS` in `text`."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a letter whose lower case is longer (İ): offsets move
        return [m.start() for m in re.finditer(TREE_WORDS.pattern, text, re.IGNORECASE)]
    return [m.start() for m in TREE_WORDS.finditer(lowered)]


def slices(text: str) -> list[tuple[int, int]]:
    """(start, end) of each statement of `text`, without its `;` (one parse, no tree)."""
    from pglast import parser

    try:
        return [(s.start, s.stop) for s in parser.split(text, with_parser=True,
                                                        only_slices=True)]
    except parser.ParseError as exc:
        raise syntax_error(text, exc) from None


def texts(text: str) -> list[str]:
    """The statements of `text` as strings, stripped, without their `;`."""
    return [text[a:b].strip() for a, b in slices(text) if text[a:b].strip()]


def identifiers(text: str) -> list[str]:
    """The identifiers of SQL `text` as its author wrote them (quotes removed), before
    the parser cuts them to 63 bytes; comments and string literals hold none."""
    from pglast import parser

    try:
        tokens = parser.scan(text)  # offsets in characters
    except parser.ParseError as exc:
        raise syntax_error(text, exc) from None
    names = []
    for token in tokens:
        if token.name == "IDENT":
            word = text[token.start:token.end + 1]
            names.append(word[1:-1].replace('""', '"') if word.startswith('"') else word)
    return names


def _parse_one(text: str):
    import pglast

    return pglast.parse_sql(text)[0].stmt


def _trees(text: str, spans: list[tuple[int, int]], wanted: list[bool]) -> list:
    """The parse tree of every wanted statement (None for the others): the whole text in
    one parse when most are wanted, else each wanted statement alone."""
    count = sum(wanted)
    if not count:
        return [None] * len(spans)
    import pglast

    if count * 2 > len(spans):
        raws = pglast.parse_sql(text)
        if len(raws) == len(spans):
            return [raw.stmt if want else None for raw, want in zip(raws, wanted, strict=True)]
    return [_parse_one(text[a:b]) if want else None
            for (a, b), want in zip(spans, wanted, strict=True)]


def syntax_error(text: str, exc) -> SqlSyntaxError:
    """pglast's ParseError as a SqlSyntaxError with an offset, found when pglast gave none
    (an error at the end of the input, a bad byte from an escape)."""
    message = exc.args[0] if exc.args else str(exc)
    location = exc.args[1] if len(exc.args) > 1 else None
    if location is None:
        location = _best_offset(text, message)
    return SqlSyntaxError(message, max(0, min(int(location), len(text))))


def _best_offset(text: str, message: str) -> int:
    """Where an error without a position is: the start of the statement that fails alone
    (the unfinished one at the end), or the first line whose end makes the scanner fail."""
    from pglast import parser

    try:
        spans = list(parser.split(text, with_parser=False, only_slices=True))
    except parser.ParseError as exc:
        if len(exc.args) > 1 and exc.args[1] is not None:
            return exc.args[1]
        return _first_failing_line_end(text, message)
    for s in spans:
        try:
            parser.split(text[s], with_parser=True, only_slices=True)
        except parser.ParseError as exc:
            inner = exc.args[1] if len(exc.args) > 1 and exc.args[1] is not None else 0
            return s.start + inner
    tail = spans[-1].stop if spans else 0
    try:
        tokens = [t for t in parser.scan(text[tail:]) if t.name != "ASCII_59"]  # not a `;`
    except parser.ParseError:
        tokens = []
    return tail + tokens[0].start if tokens else len(text)


def _first_failing_line_end(text: str, message: str) -> int:
    """The start of the first line at whose end the scanner already fails with `message`
    (a binary search over line ends: the scan reads left to right)."""
    from pglast import parser

    ends = [m.start() for m in LINE_BREAK.finditer(text)] + [len(text)]

    def fails(end: int) -> bool:
        try:
            parser.scan(text[:end])
        except parser.ParseError as exc:
            return (exc.args[0] if exc.args else "") == message
        return False

    low, high = 0, len(ends) - 1
    while low < high:
        middle = (low + high) // 2
        if fails(ends[middle]):
            high = middle
        else:
            low = middle + 1
    return ends[low - 1] + 1 if low else 0


# Classification ----------------------------------------------------------------------------


def classify(node) -> dict:
    """The Statement fields a parse tree tells."""
    kind = type(node).__name__
    found = _transaction_fields(node, kind)
    found["kind"] = found.get("kind", kind)
    if kind == "CallStmt":
        found["procedures"] = (".".join(p.sval for p in node.funccall.funcname),)
    elif kind == "DoStmt":
        commits, procedures = commits_inside(_do_tree(node))
        if commits:
            # COMMIT/ROLLBACK inside fails in a transaction block ("invalid transaction
            # termination"): it runs on its own, like CREATE INDEX CONCURRENTLY
            found["no_transaction"] = f"DO block with {commits}"
        found["procedures"] = procedures
    destroys, changes = destruction(node)
    if destroys:
        found["destroys"] = destroys
    if changes:
        found["type_changes"] = changes
    found["sets_session"] = sets_session(node)
    return found


def _transaction_fields(node, kind: str) -> dict:
    """Why it cannot run in a transaction block (or nothing), and the object whose existence
    says whether it took effect."""
    if kind == "IndexStmt" and node.concurrent:
        rel = node.relation
        table = f"{rel.schemaname}.{rel.relname}" if rel.schemaname else rel.relname
        return {"no_transaction": "CREATE INDEX CONCURRENTLY", "target": node.idxname or "",
                "schema": rel.schemaname or "", "relation": table}
    if kind == "DropStmt" and node.concurrent:
        names = [getattr(part, "sval", "") for part in (node.objects or ((),))[0]]
        return {"no_transaction": "DROP INDEX CONCURRENTLY",
                "target": names[-1] if names else "",
                "schema": names[-2] if len(names) > 1 else ""}
    if kind == "ReindexStmt":
        if any(getattr(p, "defname", "") == "concurrently" for p in node.params or ()):
            return {"no_transaction": "REINDEX CONCURRENTLY"}
        if node.kind.name in ("REINDEX_OBJECT_DATABASE", "REINDEX_OBJECT_SYSTEM"):
            return {"no_transaction": "REINDEX "
                    + node.kind.name.removeprefix("REINDEX_OBJECT_")}
    if kind == "AlterTableStmt" and any(
            getattr(getattr(c, "def_", None), "concurrent", False) for c in node.cmds or ()):
        return {"no_transaction": "DETACH PARTITION CONCURRENTLY"}
    if kind == "ClusterStmt" and node.relation is None:
        return {"no_transaction": "CLUSTER without a table"}
    if kind == "AlterEnumStmt" and node.newVal is not None and node.oldVal is None:
        # cannot run in a transaction block before PostgreSQL 12 (plan.needs_autocommit)
        return {"target": ".".join(p.sval for p in node.typeName), "value": node.newVal}
    if kind == "VacuumStmt" and not node.is_vacuumcmd:
        return {}  # ANALYZE runs fine in a transaction
    if kind == "DiscardStmt" and node.target.name != "DISCARD_ALL":
        return {}
    if kind in SIMPLE_NO_TRANSACTION:
        target = getattr(node, "dbname", "") if kind in ("CreatedbStmt", "DropdbStmt") else ""
        return {"no_transaction": SIMPLE_NO_TRANSACTION[kind], "target": target or ""}
    if kind == "TransactionStmt":
        return {"kind": f"TransactionStmt:{node.kind.name}"}
    return {}


def destruction(node) -> tuple[str, tuple[TypeChange, ...]]:
    """What data the statement destroys ("" if none it can tell), and its column type
    changes (whether those lose data depends on the column's current type)."""
    kind = type(node).__name__
    if kind == "DropStmt":
        what = DATA_HOLDING.get(node.removeType.name)
        cascade = node.behavior.name == "DROP_CASCADE"
        if what is None and not cascade:
            return "", ()
        noun = what or node.removeType.name.removeprefix("OBJECT_").replace("_", " ")
        names = ", ".join(_dotted(o) for o in node.objects or ())
        return f"DROP {noun} {names}" + (" CASCADE" if cascade else ""), ()
    if kind == "DropdbStmt":
        return f"DROP DATABASE {node.dbname}", ()
    if kind == "DropOwnedStmt":
        return "DROP OWNED (every object the roles own)", ()
    if kind == "TruncateStmt":
        return "TRUNCATE " + ", ".join(_range(r) for r in node.relations or ()), ()
    if kind == "AlterTableStmt":
        return _alter_table(node)
    if kind == "DoStmt":
        return _do_block(node)
    found = []
    for n in _run_nodes(node):
        kind = type(n).__name__
        if kind in ("DeleteStmt", "UpdateStmt") and n.whereClause is None:
            found.append(f"{'DELETE' if kind == 'DeleteStmt' else 'UPDATE'} "
                         f"{_range(n.relation)} without WHERE")
        elif kind == "MergeStmt":
            found += _merge_deletes(n)
    return "; ".join(found), ()


# MergeWhenClause.matchKind as a MERGE says it (BY SOURCE: PostgreSQL 17)
MERGE_MATCH = {"MERGE_WHEN_MATCHED": "WHEN MATCHED",
               "MERGE_WHEN_NOT_MATCHED_BY_SOURCE": "WHEN NOT MATCHED BY SOURCE"}


def _merge_deletes(node) -> list[str]:
    """A MERGE's DELETE actions: each one counts, with its AND condition or without. Its
    ON clause narrows it no more than DELETE ... USING's join does, and `WHEN NOT MATCHED
    BY SOURCE THEN DELETE` deletes every row the source does not name."""
    return [f"MERGE INTO {_range(node.relation)} {MERGE_MATCH.get(w.matchKind.name, 'WHEN')}"
            f"{' AND ...' if w.condition is not None else ''} THEN DELETE"
            for w in node.mergeWhenClauses or () if w.commandType.name == "CMD_DELETE"]


def _do_block(node) -> tuple[str, tuple[TypeChange, ...]]:
    """What the SQL statements of a PL/pgSQL DO block destroy: its statements and the
    EXECUTEs of a constant string. A dynamic EXECUTE ('DROP TABLE ' || name), a called
    function and a body PL/pgSQL cannot compile are not looked into."""
    tree = _do_tree(node)
    if tree is None:
        return "", ()
    reasons, changes = [], []
    for query in _plpgsql_queries(tree):
        try:
            statements = body_statements(query)
        except SqlSyntaxError:
            continue
        for st in statements:
            if st.destroys:
                reasons.append(f"DO block: {st.destroys}")
            changes += st.type_changes
    return "; ".join(reasons), tuple(changes)


@lru_cache(maxsize=256)
def body_statements(query: str) -> tuple[Statement, ...]:
    """`split(query, parse=True)` of SQL found in a DO block or routine body, remembered:
    the classification of the block and lint both read it (a parse tree costs more than
    the statement)."""
    return tuple(split(query, parse=True))


def _do_tree(node):
    """The parsed PL/pgSQL of a DO block (None when it is another language or does not
    compile)."""
    options = {o.defname: getattr(o.arg, "sval", None) for o in node.args or ()}
    body = options.get("as")
    if body is None or (options.get("language") or "plpgsql").lower() != "plpgsql":
        return None
    return plpgsql_tree(body)


def plpgsql_tree(body: str):
    """The parse of a DO block's PL/pgSQL `body`, None when it does not compile."""
    tag = "nself_do"
    while f"${tag}$" in body:
        tag += "_"
    return routine_tree(f"CREATE FUNCTION nself_do() RETURNS void LANGUAGE plpgsql AS "
                        f"${tag}${body}${tag}$")


@lru_cache(maxsize=64)
def routine_tree(definition: str):
    """The parse of a PL/pgSQL routine's CREATE statement (as pg_get_functiondef writes
    it: its parameters are the body's variables), None when it does not compile."""
    import pglast

    try:
        return pglast.parse_plpgsql(definition)
    except pglast.parser.ParseError:
        return None


def commits_inside(tree) -> tuple[str, tuple[str, ...]]:
    """What a parsed PL/pgSQL body does to its transaction ("COMMIT", "ROLLBACK",
    "COMMIT and ROLLBACK" or ""), and the procedures it CALLs (their names as written)."""
    ends, procedures, stack = set(), [], [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            for key in ("PLpgSQL_stmt_commit", "PLpgSQL_stmt_rollback"):
                if key in item:
                    ends.add(key.removeprefix("PLpgSQL_stmt_").upper())
            if "PLpgSQL_stmt_call" in item:  # a CALL, or a DO block inside (is_call false)
                call = _parse_call(item["PLpgSQL_stmt_call"]["expr"]["PLpgSQL_expr"]["query"])
                if type(call).__name__ == "CallStmt":
                    procedures.append(".".join(p.sval for p in call.funccall.funcname))
                elif type(call).__name__ == "DoStmt":
                    inner, called = commits_inside(_do_tree(call))
                    ends.update(inner.split(" and ") if inner else ())
                    procedures += called
            stack.extend(reversed(list(item.values())))
    return " and ".join(sorted(ends)), tuple(dict.fromkeys(procedures))


def _parse_call(query: str):
    from pglast import parser

    try:
        return _parse_one(query)
    except parser.ParseError:
        return None


def _plpgsql_queries(tree) -> list[str]:
    """The SQL a parsed PL/pgSQL function runs: its statements, and EXECUTE of a constant."""
    found, stack = [], [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            if "PLpgSQL_stmt_execsql" in item:
                found.append(item["PLpgSQL_stmt_execsql"]["sqlstmt"]["PLpgSQL_expr"]["query"])
            elif "PLpgSQL_stmt_dynexecute" in item:
                text = _constant(item["PLpgSQL_stmt_dynexecute"]["query"]["PLpgSQL_expr"]
                                 ["query"])
                if text is not None:
                    found.append(text)
            else:
                stack.extend(reversed(list(item.values())))
    return found


def _constant(text: str) -> str | None:
    """The value of expression `text` when it is one string literal, else None."""
    try:
        node = expression(text)
    except SqlSyntaxError:
        return None
    return getattr(getattr(node, "val", None), "sval", None)


def expression(text: str):
    """The parse tree of the one SQL expression `text` (`SqlSyntaxError` when it is not)."""
    from pglast import parser

    try:
        targets = _parse_one(f"SELECT {text}").targetList
    except parser.ParseError as exc:
        raise syntax_error(text, exc) from None
    if targets is None or len(targets) != 1:
        raise SqlSyntaxError(f"not one expression: {text}", 0)
    return targets[0].val


def _alter_table(node) -> tuple[str, tuple[TypeChange, ...]]:
    table = _range(node.relation)
    dropped, changes = [], []
    for cmd in node.cmds or ():
        sub = cmd.subtype.name
        if sub == "AT_DropColumn":
            noun = "ATTRIBUTE" if node.objtype.name == "OBJECT_TYPE" else "COLUMN"
            dropped.append(f"DROP {noun} {table}.{cmd.name}"
                           + (" CASCADE" if cmd.behavior.name == "DROP_CASCADE" else ""))
        elif sub == "AT_AlterColumnType" and node.objtype.name != "OBJECT_TYPE":
            definition = cmd.def_
            changes.append(TypeChange(node.relation.schemaname or "", node.relation.relname,
                                      cmd.name, type_name(definition.typeName),
                                      definition.raw_default is not None))
    return "; ".join(dropped), tuple(changes)


def type_name(node) -> str:
    """A parsed type as format_type() writes it (`character varying(20)`, `bigint[]`)."""
    names = [n.sval for n in node.names]
    if names[0] == "pg_catalog" and len(names) == 2:
        names = names[1:]
    base = ".".join(TYPE_NAMES.get(n, n) for n in names)
    args = []
    for mod in node.typmods or ():
        value = getattr(getattr(mod, "val", None), "ival", None)
        args.append(str(value) if value is not None else "?")
    shown = base + (f"({','.join(args)})" if args else "")
    return shown + "[]" * len(node.arrayBounds or ())


def sets_session(node) -> bool:
    """Whether running it may leave a session setting changed: SET, RESET, set_config(),
    or a DO block (its body is not looked into)."""
    if type(node).__name__ in ("VariableSetStmt", "DoStmt"):
        return True
    return any(type(n).__name__ == "FuncCall" and n.funcname[-1].sval == "set_config"
               for n in _run_nodes(node))


def lock_of(node) -> str:
    """The strongest table lock statement `node` takes ("" when none is known)."""
    kind = type(node).__name__
    if kind == "IndexStmt":
        return "SHARE UPDATE EXCLUSIVE" if node.concurrent else "SHARE"
    if kind == "DropStmt" and node.concurrent:
        return "SHARE UPDATE EXCLUSIVE"
    if kind == "AlterTableStmt":
        modes = [ALTER_TABLE_LOCKS.get(c.subtype.name, "ACCESS EXCLUSIVE")
                 for c in node.cmds or ()]
        if any(getattr(getattr(c, "def_", None), "concurrent", False) for c in node.cmds or ()):
            modes = ["SHARE UPDATE EXCLUSIVE"]
        return max(modes, key=LOCK_STRENGTH.index, default="ACCESS EXCLUSIVE")
    if kind == "VacuumStmt":
        full = any(getattr(o, "defname", "") == "full" for o in node.options or ())
        return "ACCESS EXCLUSIVE" if full else "SHARE UPDATE EXCLUSIVE"
    if kind == "RefreshMatViewStmt":
        return "EXCLUSIVE" if node.concurrent else "ACCESS EXCLUSIVE"
    if kind == "ReindexStmt":
        concurrently = any(getattr(p, "defname", "") == "concurrently" for p in node.params or ())
        return "SHARE UPDATE EXCLUSIVE" if concurrently else "ACCESS EXCLUSIVE"
    if kind == "LockStmt":
        return LOCK_STRENGTH[node.mode] if 0 < node.mode < len(LOCK_STRENGTH) else ""
    if kind == "SelectStmt" and node.lockingClause:
        return "ROW SHARE"
    return LOCKS.get(kind, "")


def _run_nodes(node):
    """The nodes of a statement that runs a query now (a function, rule or view body
    only runs later, so it is not looked into); nothing for other statements."""
    kind = type(node).__name__
    if kind == "ExplainStmt":
        if not any(getattr(o, "defname", "") == "analyze" for o in node.options or ()):
            return ()
        node = node.query
        kind = type(node).__name__
    if kind not in RUNS_QUERY:
        return ()
    return _walk(node)


def _walk(node):
    """Every parse node in the tree under `node`, `node` included."""
    from pglast import ast

    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, ast.Node):
            yield item
            stack.extend(getattr(item, name) for name in item)
        elif isinstance(item, (tuple, list)):
            stack.extend(item)


def _range(rel) -> str:
    return f"{rel.schemaname}.{rel.relname}" if rel.schemaname else rel.relname


def _dotted(obj) -> str:
    """A DROP's object as written: a name (`s.t`), a type (`mood`), a function with its
    argument types when given (`f(integer)`), a cast (`(integer AS text)`)."""
    kind = type(obj).__name__
    if kind == "TypeName":
        return type_name(obj)
    if kind == "ObjectWithArgs":
        name = ".".join(getattr(p, "sval", "?") for p in obj.objname)
        if obj.args_unspecified:
            return name
        return f"{name}({', '.join(type_name(a) for a in obj.objargs or ())})"
    parts = obj if isinstance(obj, (tuple, list)) else (obj,)
    if parts and all(type(p).__name__ == "TypeName" for p in parts):
        return "(" + " AS ".join(type_name(p) for p in parts) + ")"
    return ".".join(getattr(p, "sval", "?") for p in parts)

"""Insert a Plan's rows in ONE transaction, record them, and remove them again (`--clear`).

Rows go in by COPY, chunk by chunk, while the next chunk is made (psycopg's queued
writer sends from a thread). A failure, Ctrl-C or kill rolls the whole run back: no mock
row stays. Which rows mock inserted is recorded in nself's schema: per run and table, a
table nself.mock_keys_<run>_<n> of keys as text (listed in nself.mock_rows): the primary
key, else a unique key of NOT NULL columns, else the whole row's text (a row equal in
every column to a mock row is indistinguishable from it). The rows are found by `xmin`:
they are exactly the rows this transaction wrote.

Large loads (at least BULK_ROWS rows, and at least as many as the table held) drop the
table's own foreign keys and its indexes that back no constraint inside the transaction
and create them again before it commits: the database then checks the foreign keys in
one join and builds each index in one sort instead of row by row (a unique one checks
every row's uniqueness as it is built). A rollback restores them untouched; primary keys
and unique constraints always stay.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from nself.errors import OperationFailed, UsageError
from nself.mock import binary as B
from nself.mock import columns as C
from nself.mock import values as V
from nself.mock.plan import ForeignKey, Plan, TablePlan
from nself.pg import catalog, layout
from nself.pg import session as pg_session

# held by a run's transaction; the key is hashtext('nself db mock'), as earlier versions took it
LOCK = pg_session.Lock("mock", 391882866, transaction=True)
CHUNK_ROWS = 20_000
BULK_ROWS = 20_000
MAX_PARENT_KEYS = 1_000_000
FK_NULL_SHARE = 0.1

COUNTERS_SQL = "SELECT table_name, next FROM nself.mock_counters"
SAVE_COUNTER_SQL = """
INSERT INTO nself.mock_counters (table_name, next) VALUES (%s, %s)
ON CONFLICT (table_name) DO UPDATE SET next = greatest(nself.mock_counters.next, EXCLUDED.next)
"""
NEW_RUN_SQL = "INSERT INTO nself.mock_runs (seed) VALUES (%s) RETURNING id"
RUN_COUNT_SQL = "UPDATE nself.mock_runs SET row_count = %s WHERE id = %s"
RECORDED_SQL = """
SELECT r.run_id, r.position, r.table_name, r.key_columns, r.null_first, r.keys_table,
       r.row_count
FROM nself.mock_rows r ORDER BY r.run_id DESC, r.position DESC
"""
OURS = "t.xmin = pg_current_xact_id()::xid"
def ident(qualified: str) -> sql.Composable:
    schema, _, name = qualified.partition(".")
    return sql.Identifier(schema, name)


@dataclass
class Outcome:
    run_id: int
    seed: int
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


class Loader:
    """One run: makes the rows of each table of the plan and sends them (in the caller's
    transaction)."""

    def __init__(self, conn: psycopg.Connection, plan: Plan, seed: int, progress=None,
                 bulk: bool = True, lock_timeout: float = pg_session.DEFAULT_TIMEOUT):
        self.conn = conn
        self.lock_timeout = lock_timeout
        self.plan = plan
        self.seed = seed
        self.progress = progress
        self.bulk = bulk
        self.done = 0
        self.keys: dict[tuple, list[tuple[str, ...]]] = {}
        self.timings: dict[str, float] = {"generate": 0.0, "copy": 0.0, "keys": 0.0,
                                          "rebuild": 0.0, "record": 0.0}

    def run(self) -> Outcome:
        started = time.perf_counter()
        conn = self.conn
        layout.ensure(conn)
        # one run at a time: a second one waits here (at most its deadline), then counts on
        # from the first's counters
        LOCK.take(conn, self.lock_timeout)
        bases = dict(conn.execute(COUNTERS_SQL).fetchall())
        run_id = conn.execute(NEW_RUN_SQL, (self.seed,)).fetchone()[0]
        if self.plan.deferred:
            conn.execute(sql.SQL("SET CONSTRAINTS {} DEFERRED").format(
                sql.SQL(", ").join(sql.SQL(name) for name in self.plan.deferred)))
        makers = {tp.qualified: self._maker(tp, bases.get(tp.qualified, 0))
                  for tp in self.plan.tables}
        self._precompute(makers)
        for tp in self.plan.tables:
            self._load(tp, makers[tp.qualified])
        self._late()
        outcome = Outcome(run_id, self.seed)
        t0 = time.perf_counter()
        for position, tp in enumerate(self.plan.tables):
            outcome.rows[tp.qualified] = self._record(run_id, position, tp)
            conn.execute(SAVE_COUNTER_SQL, (tp.qualified, bases.get(tp.qualified, 0) + tp.count))
        conn.execute(RUN_COUNT_SQL, (sum(outcome.rows.values()), run_id))
        self.timings["record"] += time.perf_counter() - t0
        outcome.seconds = time.perf_counter() - started
        outcome.timings = self.timings
        return outcome

    # -- making rows -------------------------------------------------------------

    def _maker(self, tp: TablePlan, base: int) -> RowMaker:
        starts = {}
        for name in tp.unique_ints:
            top = self.conn.execute(sql.SQL("SELECT max({}) FROM {}").format(
                sql.Identifier(name), ident(tp.qualified))).fetchone()[0]
            starts[name] = max(int(top) + 1, 1) if top is not None else 1
        return RowMaker(tp, self.seed, base, starts)

    def _precompute(self, makers: dict[str, RowMaker]) -> None:
        """Keys that deferred foreign keys point at, made before any row is sent."""
        for tp in self.plan.tables:
            for fk in tp.foreign_keys:
                if not fk.deferred:
                    continue
                parent = makers[fk.parent]
                for col in fk.ref_columns:
                    parent.precompute(self.conn, col)
                columns = [parent.fixed[c] for c in fk.ref_columns]
                self.keys[_fk_id(tp, fk)] = list(zip(*columns, strict=True))

    def _parent_keys(self, tp: TablePlan, fk: ForeignKey) -> list[tuple[str, ...]]:
        if _fk_id(tp, fk) in self.keys:
            return self.keys[_fk_id(tp, fk)]
        t0 = time.perf_counter()
        refs = [sql.Identifier(c) for c in fk.ref_columns]
        where = [sql.SQL("p.{} IS NOT NULL").format(r) for r in refs]
        if fk.unique_with_existing:
            where.append(sql.SQL("NOT EXISTS (SELECT 1 FROM {} c WHERE {})").format(
                ident(tp.qualified), sql.SQL(" AND ").join(
                    sql.SQL("c.{} = p.{}").format(sql.Identifier(a), sql.Identifier(b))
                    for a, b in zip(fk.columns, fk.ref_columns, strict=True))))
        query = sql.SQL("SELECT {} FROM {} p WHERE {} ORDER BY {} LIMIT {}").format(
            sql.SQL(", ").join(sql.SQL("p.{}::text").format(r) for r in refs),
            ident(fk.parent), sql.SQL(" AND ").join(where),
            sql.SQL(", ").join(sql.SQL("p.{}").format(r) for r in refs),
            sql.Literal(MAX_PARENT_KEYS))
        rows = self.conn.execute(query).fetchall()
        self.timings["keys"] += time.perf_counter() - t0
        self.keys[_fk_id(tp, fk)] = rows
        return rows

    def _load(self, tp: TablePlan, maker: RowMaker) -> None:
        conn = self.conn
        for fk in tp.foreign_keys:
            if fk.late:
                continue
            keys = self._parent_keys(tp, fk)
            if not keys and not fk.nullable:
                raise UsageError(
                    f"{_short(tp.qualified)}.{', '.join(fk.columns)} must point at a row of "
                    f"{_short(fk.parent)}, which has none: give {_short(fk.parent)} a count "
                    f"(--rows {_short(fk.parent)}=N) or skip {_short(tp.qualified)} "
                    f"(--skip {_short(tp.qualified)}). Nothing was inserted.")
            maker.foreign(fk, keys)
        maker.ready(self.plan)
        rebuild = self._bulk_start(tp) if self.bulk else None
        columns = tp.written
        with conn.cursor() as cur:
            if not columns:
                conn.execute(sql.SQL("INSERT INTO {} SELECT FROM generate_series(1, %s)").format(
                    ident(tp.qualified)), (tp.count,))
                self._advance(tp.count)
            else:
                binary = maker.binary
                statement = sql.SQL("COPY {} ({}) FROM STDIN{}").format(
                    ident(tp.qualified), sql.SQL(", ").join(map(sql.Identifier, columns)),
                    sql.SQL(" (FORMAT BINARY)" if binary else ""))
                t_copy = time.perf_counter()
                with cur.copy(statement, writer=QueuedLibpqWriter(cur)) as copy:
                    if binary:
                        copy.write(B.HEADER)
                    for start in range(0, tp.count, CHUNK_ROWS):
                        n = min(CHUNK_ROWS, tp.count - start)
                        t0 = time.perf_counter()
                        try:
                            data = maker.chunk(start, n)
                        except V.Unmakeable as exc:
                            raise UsageError(
                                f"{_short(tp.qualified)}: {exc}. Ask for fewer rows "
                                f"(--rows {_short(tp.qualified)}=N) or leave the table out "
                                f"(--skip {_short(tp.qualified)}). Nothing was inserted."
                            ) from None
                        self.timings["generate"] += time.perf_counter() - t0
                        copy.write(data)
                        self._advance(n)
                    if binary:
                        copy.write(B.TRAILER)
                self.timings["copy"] += time.perf_counter() - t_copy
        if rebuild:
            t0 = time.perf_counter()
            conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for statement in rebuild:
                conn.execute(statement)
            self.timings["rebuild"] += time.perf_counter() - t0

    def _advance(self, n: int) -> None:
        self.done += n
        if self.progress is not None:
            self.progress(self.done, self.plan.total)

    def _bulk_start(self, tp: TablePlan) -> list[sql.Composable]:
        """Drop the table's plain indexes and its own foreign keys for a large load; the
        statements that put them back."""
        if tp.count < BULK_ROWS:
            return []
        conn = self.conn
        estimate = conn.execute(catalog.ESTIMATE_SQL, (_regclass(tp.qualified),)).fetchone()[0]
        if estimate > tp.count:
            return []
        names = [fk.constraint.name for fk in tp.foreign_keys if not fk.late and not fk.deferred]
        back: list[sql.Composable] = []
        try:
            with conn.transaction():
                for name, definition, comment in conn.execute(
                        catalog.DROPPABLE_FKS_SQL, (_regclass(tp.qualified), names)).fetchall():
                    conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                        ident(tp.qualified), sql.Identifier(name)))
                    back.append(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                        ident(tp.qualified), sql.Identifier(name), sql.SQL(definition)))
                    if comment is not None:
                        back.append(sql.SQL("COMMENT ON CONSTRAINT {} ON {} IS {}").format(
                            sql.Identifier(name), ident(tp.qualified), sql.Literal(comment)))
                for name, definition, comment, space in conn.execute(
                        catalog.DROPPABLE_INDEXES_SQL, (_regclass(tp.qualified),)).fetchall():
                    conn.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(name)))
                    text = definition + (f" TABLESPACE {sql.Identifier(space).as_string(conn)}"
                                         if space else "")
                    back.insert(0, sql.SQL(text))
                    if comment is not None:
                        back.append(sql.SQL("COMMENT ON INDEX {} IS {}").format(
                            sql.SQL(name), sql.Literal(comment)))
        except psycopg.Error:
            return []  # not the owner, or locked: the row-by-row path still works
        return back

    def _late(self) -> None:
        """Point the nullable foreign keys of cycles, inserted NULL, at rows now that every
        table is filled."""
        for tp in self.plan.tables:
            for fk in tp.foreign_keys:
                if not fk.late:
                    continue
                self.keys.pop(_fk_id(tp, fk), None)
                keys = self._parent_keys(tp, fk)
                if not keys:
                    continue
                rows = self.conn.execute(sql.SQL(
                    "SELECT t.tableoid, t.ctid::text FROM {} t WHERE " + OURS
                    + " ORDER BY 1, 2").format(ident(tp.qualified))).fetchall()
                rng = V.stream(self.seed, tp.qualified, "#late", fk.constraint.name)
                chosen = [None if rng.random() < FK_NULL_SHARE else keys[rng.randrange(len(keys))]
                          for _ in rows]
                types = [tp.table.column(c).type for c in fk.columns]
                arrays = [[None if k is None else k[j] for k in chosen]
                          for j in range(len(fk.columns))]
                statement = sql.SQL(
                    "UPDATE {} AS t SET {} FROM unnest(%s::oid[], %s::tid[], {}) "
                    "AS v(o, t, {}) WHERE t.tableoid = v.o AND t.ctid = v.t").format(
                    ident(tp.qualified),
                    sql.SQL(", ").join(sql.SQL("{} = v.{}::{}").format(
                        sql.Identifier(c), sql.Identifier(f"k{j}"), sql.SQL(types[j]))
                        for j, c in enumerate(fk.columns)),
                    sql.SQL(", ").join(sql.SQL("%s::text[]") for _ in fk.columns),
                    sql.SQL(", ").join(sql.Identifier(f"k{j}") for j in range(len(fk.columns))))
                self.conn.execute(statement, [[r[0] for r in rows], [r[1] for r in rows],
                                              *arrays])

    def _record(self, run_id: int, position: int, tp: TablePlan) -> int:
        """Keep the keys of this run's rows of `tp` in a table of nself's schema (text,
        so that no user type is depended on); the number of rows."""
        null_first = sorted({c for fk in tp.foreign_keys if fk.late and all(
            tp.table.column(x).nullable for x in fk.columns) for c in fk.columns})
        keys_table = f"mock_keys_{run_id}_{position}"
        cur = self.conn.execute(sql.SQL(
            "CREATE TABLE {} AS SELECT {} AS key FROM {} t WHERE " + OURS).format(
            sql.Identifier("nself", keys_table), _key_expression(tp.key_columns),
            ident(tp.qualified)))
        rows = cur.rowcount
        self.conn.execute(
            "INSERT INTO nself.mock_rows (run_id, position, table_name, key_columns, "
            "null_first, keys_table, row_count) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (run_id, position, tp.qualified, tp.key_columns or None, null_first, keys_table,
             rows))
        return rows


def _key_expression(key_columns: list[str] | None) -> sql.Composable:
    if key_columns and len(key_columns) == 1:
        return sql.SQL("t.{}::text").format(sql.Identifier(key_columns[0]))
    if key_columns:
        return sql.SQL("ROW({})::text").format(sql.SQL(", ").join(
            sql.SQL("t.{}").format(sql.Identifier(c)) for c in key_columns))
    return sql.SQL("ROW(t.*)::text")  # not t::text: a column named t would win


def _regclass(qualified: str) -> str:
    schema, _, name = qualified.partition(".")
    return sql.Identifier(schema, name).as_string(None)


def _fk_id(tp: TablePlan, fk: ForeignKey) -> tuple:
    return (tp.qualified, fk.constraint.name)


def _short(qualified: str) -> str:
    return qualified[7:] if qualified.startswith("public.") else qualified


class RowMaker:
    """The rows of one table, chunk by chunk, as COPY text."""

    def __init__(self, tp: TablePlan, seed: int, counter_base: int, int_starts: dict):
        self.tp = tp
        self.seed = seed
        self.base = counter_base
        self.fixed: dict[str, list[str]] = {}
        self._escapes: dict[str, list] = {}
        self._encodes: dict[str, list] = {}
        self.binary = False
        self.encoders: dict = {}
        self.fks: list[tuple[ForeignKey, list[tuple[str, ...]]]] = []
        people = V.People(seed, tp.qualified)
        timeline = V.Timeline(seed, tp.qualified)
        self.values: dict[str, V.Values] = {}
        for name, spec in tp.specs.items():
            try:
                start = int_starts.get(name)
                self.values[name] = C.make_values(spec, seed, 0 if start else counter_base,
                                                  people, timeline, unique_int_start=start)
            except V.UnknownType as exc:
                raise UsageError(
                    f"Cannot make values for {_short(tp.qualified)}.{name} ({exc}): leave the "
                    f"table out with --skip {_short(tp.qualified)}. Nothing was inserted."
                ) from None

    def precompute(self, conn: psycopg.Connection, column: str) -> None:
        if column in self.fixed:
            return
        if column in self.tp.reserved:
            seq = conn.execute("SELECT pg_get_serial_sequence(%s, %s)",
                               (_regclass(self.tp.qualified), column)).fetchone()[0]
            self.fixed[column] = [str(v) for (v,) in conn.execute(
                "SELECT nextval(%s) FROM generate_series(1, %s)", (seq, self.tp.count))]
        else:
            self.fixed[column] = self.values[column].make(0, self.tp.count)  # text: keys

    def foreign(self, fk: ForeignKey, keys: list[tuple[str, ...]]) -> None:
        self.fks.append((fk, keys))

    def ready(self, plan: Plan) -> None:
        """Cap the count where a unique key enumerated from parents has fewer combinations;
        choose the binary format when every column written has an encoder."""
        tp = self.tp
        self.encoders = {}
        for name in tp.written:
            maker = self.values.get(name)
            if maker is not None:
                enc = B.encoder(maker.spec.base, maker.spec.enum_values is not None, maker) \
                    if not maker.spec.array else None
            else:
                base, _mods, array = C.split_type(tp.table.column(name).type)
                enc = None if array or name in tp.reserved else B.encoder(base, False, None)
            self.encoders[name] = enc
        # ordered pairs (CHECK (a < b)) compare values: those tables stay text
        self.binary = bool(self.encoders) and not self.fixed and not tp.pairs and all(
            self.encoders.values())
        for cols in tp.enumerate_sets:
            capacity = 1
            for size in self._dimensions(cols).values():
                capacity *= size
            left = max(capacity - self._offset(cols), 0)
            if left < tp.count:
                plan.notices.append(f"{_short(tp.qualified)}: only {capacity} distinct "
                                    f"({', '.join(cols)}) combinations exist, {left} of them "
                                    f"unused by earlier runs; inserting {left} rows, not "
                                    f"{tp.count}")
                tp.count = left

    def _offset(self, cols: list[str]) -> int:
        """Where the enumeration of a unique set starts: after earlier runs' combinations,
        unless its parents' keys already leave out the used ones (a key of exactly one
        foreign key)."""
        fks = [fk for fk, _k in self.fks if set(fk.columns) & set(cols)]
        if fks and all(fk.unique_with_existing for fk in fks) and all(
                c in {x for fk in fks for x in fk.columns} for c in cols):
            return 0
        return self.base

    def _dimensions(self, cols: list[str]) -> dict:
        dims: dict = {}
        for fk, keys in self.fks:
            if set(fk.columns) & set(cols) and not fk.late:
                dims[("fk", fk.constraint.name)] = len(keys)
        for c in cols:
            v = self.values.get(c)
            if isinstance(v, V.Choice):
                dims[("col", c)] = len(v.choices)
        return dims

    def chunk(self, start: int, n: int) -> bytes:
        tp = self.tp
        native = self.binary
        null = None if native else V.NULL
        cols: dict[str, list] = {}
        done: set[str] = set()  # columns already binary fields
        for name, maker in self.values.items():
            if name in self.fixed:
                cols[name] = self.fixed[name][start:start + n]
            elif native:
                cols[name] = maker.make(start, n, self.encoders[name], B.NULL_FIELD)
                done.add(name)
            else:
                cols[name] = maker.make(start, n)
        for name in tp.reserved:
            cols[name] = self.fixed[name][start:start + n]
        enumerated: dict = {}
        for sets in tp.enumerate_sets:
            dims = self._dimensions(sets)
            digits: dict = {d: [] for d in dims}
            offset = self._offset(sets)
            for i in range(start + offset, start + offset + n):
                for d, size in dims.items():
                    i, r = divmod(i, size) if size else (i, 0)
                    digits[d].append(r)
            for d, values in digits.items():
                enumerated.setdefault(d, values)
        for d, idx in enumerated.items():
            if d[0] == "col":
                maker = self.values[d[1]]
                choices = maker.raw if native else maker.choices
                cols[d[1]] = [choices[k] for k in idx]
                done.discard(d[1])
        for fk, keys in self.fks:
            keys = self._encoded_keys(fk, keys) if native else self._escaped(fk, keys)
            self._assign(fk, keys, cols, start, n, enumerated.get(("fk", fk.constraint.name)),
                         null)
        for fk in tp.foreign_keys:
            if fk.late:
                for c in fk.columns:
                    if c not in cols:
                        cols[c] = [null] * n
                        done.discard(c)
        for low, high, strict in tp.pairs:  # text only: see ready()
            if low in cols and high in cols:
                _order_pair(cols[low], cols[high], strict, null)
        if native:  # foreign key columns hold encoded keys: only NULLs are left to mark
            fk_columns = {c for fk, _k in self.fks for c in fk.columns}
            return B.rows([cols[c] if c in done else
                           [B.NULL_FIELD if v is None else v for v in cols[c]]
                           if c in fk_columns else B.encode(self.encoders[c], cols[c])
                           for c in tp.written])
        ordered = [cols[c] for c in tp.written]
        return ("\n".join(map("\t".join, zip(*ordered, strict=True))) + "\n").encode()

    def _encoded_keys(self, fk, keys):
        """Parent keys as binary fields, encoded once."""
        cached = self._encodes.get(fk.constraint.name)
        if cached is None:
            columns = [B.encode(self.encoders[c], [k[j] for k in keys])
                       for j, c in enumerate(fk.columns)]
            cached = list(zip(*columns, strict=True)) if keys else []
            self._encodes[fk.constraint.name] = cached
        return cached

    def _escaped(self, fk, keys):
        """Parent keys as COPY text (escaped only when a key needs it)."""
        cached = self._escapes.get(fk.constraint.name)
        if cached is None:
            special = any(any(ch in v for ch in "\\\t\n\r") for key in keys for v in key
                          if v is not None)
            cached = [tuple(V.escape(v) for v in key) for key in keys] if special else keys
            self._escapes[fk.constraint.name] = cached
        return cached

    def _assign(self, fk, keys, cols, start, n, enumerated, null) -> None:
        rng = V.stream(self.seed, self.tp.qualified, "#fk", fk.constraint.name, str(start))
        fixed = [c for c in fk.columns if c in cols]
        if not keys:
            for c in fk.columns:
                cols[c] = [null] * n
            return
        if enumerated is not None:
            picks = [keys[k] for k in enumerated]
        elif fixed:
            # columns another foreign key already chose: only keys that agree with them
            positions = [fk.columns.index(c) for c in fixed]
            by_overlap: dict = {}
            for key in keys:
                by_overlap.setdefault(tuple(key[p] for p in positions), []).append(key)
            picks = []
            for i in range(n):
                options = by_overlap.get(tuple(cols[c][i] for c in fixed))
                picks.append(options[rng.randrange(len(options))] if options else None)
            if any(p is None for p in picks) and not fk.nullable:
                raise OperationFailed(
                    f"{_short(self.tp.qualified)}.{fk.constraint.name}: no row of "
                    f"{_short(fk.parent)} matches the columns it shares with another foreign "
                    f"key; skip the table with --skip {_short(self.tp.qualified)}.")
        else:
            picks = V.pick(rng, keys, n)
            if fk.nullable:
                cut = int(FK_NULL_SHARE * 256)
                picks = [None if b < cut else p
                         for p, b in zip(picks, rng.randbytes(n), strict=True)]
        for j, c in enumerate(fk.columns):
            if c in fixed:
                continue
            cols[c] = [null if p is None else p[j] for p in picks]


def _order_pair(low: list, high: list, strict: bool, null) -> None:
    """Swap values so that low <= high row by row (numbers compared as numbers)."""
    for i, (a, b) in enumerate(zip(low, high, strict=True)):
        if a is null or b is null or a == V.NULL:
            continue
        try:
            wrong = float(a) > float(b)
        except ValueError:
            wrong = a > b
        if wrong:
            low[i], high[i] = b, a


def recorded(conn: psycopg.Connection) -> list[tuple]:
    """(run, position, table, key columns, null-first columns, keys table, rows) recorded,
    newest first; a mock_rows of an older layout is upgraded first (`layout.ensure`)."""
    if conn.execute("SELECT to_regclass('nself.mock_rows') IS NULL").fetchone()[0]:
        return []
    layout.ensure(conn)
    return conn.execute(RECORDED_SQL).fetchall()


def clear(conn: psycopg.Connection) -> dict[str, int]:
    """Delete every row mock recorded (in the caller's transaction); rows per table."""
    entries = recorded(conn)
    removed: dict[str, int] = {}
    if not entries:
        return removed
    conn.execute("SET CONSTRAINTS ALL DEFERRED")
    live = []
    for _run, _position, table, key_columns, null_first, keys_table, _n in entries:
        if conn.execute("SELECT to_regclass(%s) IS NOT NULL", (_regclass(table),)).fetchone()[0]:
            live.append((table, key_columns, null_first, keys_table))
    match = "{} IN (SELECT key FROM {})"
    for table, key_columns, null_first, keys_table in live:
        if null_first:  # a cycle's nullable side first, so every row can go
            conn.execute(sql.SQL("UPDATE {} AS t SET {} WHERE " + match).format(
                ident(table), sql.SQL(", ").join(sql.SQL("{} = NULL").format(sql.Identifier(c))
                                                 for c in null_first),
                _key_expression(key_columns), sql.Identifier("nself", keys_table)))
    for table, key_columns, _null_first, keys_table in live:
        cur = conn.execute(sql.SQL("DELETE FROM {} AS t WHERE " + match).format(
            ident(table), _key_expression(key_columns), sql.Identifier("nself", keys_table)))
        removed[table] = removed.get(table, 0) + cur.rowcount
    for entry in entries:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(
            sql.Identifier("nself", entry[5])))
    conn.execute("DELETE FROM nself.mock_runs")
    # no mock row is left, so counters may start again: --seed N gives the same rows again
    conn.execute("DELETE FROM nself.mock_counters")
    return removed

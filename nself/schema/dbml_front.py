"""The front pass over a DBML file, before pydbml sees it.

pydbml 1.2 rejects constructs current DBML has (`checks { ... }`, `TablePartial` with
`~partial` injection, `Records`, column `check:` settings) and its column-type grammar
is too narrow for PostgreSQL (`varchar(255)[]`, `timestamp(3) with time zone`). This pass
tokenizes the file, splits it into top-level blocks, reads those constructs (and every
column's type and default, with their positions) itself, and gives pydbml a copy of each
block in which what it cannot read is blanked out with spaces — the same length, newlines
kept, so that every offset pydbml reports is an offset in the user's file.

Nothing here raises for bad input: problems are collected (offset, construct, message,
fix) for nself.schema.dbml to report together."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

KEYWORDS = ("project", "table", "tablepartial", "enum", "ref", "tablegroup", "note", "records")


@dataclass(frozen=True)
class Problem:
    offset: int
    construct: str
    message: str
    fix: str | None = None


@dataclass(frozen=True)
class Token:
    kind: str       # name, dq, sq, tq, expr, nl, punct
    text: str       # as written
    start: int
    end: int

    @property
    def value(self) -> str:
        """Names as written, strings and expressions without their quotes (escapes read)."""
        if self.kind == "dq" or self.kind == "sq":
            return _unescape(self.text[1:-1])
        if self.kind == "tq":
            return _unescape(self.text[3:-3])
        if self.kind == "expr":
            return self.text[1:-1]
        return self.text

    def is_name(self, *words: str) -> bool:
        return self.kind == "name" and self.text.lower() in words

    def is_punct(self, chars: str) -> bool:
        return self.kind == "punct" and self.text in chars


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text, flags=re.S)


_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r\f\v]+)
  | (?P<nl>\n)
  | (?P<comment>//[^\n]*)
  | (?P<block>/\*.*?\*/)
  | (?P<tq>'''(?:\\.|(?!''').)*''')
  | (?P<sq>'(?:\\.|[^'\\\n])*')
  | (?P<dq>"(?:\\.|[^"\\\n])*")
  | (?P<expr>`[^`]*`)
  | (?P<name>[A-Za-z0-9_]+)
  | (?P<punct>.)
""", re.X | re.S)


def tokenize(text: str) -> tuple[list[Token], list[Problem]]:
    tokens: list[Token] = []
    problems: list[Problem] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        kind = match.lastgroup
        if kind == "punct" and match.group() in "'\"`" or kind == "punct" and \
                text.startswith("/*", pos):
            what = {"'": "string", '"': "quoted name", "`": "expression"}.get(
                match.group(), "comment")
            closer = {"'": "'", '"': '"', "`": "`"}.get(match.group(), "*/")
            problems.append(Problem(pos, what, f"unterminated {what}",
                                    f"close it with {closer}"))
            if what in ("comment", "expression"):
                break
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end
            continue
        if kind not in ("ws", "comment", "block"):
            tokens.append(Token(kind, match.group(), pos, match.end()))
        pos = match.end()
    return tokens, problems


@dataclass
class Setting:
    """One comma-separated item of a [...] list."""
    tokens: list[Token]
    start: int
    end: int

    @property
    def key(self) -> str:
        """'default', 'not null', 'ref', 'pk', ... (lower case; the words before ':')."""
        words = []
        for token in self.tokens:
            if token.is_punct(":"):
                break
            words.append(token.text.lower())
        return " ".join(words)

    def after_colon(self) -> list[Token]:
        for at, token in enumerate(self.tokens):
            if token.is_punct(":"):
                return self.tokens[at + 1:]
        return []


@dataclass
class Value:
    """A literal from a default: or a Records row: kind is string, number, boolean,
    null or expression; `text` is the string's content, the number or the expression."""
    kind: str
    text: str


@dataclass
class FrontColumn:
    name: str
    offset: int
    type_text: str
    type_offset: int
    default: Value | None = None
    default_offset: int = 0
    checks: list[tuple[str, int]] = field(default_factory=list)   # (expression, offset)
    ref_offsets: list[int] = field(default_factory=list)


@dataclass
class FrontCheck:
    expression: str
    offset: int
    name: str | None = None


@dataclass
class FrontRecords:
    schema: str
    table: str
    columns: list[str] | None     # None: the table's columns in order
    rows: list[list[Value]]
    offset: int


@dataclass
class FrontTable:
    kind: str                       # "table" or "partial"
    schema: str
    name: str
    offset: int
    note: str | None = None
    columns: list[FrontColumn] = field(default_factory=list)
    items: list[tuple[str, object]] = field(default_factory=list)   # ("column", FrontColumn)
    # or ("inject", (name, offset)) in the order written
    index_offsets: list[int] = field(default_factory=list)
    checks: list[FrontCheck] = field(default_factory=list)
    has_note_item: bool = False
    color: str | None = None        # headercolor: #rrggbb (for diagrams only)

    @property
    def label(self) -> str:
        word = "TablePartial" if self.kind == "partial" else "Table"
        return f"{word} {self.display}"

    @property
    def display(self) -> str:
        return self.name if self.schema == "public" else f"{self.schema}.{self.name}"


@dataclass
class Block:
    keyword: str                    # lower case
    start: int                      # offset of the keyword
    end: int                        # offset after the block
    text: str                       # what pydbml parses (blanked copy of start:end)
    insert_at: int = -1             # offset in `text` where `inserted` was added
    inserted: int = 0
    table: FrontTable | None = None
    label: str = ""
    name: tuple[str, str] | None = None     # (schema, name) of an Enum

    def original(self, loc: int) -> int:
        """An offset in `text` -> the offset in the user's file."""
        if self.insert_at >= 0 and loc >= self.insert_at:
            loc = max(self.insert_at, loc - self.inserted)
        return self.start + loc


@dataclass
class Front:
    blocks: list[Block]
    records: list[FrontRecords]
    problems: list[Problem]


class _Scanner:
    def __init__(self, text: str):
        self.text = text
        self.tokens, self.problems = tokenize(text)
        self.out = list(text)            # the copy pydbml reads
        self.records: list[FrontRecords] = []

    # ---------------------------------------------------------------- helpers
    def blank(self, start: int, end: int, first: str = " ") -> None:
        for at in range(start, end):
            if self.out[at] != "\n":
                self.out[at] = " "
        if first != " " and start < end:
            self.out[start] = first

    def next_solid(self, i: int, end: int) -> int:
        """Index of the next token that is not a newline (or end)."""
        while i < end and self.tokens[i].kind == "nl":
            i += 1
        return i

    def match_close(self, i: int, end: int) -> int:
        """Index of the token closing the bracket at i (or end when unbalanced)."""
        pairs = {"{": "}", "[": "]", "(": ")"}
        opener = self.tokens[i].text
        closer = pairs[opener]
        depth = 0
        for k in range(i, end):
            token = self.tokens[k]
            if token.kind != "punct":
                continue
            if token.text == opener:
                depth += 1
            elif token.text == closer:
                depth -= 1
                if depth == 0:
                    return k
        return end

    def outside(self, i: int, end: int, opens: str, closes: str) -> Iterator[tuple[int, Token]]:
        """(index, token) of the tokens from i to end that are outside the brackets `opens`
        and `closes` (those brackets themselves left out)."""
        depth = 0
        for k in range(i, end):
            token = self.tokens[k]
            if token.kind == "punct" and token.text in opens:
                depth += 1
            elif token.kind == "punct" and token.text in closes:
                depth = max(0, depth - 1)
            elif depth == 0:
                yield k, token

    def line_end(self, i: int, end: int) -> int:
        """Index of the newline ending the item starting at i, brackets spanning lines."""
        return next((k for k, token in self.outside(i, end, "[({", "])}") if token.kind == "nl"),
                    end)

    def block_end(self, i: int, keyword: str) -> int:
        """Index after the last token of the top-level block starting at i."""
        n = len(self.tokens)
        for k, token in self.outside(i + 1, n, "[(", "])"):
            if token.kind == "punct" and token.text == "{":
                return min(n, self.match_close(k, n) + 1)
            if token.kind == "punct" and token.text == "}":
                return k
            if token.kind == "nl":
                if keyword == "ref":
                    return k
                following = self.next_solid(k, n)
                if following >= n or not self.tokens[following].is_punct("{"):
                    return k
        return n

    def settings(self, i: int, close: int) -> list[Setting]:
        """The comma-separated items of the [...] list from token i to close."""
        items: list[Setting] = []
        current: list[Token] = []
        depth = 0
        for k in range(i + 1, close):
            token = self.tokens[k]
            if token.kind == "punct" and token.text in "[({":
                depth += 1
            elif token.kind == "punct" and token.text in "])}":
                depth -= 1
            if token.is_punct(",") and depth == 0:
                items.append(current)
                current = []
            elif token.kind != "nl":
                current.append(token)
        items.append(current)
        return [Setting(t, t[0].start, t[-1].end) if t else
                Setting([], self.tokens[i].end, self.tokens[i].end) for t in items]

    def remove_settings(self, i: int, close: int, items: list[Setting], drop: set[int]):
        """Blank the items numbered in DROP from the [...] list (commas kept between
        the items that stay; the whole list when none stays)."""
        if not drop:
            return
        kept = [n for n in range(len(items)) if n not in drop]
        if not kept:
            self.blank(self.tokens[i].start, self.tokens[close].end if close < len(
                self.tokens) else len(self.text))
            return
        for n in drop:
            self.blank(items[n].start, items[n].end)
        commas = [k for k in range(i + 1, close) if self.tokens[k].is_punct(",")
                  and self._depth_in(i, k) == 0]
        for n, k in enumerate(commas):
            if not (n in kept and any(m > n for m in kept)):
                self.blank(self.tokens[k].start, self.tokens[k].end)

    def _depth_in(self, i: int, k: int) -> int:
        depth = 0
        for token in self.tokens[i + 1:k]:
            if token.kind == "punct" and token.text in "[({":
                depth += 1
            elif token.kind == "punct" and token.text in "])}":
                depth -= 1
        return depth

    def value(self, tokens: list[Token], construct: str) -> Value | None:
        """A literal (default: or a Records cell) from its tokens."""
        if not tokens:
            return None
        first = tokens[0]
        if len(tokens) == 1 and first.kind in ("sq", "dq", "tq"):
            return Value("string", first.value)
        if len(tokens) == 1 and first.kind == "expr":
            return Value("expression", first.value.strip())
        if len(tokens) == 1 and first.is_name("true", "false"):
            return Value("boolean", first.text.lower())
        if len(tokens) == 1 and first.is_name("null"):
            return Value("null", "null")
        written = self.text[first.start:tokens[-1].end]
        if re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", written):
            return Value("number", written.lstrip("+"))
        self.problems.append(Problem(
            first.start, construct, f"{written!r} is not a value",
            "write a 'string', a number, true, false, null or an `expression` in backticks"))
        return None

    # ------------------------------------------------------------------ scan
    def scan(self) -> Front:
        blocks: list[Block] = []
        n = len(self.tokens)
        i = 0
        while i < n:
            token = self.tokens[i]
            if token.kind == "nl":
                i += 1
                continue
            keyword = token.text.lower() if token.kind == "name" else ""
            end = self.block_end(i, keyword)
            stop = self.tokens[end - 1].end if end > i else token.end
            if keyword not in KEYWORDS:
                self.problems.append(Problem(
                    token.start, "top level", f"unexpected {token.text!r}",
                    "a DBML file holds Project, Table, TablePartial, Enum, Ref, TableGroup, "
                    "Note and Records blocks"))
            elif keyword == "records":
                self.scan_records(i, end, None)
            else:
                block = Block(keyword, token.start, stop, "")
                if keyword in ("table", "tablepartial"):
                    self.scan_table(i, end, block)
                elif keyword == "enum":
                    schema, name, _ = self.name_at(i + 1, end)
                    block.name = (schema or "public", name)
                    block.label = f"Enum {name}"
                blocks.append(block)
            i = max(end, i + 1)
        for block in blocks:
            block.text = "".join(self.out[block.start:block.end])
            table = block.table
            if table is not None and table.kind == "partial":
                block.text = "Table       " + block.text[len("TablePartial"):]
            if table is not None and not table.columns:
                # pydbml wants a column; a stand-in that is never read
                brace = block.text.find("{")
                if brace >= 0:
                    block.insert_at = brace + 1
                    block.inserted = len("\n_ x\n")
                    block.text = block.text[:brace + 1] + "\n_ x\n" + block.text[brace + 1:]
        return Front(blocks, self.records, self.problems)

    def name_at(self, i: int, end: int) -> tuple[str | None, str, int]:
        """[schema.]name from token i -> (schema, name, index after)."""
        tokens = self.tokens
        if i >= end or tokens[i].kind not in ("name", "dq"):
            return None, "", i
        first = tokens[i].value
        if i + 2 < end and tokens[i + 1].is_punct(".") and tokens[i + 2].kind in ("name", "dq"):
            return first, tokens[i + 2].value, i + 3
        return None, first, i + 1

    def scan_table(self, i: int, end: int, block: Block) -> None:
        tokens = self.tokens
        keyword = tokens[i].text.lower()
        schema, name, k = self.name_at(i + 1, end)
        table = FrontTable("partial" if keyword == "tablepartial" else "table",
                           schema or "public", name, tokens[i].start)
        block.table = table
        block.label = table.label if name else tokens[i].text
        open_at = next((m for m in range(k, end) if tokens[m].is_punct("{")), end)
        # table settings [headercolor: #..., note: '...'] are read here
        bracket = next((m for m in range(k, open_at) if tokens[m].is_punct("[")), None)
        if bracket is not None:
            close = self.match_close(bracket, open_at)
            for item in self.settings(bracket, close):
                key = item.key
                if key == "note":
                    value = item.after_colon()
                    if len(value) == 1 and value[0].kind in ("sq", "dq", "tq"):
                        table.note = value[0].value
                        continue
                elif key in ("headercolor", "color"):
                    table.color = "".join(t.text for t in item.after_colon()) or None
                    continue
                self.problems.append(Problem(
                    item.start, table.label, f"unknown table setting {key or '(empty)'!r}",
                    "table settings are headercolor: #rrggbb and note: 'text'"))
            self.blank(tokens[bracket].start,
                       tokens[close].end if close < end else tokens[open_at - 1].end)
        if open_at >= end:
            return
        body_end = self.match_close(open_at, end)
        self.scan_body(table, open_at + 1, body_end)

    def scan_body(self, table: FrontTable, i: int, end: int) -> None:
        tokens = self.tokens
        k = i
        while k < end:
            token = tokens[k]
            if token.kind == "nl":
                k += 1
                continue
            after = self.next_solid(k + 1, end)
            nxt = tokens[after] if after < end else None
            if token.is_name("indexes", "checks") and nxt is not None and nxt.is_punct("{"):
                close = self.match_close(after, end)
                if token.is_name("indexes"):
                    self.scan_indexes(table, after + 1, close)
                else:
                    self.scan_checks(table, after + 1, close)
                    self.blank(token.start, tokens[min(close, end - 1)].end)
                k = close + 1
                continue
            if token.is_name("records") and nxt is not None and nxt.is_punct("({"):
                stop = self.line_end(k, end)
                brace = next((m for m in range(k, end) if tokens[m].is_punct("{")), end)
                close = self.match_close(brace, end) if brace < end else stop
                self.scan_records(k, min(end, close + 1), table)
                self.blank(token.start, tokens[min(close, end - 1)].end)
                k = close + 1
                continue
            if token.is_punct("~"):
                stop = self.line_end(k, end)
                if nxt is not None and nxt.kind in ("name", "dq") and after == k + 1:
                    table.items.append(("inject", (nxt.value, token.start)))
                else:
                    self.problems.append(Problem(token.start, table.label,
                                                 "~ must be followed by a TablePartial name",
                                                 "write ~partial_name"))
                self.blank(token.start, tokens[stop - 1].end)
                k = stop
                continue
            stop = self.line_end(k, end)
            if token.is_name("note") and nxt is not None and nxt.is_punct(":{"):
                table.has_note_item = True
                k = stop
                continue
            if token.kind in ("name", "dq"):
                self.scan_column(table, k, stop)
            k = max(stop, k + 1)

    def scan_column(self, table: FrontTable, i: int, stop: int) -> None:
        tokens = self.tokens
        name = tokens[i]
        bracket = next((m for m in range(i + 1, stop) if tokens[m].is_punct("[")
                        and self._depth_in(i, m) == 0 and not self._array_brackets(m, stop)),
                       stop)
        type_end = bracket
        # the deprecated `name type pk unique` form: trailing words are settings
        while type_end - 1 > i + 1 and tokens[type_end - 1].is_name("pk", "unique"):
            type_end -= 1
        type_tokens = tokens[i + 1:type_end]
        if not type_tokens:
            return                      # pydbml reports the missing type
        # DBML quotes types with spaces ("double precision"); the quotes are not SQL's
        type_text = ""
        for at, token in enumerate(type_tokens):
            if at and token.start > type_tokens[at - 1].end:
                type_text += " "
            type_text += token.value if token.kind == "dq" else token.text
        column = FrontColumn(name.value, name.start, type_text, type_tokens[0].start)
        self.blank(type_tokens[0].start, type_tokens[-1].end, first="x")
        construct = f"column {table.display}.{name.value}"
        if bracket < stop:
            close = self.match_close(bracket, stop)
            items = self.settings(bracket, close)
            drop = set()
            for n, item in enumerate(items):
                key = item.key
                if key == "default":
                    column.default = self.value(item.after_colon(), construct)
                    column.default_offset = item.start
                    if column.default is None and not item.after_colon():
                        self.problems.append(Problem(item.start, construct,
                                                     "default: needs a value",
                                                     "write default: 'text', a number, "
                                                     "true/false, null or `expression`"))
                    drop.add(n)
                elif key == "check":
                    value = item.after_colon()
                    if len(value) == 1 and value[0].kind == "expr":
                        column.checks.append((value[0].value.strip(), item.start))
                    else:
                        self.problems.append(Problem(item.start, construct,
                                                     "check: needs an `expression`",
                                                     "write check: `price > 0`"))
                    drop.add(n)
                elif key == "ref":
                    column.ref_offsets.append(item.start)
            self.remove_settings(bracket, close, items, drop)
        table.columns.append(column)
        table.items.append(("column", column))

    def _array_brackets(self, m: int, stop: int) -> bool:
        """Whether the [ at token m opens a type's array brackets ([] or [3])."""
        tokens = self.tokens
        if m + 1 < stop and tokens[m + 1].is_punct("]"):
            return True
        return (m + 2 < stop and tokens[m + 1].kind == "name" and tokens[m + 1].text.isdigit()
                and tokens[m + 2].is_punct("]"))

    def scan_indexes(self, table: FrontTable, i: int, end: int) -> None:
        k = i
        while k < end:
            if self.tokens[k].kind == "nl":
                k += 1
                continue
            table.index_offsets.append(self.tokens[k].start)
            k = max(self.line_end(k, end), k + 1)

    def scan_checks(self, table: FrontTable, i: int, end: int) -> None:
        tokens = self.tokens
        k = i
        while k < end:
            if tokens[k].kind == "nl":
                k += 1
                continue
            stop = self.line_end(k, end)
            first = tokens[k]
            check = FrontCheck(first.value.strip(), first.start)
            rest = k + 1
            if first.kind != "expr":
                self.problems.append(Problem(first.start, f"checks of {table.label}",
                                             f"expected an `expression`, found {first.text!r}",
                                             "write each check as `price > 0` [name: 'x']"))
                k = stop
                continue
            if rest < stop and tokens[rest].is_punct("["):
                close = self.match_close(rest, stop)
                for item in self.settings(rest, close):
                    value = item.after_colon()
                    if item.key == "name" and len(value) == 1 and value[0].kind in ("sq", "dq"):
                        check.name = value[0].value
                    else:
                        self.problems.append(Problem(
                            item.start, f"checks of {table.label}",
                            f"unknown check setting {item.key or '(empty)'!r}",
                            "the one check setting is name: 'constraint_name'"))
                rest = close + 1
            if rest < stop:
                self.problems.append(Problem(tokens[rest].start, f"checks of {table.label}",
                                             f"unexpected {tokens[rest].text!r}",
                                             "one check per line: `expression` [name: 'x']"))
            table.checks.append(check)
            k = stop

    def scan_records(self, i: int, end: int, table: FrontTable | None) -> None:
        tokens = self.tokens
        start = tokens[i].start
        k = i + 1
        if table is None:
            schema, name, k = self.name_at(k, end)
            label = f"Records {name}"
            if not name:
                self.problems.append(Problem(start, "Records", "Records needs a table name",
                                             "write Records table_name(col1, col2) { ... }"))
                return
        else:
            schema, name, label = table.schema, table.name, f"records of {table.label}"
        columns = None
        if k < end and tokens[k].is_punct("("):
            close = self.match_close(k, end)
            columns = []
            for item in self.settings(k, close):
                if len(item.tokens) == 1 and item.tokens[0].kind in ("name", "dq"):
                    columns.append(item.tokens[0].value)
                else:
                    self.problems.append(Problem(item.start, label, "expected a column name",
                                                 "write (col1, col2, ...)"))
            k = close + 1
        k = self.next_solid(k, end)
        if k >= end or not tokens[k].is_punct("{"):
            self.problems.append(Problem(tokens[min(k, end - 1)].start, label,
                                         "expected '{' and the rows",
                                         "write Records table(col1, col2) { 1, 'a' }"))
            return
        close = self.match_close(k, end)
        rows: list[list[Value]] = []
        m = k + 1
        while m < close:
            if tokens[m].kind == "nl":
                m += 1
                continue
            stop = min(self.line_end(m, close), close)
            cells: list[list[Token]] = [[]]
            for token in tokens[m:stop]:
                if token.is_punct(","):
                    cells.append([])
                else:
                    cells[-1].append(token)
            values = [self.value(cell, label) for cell in cells]
            if all(v is not None for v in values):
                rows.append(values)
            elif any(not cell for cell in cells):
                self.problems.append(Problem(tokens[m].start, label, "empty value in a row",
                                             "write null for a missing value"))
            m = stop
        if close >= end:
            self.problems.append(Problem(start, label, "Records block is not closed",
                                         "end it with }"))
        self.records.append(FrontRecords(schema or "public", name, columns, rows, start))


def scan(text: str) -> Front:
    """The front pass over TEXT (see the module's docstring)."""
    return _Scanner(text).scan()

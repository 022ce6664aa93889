"""Column types written in a schema file -> PostgreSQL's canonical spelling (what
format_type() prints), or the reason the type is not PostgreSQL and the spelling to use.

`canonical(text, user_types)` accepts every built-in type PostgreSQL knows (with its
modifiers and array brackets), case-insensitively, and the names in `user_types` (enums
defined in the same file, matched exactly); a few well-known extension types are accepted
and name the extension they need. Types other databases and generators use (`datetime`,
`nvarchar(80)`, Prisma's `String`, ...) are read as the PostgreSQL type in MAPPED (the
ColumnType says so in `mapped_from`); with `strict` they are refused with the PostgreSQL
type to write instead. serial types are integers defaulting to their own sequence."""

from __future__ import annotations

import re
from dataclasses import dataclass


class TypeProblem(Exception):
    """TEXT is not a PostgreSQL type; `fix` says what to write instead."""

    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.message = message
        self.fix = fix


@dataclass(frozen=True)
class ColumnType:
    type: str                       # format_type() spelling, e.g. "character varying(255)"
    identity: bool = False          # unused by serial types now (see `serial`)
    serial: bool = False            # serial types: a column defaulting to its own sequence
    extension: str | None = None    # the extension providing the type (citext, ...)
    mapped_from: str | None = None  # another database's type name, read as `type`


# Names format_type() prints as they are, after folding aliases (see _ALIASES).
_PLAIN = frozenset("""
    bigint boolean bytea cidr circle date double_precision inet integer json jsonb
    jsonpath line lseg macaddr macaddr8 money oid path pg_lsn pg_snapshot point polygon
    real regclass regconfig regdictionary regnamespace regoper regoperator regproc
    regprocedure regrole regtype smallint text tsquery tsvector txid_snapshot uuid xml
    box int4range int8range numrange tsrange tstzrange daterange int4multirange
    int8multirange nummultirange tsmultirange tstzmultirange datemultirange name xid xid8
    cid tid bpchar
""".split())

_ALIASES = {
    "int": "integer", "int4": "integer", "integer": "integer",
    "int2": "smallint", "smallint": "smallint",
    "int8": "bigint", "bigint": "bigint",
    "bool": "boolean", "boolean": "boolean",
    "float4": "real", "real": "real",
    "float8": "double precision", "double precision": "double precision",
    "float": "double precision",
    "decimal": "numeric", "numeric": "numeric",
    "varchar": "character varying", "character varying": "character varying",
    "char varying": "character varying",
    "char": "character", "character": "character", "nchar": "character",
    "national character": "character", "national char": "character",
    "varbit": "bit varying", "bit varying": "bit varying", "bit": "bit",
    "timestamptz": "timestamp with time zone", "timetz": "time with time zone",
    '"char"': '"char"',
}
_SERIALS = {"serial": "integer", "serial4": "integer", "smallserial": "smallint",
            "serial2": "smallint", "bigserial": "bigint", "serial8": "bigint"}
_EXTENSION_TYPES = {"citext": "citext", "hstore": "hstore", "ltree": "ltree",
                    "lquery": "ltree", "cube": "cube", "geometry": "postgis",
                    "geography": "postgis", "vector": "vector", "halfvec": "vector",
                    "isbn": "isn", "ean13": "isn", "issn": "isn", "seg": "seg"}
_INTERVAL_FIELDS = ("year to month", "day to hour", "day to minute", "day to second",
                    "hour to minute", "hour to second", "minute to second",
                    "year", "month", "day", "hour", "minute", "second")

# Spellings of other databases/ORMs -> (PostgreSQL type, remark)
_FOREIGN = {
    "datetime": "timestamp", "datetime2": "timestamp", "smalldatetime": "timestamp",
    "datetimeoffset": "timestamptz", "string": "text", "nvarchar": "varchar",
    "varchar2": "varchar", "nvarchar2": "varchar", "var char": "varchar",
    "nvarchar(max)": "text", "varchar(max)": "text",
    "longtext": "text", "mediumtext": "text", "tinytext": "text", "ntext": "text",
    "clob": "text", "nclob": "text", "tinyint": "smallint", "mediumint": "integer",
    "double": "double precision", "number": "numeric", "blob": "bytea",
    "longblob": "bytea", "mediumblob": "bytea", "tinyblob": "bytea", "binary": "bytea",
    "varbinary": "bytea", "image": "bytea", "uniqueidentifier": "uuid", "guid": "uuid",
    "year": "smallint", "long": "bigint", "unsigned": "integer",
    "bit(1)": "boolean", "tinyint(1)": "boolean",
}
# Type names of other databases and generators -> the PostgreSQL type they are read as
# (unless --strict). Keys are lower case: NAME, NAME(n) (one modifier, carried over as
# "(n)" in the value), NAME(max), or NAME unsigned. A NAME with modifiers it has no key
# for (MySQL's display widths: int(11), tinyint(1), double(8,2)) is read as NAME.
# The README's "Type names of other databases" lists this table; keep the two in step.
MAPPED = {
    # MySQL / MariaDB (and sql2dbml's dumps of them)
    "datetime": "timestamp", "datetime(n)": "timestamp(n)", "year": "smallint",
    "tinyint": "smallint", "mediumint": "integer", "double": "double precision",
    "float(n,n)": "real", "tinytext": "text", "mediumtext": "text", "longtext": "text",
    "tinyblob": "bytea", "blob": "bytea", "mediumblob": "bytea", "longblob": "bytea",
    "binary": "bytea", "varbinary": "bytea", "set": "text",
    "int(n)": "integer", "integer(n)": "integer", "smallint(n)": "smallint",
    "bigint(n)": "bigint", "tinyint unsigned": "smallint", "smallint unsigned": "integer",
    "mediumint unsigned": "integer", "int unsigned": "bigint", "integer unsigned": "bigint",
    "bigint unsigned": "bigint",
    # SQL Server
    "nvarchar": "varchar", "nvarchar(n)": "varchar(n)", "nvarchar(max)": "text",
    "varchar(max)": "text", "varbinary(max)": "bytea", "ntext": "text", "image": "bytea",
    "datetime2": "timestamp", "datetime2(n)": "timestamp(n)", "smalldatetime": "timestamp",
    "datetimeoffset": "timestamptz", "datetimeoffset(n)": "timestamptz(n)",
    "uniqueidentifier": "uuid", "smallmoney": "money", "rowversion": "bytea",
    # Oracle and SQLite
    "varchar2": "varchar", "varchar2(n)": "varchar(n)", "nvarchar2": "varchar",
    "nvarchar2(n)": "varchar(n)", "number": "numeric", "number(n)": "numeric(n)",
    "number(n,n)": "numeric(n,n)", "clob": "text", "nclob": "text", "raw": "bytea",
    "unsigned big int": "bigint", "varying character": "varchar", "var char": "varchar",
    "var char(n)": "varchar(n)",
    "varying character(n)": "varchar(n)", "native character": "character",
    "native character(n)": "character(n)",
    # generators: Prisma (prisma-dbml-generator), ORMs
    "string": "text", "bytes": "bytea", "guid": "uuid",
}
# MySQL's precision for datetime is up to 6 like PostgreSQL's; SQL Server's up to 7
_MAX_PRECISION = {"timestamp": 6, "timestamptz": 6}


def unmodified(type_text: str) -> str:
    """A type without its modifiers: character varying(255) -> character varying (what a
    literal cast to it prints)."""
    return re.sub(r"\(\s*[\d,\s]+\)", "", type_text)


def map_type(text: str) -> str | None:
    """TEXT (another database's type, no array brackets) -> the PostgreSQL type it is read
    as (a spelling `canonical` accepts), or None when MAPPED has no entry for it."""
    low = " ".join(text.lower().split())
    low = re.sub(r"\s*\(\s*", "(", re.sub(r"\s*\)", ")", re.sub(r"\s*,\s*", ",", low)))
    low = re.sub(r"\s+zerofill\Z", "", low)
    unsigned = low.endswith(" unsigned")
    low = low.removesuffix(" unsigned")
    match = re.fullmatch(r"([a-z][a-z0-9 ]*?)(?:\((\d+)(?:,(\d+))?\)|\(max\))?", low)
    if match is None:
        return None
    head, first, second = match.groups()
    if unsigned:
        target = MAPPED.get(f"{head} unsigned")
        if target is None and _builtin(head) in ("numeric", "real", "double precision"):
            target = _builtin(head) + (f"({first},{second or 0})" if first else "")
        return target
    if low in MAPPED:
        return MAPPED[low]
    if first is not None:
        pattern = f"{head}(n,n)" if second is not None else f"{head}(n)"
        target = MAPPED.get(pattern)
        if target is not None:
            values = [first, second] if second is not None else [first]
            if target.endswith("(n)"):
                kind = target[:-3]
                value = int(first)
                value = min(value, _MAX_PRECISION.get(kind, value))
                return f"{kind}({value})"
            if target.endswith("(n,n)"):
                return f"{target[:-5]}({','.join(values)})"
            return target
    return MAPPED.get(head)


_NO_MODIFIER = frozenset({"integer", "smallint", "bigint", "text", "boolean", "real",
                          "double precision", "uuid", "date", "json", "jsonb", "bytea"})

_MODS = re.compile(r"\(\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?\)")
# The modifiers PostgreSQL takes, by type: (what, lowest, highest). Beyond them is its
# error, or for a number beyond 2^31 its parser's syntax error; a time precision above 6
# is cut to 6 with a warning, so what the server printed back would differ from the file.
LIMITS = {"character varying": ("length", 1, 10485760), "character": ("length", 1, 10485760),
          "bit": ("length", 1, 83886080), "bit varying": ("length", 1, 83886080),
          "numeric": ("precision", 1, 1000), "numeric scale": ("scale", -1000, 1000),
          "timestamp": ("precision", 0, 6), "time": ("precision", 0, 6),
          "interval": ("precision", 0, 6), "vector": ("dimension count", 1, 16000),
          "halfvec": ("dimension count", 1, 16000)}


def _in_range(head: str, value: int, raw: str) -> int:
    """VALUE, or TypeProblem when PostgreSQL refuses it as HEAD's modifier."""
    what, low, high = LIMITS[head]
    if low <= value <= high:
        return value
    fix = f"write a {what} from {low} to {high}"
    if value > high and head in ("character varying", "character"):
        fix += ", or text for longer values"
    raise TypeProblem(f"{raw!r}: the {what} {value} is out of range for "
                      f"{head.removesuffix(' scale')}", fix)


def canonical(text: str, user_types: dict[str, str], tables: frozenset[str] = frozenset(),
              strict: bool = False) -> ColumnType:
    """TEXT (a column type as written) -> its ColumnType. `user_types` maps the names a
    file may use for its enums (exactly as written: "mood", "app.mood") to their
    canonical spelling; `tables` holds the file's table names (a table is not a type).
    Another database's type name is read as its PostgreSQL type (MAPPED), or with STRICT
    refused. Raises TypeProblem."""
    raw = " ".join(text.split())
    if raw in user_types:
        return ColumnType(user_types[raw])
    base, dims = raw, ""
    while True:
        match = re.search(r"\s*\[\s*\d*\s*\]\Z", base)
        if not match:
            break
        base, dims = base[:match.start()], "[]"
    if dims and base in user_types:
        return ColumnType(user_types[base] + "[]")
    low = base.lower()
    if low in user_types or base in tables or low in tables:
        return _refuse(raw, base, user_types, tables)
    serial = _SERIALS.get(low)
    if serial:
        if dims:
            raise TypeProblem(f"{raw!r} is not a type: serial types cannot be arrays",
                              f"write {serial}[]")
        return ColumnType(serial, serial=True)
    vector = re.fullmatch(r"(vector|halfvec)\((\d+)\)", low)
    if low in _EXTENSION_TYPES or vector:
        if vector:
            _in_range(vector.group(1), int(vector.group(2)), raw)
        return ColumnType(low + dims, extension=_EXTENSION_TYPES[low.split("(")[0]])
    name = _builtin(low, raw)
    if name is None and not strict:
        target = map_type(base)
        if target is not None:
            kind = canonical(target + dims, {}, strict=True)
            return ColumnType(kind.type, serial=kind.serial, mapped_from=base)
    if name is None:
        return _refuse(raw, base, user_types, tables)
    return ColumnType(name + dims)


def _builtin(low: str, raw: str = "") -> str | None:
    """A built-in type in lower case -> format_type spelling, None when unknown;
    TypeProblem (naming RAW) when its modifier is out of PostgreSQL's range."""
    raw = raw or low
    if low in _ALIASES:
        name = _ALIASES[low]
        return "character(1)" if name == "character" else "bit(1)" if name == "bit" else name
    if low in _PLAIN:
        return low
    if low.startswith('"char"'):
        return '"char"' if low == '"char"' else None
    m = re.fullmatch(r"(timestamp|time)(\s*\(\s*\d+\s*\))?(\s+(with|without)\s+time\s+zone)?",
                     low)
    if m:
        precision = re.sub(r"\s", "", m.group(2) or "")
        if precision:
            _in_range(m.group(1), int(precision[1:-1]), raw)
        zone = "with" if m.group(4) == "with" else "without"
        return f"{m.group(1)}{precision} {zone} time zone"
    m = re.fullmatch(r"(timestamptz|timetz)\s*(\(\s*\d+\s*\))", low)
    if m:
        kind = "timestamp" if m.group(1) == "timestamptz" else "time"
        _in_range(kind, int(re.sub(r"[\s()]", "", m.group(2))), raw)
        return f"{kind}{re.sub(r'[ ]', '', m.group(2))} with time zone"
    m = re.fullmatch(r"interval(?:\s+(" + "|".join(_INTERVAL_FIELDS) + r"))?"
                     r"(?:\s*\(\s*(\d+)\s*\))?", low)
    if m:
        text = "interval"
        if m.group(1):
            text += " " + m.group(1)
        if m.group(2):
            text += f"({_in_range('interval', int(m.group(2)), raw)})"
        return text
    m = re.fullmatch(r"([a-z][a-z ]*?)\s*(\(.*\))", low)
    if m:
        head = _ALIASES.get(m.group(1).strip())
        mods = _MODS.fullmatch(m.group(2))
        if m.group(1).strip() == "float" and mods is not None and mods.group(2) is None:
            first = int(mods.group(1))  # float(p): p binary digits
            if not 1 <= first <= 53:
                return None
            return "real" if first <= 24 else "double precision"
        if head is None or mods is None or head in _NO_MODIFIER:
            return None
        first, second = int(mods.group(1)), mods.group(2)
        if head == "double precision" or head == "real":
            return None
        if head == "numeric":
            _in_range(head, first, raw)
            scale = _in_range("numeric scale", int(second), raw) if second else 0
            return f"numeric({first},{scale})"
        if second is not None or first < 1:
            return None
        return f"{head}({_in_range(head, first, raw)})"
    return None


def _refuse(raw: str, base: str, user_types: dict[str, str], tables: frozenset[str]):
    low = base.lower()
    if base in tables or low in tables:
        raise TypeProblem(
            f"{raw!r} is a table, not a type",
            f"give the column the type of {base}'s key (e.g. uuid or integer) and add "
            f"`ref: > {base}.id`")
    folded = {k.lower(): k for k in user_types}
    if low in folded:
        raise TypeProblem(f"unknown type {raw!r}",
                          f"enum names are case-sensitive: write {folded[low]}")
    m = re.fullmatch(r"enum\s*\((.*)\)", base, re.IGNORECASE | re.DOTALL)
    if m:
        values = [v.strip().strip("'\"") for v in m.group(1).split(",") if v.strip()]
        body = " ".join(values) or "a b"
        raise TypeProblem(f"{raw!r} is MySQL's inline enum, PostgreSQL has none",
                          f"define `Enum <name> {{ {body} }}` and use <name> as the type")
    key = re.sub(r"\s*\(\s*", "(", low)
    fix = _FOREIGN.get(key) or _FOREIGN.get(low.split("(")[0].strip())
    if fix is None and "(" in low:
        head = low.split("(")[0].strip()
        if _builtin(head):
            raise TypeProblem(f"unknown type {raw!r}: these modifiers do not fit {head}",
                              f"write {head}" + (" or numeric(p,s)" if head != "numeric"
                                                 else "(precision, scale)"))
        if head.replace(" ", "") in ("int", "integer", "bigint", "smallint"):
            fix = _ALIASES.get(head.replace(" ", ""), head)
    if fix is not None:
        return_type = fix
        if "(" in low and fix in ("varchar",):
            return_type = "varchar" + low[low.index("("):].replace(" ", "")
        raise TypeProblem(f"unknown type {raw!r} (not PostgreSQL)", f"write {return_type}")
    fix = "use a PostgreSQL type (text, integer, varchar(n), timestamptz, ...)"
    if re.fullmatch(r"\w+(\.\w+)?", base):
        fix += f" or define `Enum {base} {{ ... }}` in this file"
    raise TypeProblem(f"unknown type {raw!r}", fix)

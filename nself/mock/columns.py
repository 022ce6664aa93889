"""A column of the schema model -> the `Values` that fill it (by name, then by type).

Raises UnknownType for a type mock cannot make (the caller names the column and the
`--skip TABLE` way out)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from nself.mock import values as V
from nself.mock.checks import Restriction, Unsolved, solve
from nself.schema.model import Column, Schema

_MODS = re.compile(r"^(.*?)\((\d+)(?:,\s*(\d+))?\)(.*)$")
_TEXT_TYPES = {"text", "character varying", "citext", "name", "bpchar", "character"}
_TIME_TYPES = {"timestamp with time zone": "timestamptz",
               "timestamp without time zone": "timestamp", "date": "date",
               "time without time zone": "time", "time with time zone": "time"}
_FORMATTED = {"inet", "cidr", "macaddr", "macaddr8", "bytea", "json", "jsonb", "interval",
              "point", "tsvector", "xml", "money", "int4range", "int8range", "numrange",
              "daterange", "tsrange", "tstzrange"}

# Column name -> text guide (first match wins; names are compared in lower case).
_TEXT_GUIDES = [
    (r".*e_?mail(_address)?", "email"), (r"(first|given)_?name", "first_name"),
    (r"(last|family|sur)_?name", "last_name"),
    (r"(full_?|display_?|real_?|user_?|contact_?|author_?)?name", "full_name"),
    (r"(user_?name|login|handle|nick(name)?)", "username"),
    (r".*slug", "slug"), (r"(title|headline|subject|label)", "title"),
    (r"(avatar|photo|image|picture|thumbnail|logo)(_url)?", "avatar"),
    (r".*(url|website|homepage|link|href)", "url"),
    (r".*(phone|mobile|fax)(_number)?", "phone"),
    (r"(content|body|bio|about|description|text|notes?|comment|message|details)", "paragraph"),
    (r"(excerpt|summary|tagline|caption|teaser)", "sentence"),
    (r".*password.*|.*_hash|hash", "password_hash"),
    (r".*(token|secret|api_?key|nonce)", "token"),
    (r"country_?(code|iso)", "country_code"), (r"country(_name)?", "country"),
    (r"city|town", "city"), (r"(state|province|region)", "state"),
    (r"(zip|postal)_?(code)?|postcode", "zip"),
    (r"(street|address)(_?line)?_?1?|address", "address"),
    (r"(company|organi[sz]ation|employer)(_name)?", "company"),
    (r"(job|job_title|occupation|position_title)", "job"),
    (r"colou?r", "color"), (r"currency(_code)?", "currency"),
    (r"(lang|language|locale)(_code)?", "language"), (r"(time_?zone|tz)", "timezone"),
    (r"status|state", "status"),
]
# Column name -> (low, high) for numbers.
_NUMBER_GUIDES = [
    (r"age", (18, 90)), (r".*year", (1970, 2025)),
    (r"(price|amount|cost|total|subtotal|fee|balance|salary|revenue)(_\w+)?", (1, 500)),
    (r"(quantity|qty|count|stock|.*_count)", (0, 100)),
    (r"(rating|stars|score|priority|level|rank)", (1, 5)),
    (r"(lat|latitude)", (-90, 90)), (r"(lng|lon|long|longitude)", (-180, 180)),
    (r"(percent|percentage|discount)", (0, 100)),
    (r"(position|sort_?order|ordinal|seq|sequence)", (1, 1000)),
]
_LATER_TIMES = {"updated_at": 90 * 86400, "modified_at": 90 * 86400,
                "published_at": 30 * 86400, "last_login_at": 180 * 86400,
                "deleted_at": 180 * 86400, "ends_at": 7 * 86400, "end_at": 7 * 86400,
                "expires_at": 365 * 86400, "completed_at": 30 * 86400,
                "confirmed_at": 2 * 86400, "verified_at": 2 * 86400}
_BIRTH = re.compile(r"(birth_?(date|day)|dob|date_of_birth)")


def _words(name: str) -> str:
    """A column name as lower-case words joined by _: "firstName", "First Name" -> first_name."""
    return re.sub(r"[\s\-]+", "_", re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)).lower()


def text_guide(name: str) -> str:
    low = _words(name)
    for pattern, guide in _TEXT_GUIDES:
        if re.fullmatch(pattern, low):
            return guide
    return "words"


def number_range(name: str) -> tuple[int, int] | None:
    low = _words(name)
    for pattern, bounds in _NUMBER_GUIDES:
        if re.fullmatch(pattern, low):
            return bounds
    return None


def split_type(text: str) -> tuple[str, tuple[int, ...], bool]:
    """format_type text -> (base name, modifiers, is array)."""
    array = text.endswith("[]")
    if array:
        text = text[:-2]
    m = _MODS.match(text)
    if m:
        mods = (int(m.group(2)),) + ((int(m.group(3)),) if m.group(3) else ())
        return (m.group(1) + m.group(4)).strip(), mods, array
    return text.strip(), (), array


def _unquote(name: str) -> str:
    return ".".join(part.strip('"') for part in re.findall(r'"[^"]*"|[^.]+', name))


def find_type(schema: Schema, name: str):
    """The enum or domain the type `name` (format_type spelling) is, or None."""
    plain = _unquote(name)
    qualified = plain if "." in plain else f"public.{plain}"
    enum = next((e for e in schema.enums if e.qualified == qualified), None)
    if enum is not None:
        return enum
    return next((d for d in schema.domains if d.qualified == qualified), None)


def resolve(schema: Schema, table: str, column: Column, restriction: Restriction | None,
            unsolved: list[str] | None = None) -> V.Spec:
    """The Spec of `column`: its type split up (through domains), nullability and checks;
    the domain checks it cannot solve are added to `unsolved`."""
    type_text = column.type
    nullable = column.nullable
    restriction = replace(restriction) if restriction else Restriction()
    enum_values = None
    for _ in range(10):  # domains over domains
        base, mods, array = split_type(type_text)
        found = find_type(schema, base)
        if found is None:
            break
        if hasattr(found, "values"):
            enum_values = list(found.values)
            break
        nullable = nullable and found.nullable
        for check in found.checks:
            try:
                solution = solve(check, value_column=column.name)
            except Unsolved:
                if unsolved is not None:
                    unsolved.append(f"{table.removeprefix('public.')}.{column.name}: domain "
                                    f"{found.name} {check}")
                continue
            for r in solution.columns.values():
                restriction.merge(r)
        type_text = re.sub(r'\s+COLLATE\s+.*$', "", found.type)
        if array:
            type_text += "[]"
    base, mods, array = split_type(type_text)
    return V.Spec(table=table, name=column.name, base=base, mods=mods, array=array,
                  enum_values=enum_values, nullable=nullable, restriction=restriction)


def make_values(spec: V.Spec, seed: int, counter_base: int, people: V.People,
                timeline: V.Timeline, unique_int_start: int | None = None) -> V.Values:
    """The Values for `spec`; raises UnknownType."""
    if spec.array:
        element = make_values(replace(spec, array=False, unique=False, nullable=False,
                                      restriction=Restriction()), seed, counter_base,
                              people, timeline)
        return V.Arrays(spec, seed, counter_base, element=element)
    r = spec.restriction or Restriction()
    name = spec.name.lower()
    base = spec.base
    if r.choices is not None:
        choices = [c for c in r.choices if c not in r.excluded]
        if spec.enum_values is not None:
            choices = [c for c in choices if c in spec.enum_values]
        if not choices:
            raise V.UnknownType("its CHECK allows no value")
        return V.Choice(spec, seed, counter_base, choices=[_literal(c) for c in choices])
    if spec.enum_values is not None:
        choices = [c for c in spec.enum_values if c not in r.excluded] or spec.enum_values
        weights = None
        if not spec.unique and name in ("role", "user_role") and "user" in choices:
            weights = [20 if c == "user" else 1 for c in choices]
        return V.Choice(spec, seed, counter_base, choices=choices, weights=weights)
    if base == "boolean":
        weights = [85, 15] if name.startswith(("is_", "email_verified", "active",
                                                "enabled", "verified")) else None
        return V.Choice(spec, seed, counter_base, choices=["t", "f"], weights=weights)
    if base in V.INT_BOUNDS:
        low, high = V.INT_BOUNDS[base]
        guide = number_range(name) or (1, 10000)
        g_low, g_high = max(guide[0], low), min(guide[1], high)
        low, high = _bounds(r, low, high, int)
        if unique_int_start is not None:
            low = max(low, unique_int_start)
        if not spec.unique:
            g_low, g_high = max(g_low, low), min(g_high, high)
            if g_low <= g_high:
                low, high = g_low, g_high
            else:
                high = min(high, low + 10000)
        if low > high:
            raise V.UnknownType("its type and CHECKs allow no value")
        return V.Integers(spec, seed, counter_base, low=low, high=high)
    if base == "numeric" or base in ("real", "double precision"):
        precision, scale = (spec.mods + (0,))[:2] if spec.mods else (None, 2)
        if base != "numeric":
            scale = 2
        top = Decimal(10) ** (precision - scale) - Decimal(1).scaleb(-scale) \
            if precision else Decimal(10) ** 9
        low, high = _bounds(r, -top, top, Decimal, step=Decimal(1).scaleb(-scale))
        guide = number_range(name) or (0, 1000)
        if not spec.unique:
            g_low, g_high = max(Decimal(guide[0]), low), min(Decimal(guide[1]), high)
            if g_low <= g_high:
                low, high = g_low, g_high
        elif low < 0 <= high:
            low = Decimal(0)
        if low > high:
            raise V.UnknownType("its type and CHECKs allow no value")
        if base == "numeric":
            return V.Decimals(spec, seed, counter_base, low=low, high=high, scale=scale)
        return V.Floats(spec, seed, counter_base, low=float(low), high=float(high))
    if base in _TEXT_TYPES:
        width = spec.mods[0] if spec.mods else None
        if base in ("character", "bpchar") and not (r.min_length or r.max_length) and \
                width is not None and width <= 3:
            return V.FixedWidth(spec, seed, counter_base, width=width,
                                alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        high = width
        if r.max_length is not None:
            high = min(high, r.max_length) if high else r.max_length
        return V.Texts(spec, seed, counter_base, guide=text_guide(spec.name), people=people,
                       max_length=high, min_length=r.min_length)
    if base == '"char"':
        return V.FixedWidth(spec, seed, counter_base, width=1)
    if base in ("bit", "bit varying"):
        width = spec.mods[0] if spec.mods else (1 if base == "bit" else 16)
        return V.FixedWidth(spec, seed, counter_base, width=width, alphabet="01",
                            exact=base == "bit")
    if base == "uuid":
        return V.Uuids(spec, seed, counter_base)
    kind = _TIME_TYPES.get(re.sub(r"\(\d+\)", "", base))
    if kind is not None:
        low, high = V.bound_moment(r.low), V.bound_moment(r.high)
        if low is not None and r.low_strict:
            low += timedelta(days=1) if kind == "date" else timedelta(seconds=1)
        if _BIRTH.fullmatch(name) and low is None and high is None:
            low, high = V.EPOCH.replace(year=1950), V.EPOCH.replace(year=2005)
        if low is not None and high is None:
            high = low + timedelta(seconds=V.SPAN_SECONDS)
        if high is not None and low is None:
            low = high - timedelta(seconds=V.SPAN_SECONDS)
        lag = _LATER_TIMES.get(name)
        if lag and not spec.unique and low is None and kind != "time":
            return V.Times(spec, seed, counter_base, kind=kind, timeline=timeline, lag=lag)
        if name in ("created_at", "inserted_at", "created", "created_on") and low is None \
                and not spec.unique:
            return V.Times(spec, seed, counter_base, kind=kind, timeline=timeline, lag=0)
        return V.Times(spec, seed, counter_base, kind=kind, low=low, high=high)
    if base in _FORMATTED:
        return V.Formatted(spec, seed, counter_base, kind=base)
    if base == "oid":
        return V.Integers(spec, seed, counter_base, low=1, high=2**31)
    raise V.UnknownType(f"type {spec.base}{'[]' if spec.array else ''}")


def _literal(value) -> str:
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


def _bounds(r: Restriction, low, high, kind, step=1):
    lo, hi = V.bound_number(r.low, kind), V.bound_number(r.high, kind)
    if lo is not None:
        low = max(low, lo + step if r.low_strict else lo)
    if hi is not None:
        high = min(high, hi - step if r.high_strict else hi)
    return low, high

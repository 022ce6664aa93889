"""One column's mock values: realistic by the column's name, valid by its type and checks.

A `Values` makes the values of rows `start .. start+n` of one column as COPY text (NULL is
`\\N`). Each column draws from its own random stream, seeded from the run's seed and the
column's identity (schema, table, column), so a column's values do not change when another
column is added, and `--seed` gives the same rows whatever else changed. Columns of one
person (first_name, last_name, email, ...) share the table's person stream, and the times
of a row (created_at <= updated_at <= published_at) its timeline, so one row agrees with
itself. Unique columns are unique by construction: their values embed a counter.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from itertools import repeat
from operator import add, floordiv, itemgetter, mod

from nself.mock import words as W
from nself.mock.checks import Restriction

NULL = "\\N"
# Fixed, so the same seed gives the same rows on any day.
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
SPAN_SECONDS = 2 * 365 * 86400
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# Share of NULLs in nullable time columns that name an event which may not have happened.
_TIME_NULLS = {"published_at": 0.3, "deleted_at": 0.9, "last_login_at": 0.2,
               "completed_at": 0.4, "confirmed_at": 0.2, "verified_at": 0.3}
INT_BOUNDS = {"smallint": (-2**15, 2**15 - 1), "integer": (-2**31, 2**31 - 1),
               "bigint": (-2**63, 2**63 - 1), "oid": (0, 2**32 - 1)}


class UnknownType(Exception):
    """A column type mock cannot make values for."""


class Unmakeable(Exception):
    """A column cannot take as many distinct values as the count asks for."""


def escape(text: str) -> str:
    """`text` as a COPY text field."""
    return text.translate(_COPY_ESCAPES)


def numbers(rng: random.Random, size: int, n: int):
    """`n` random whole numbers in [0, size), made in C (random bytes, map): the hot path
    of every column. The modulo bias is at most 2**-16; the bytes are read in the
    machine's order (the same on every little-endian machine, so for `--seed`)."""
    width, code = (4, "I") if size <= 2**16 else (8, "Q")
    raw = memoryview(rng.randbytes(width * n)).cast(code)
    return map(mod, raw, repeat(size))


def pick(rng: random.Random, pool, n: int) -> list:
    """`n` random members of `pool` (a list, tuple or range)."""
    if n <= 0:
        return []
    got = itemgetter(*numbers(rng, len(pool), n))(pool)
    return list(got) if n > 1 else [got]


def between(rng: random.Random, low: int, high: int, n: int) -> list[int]:
    """`n` random integers in [low, high]."""
    return list(map(add, numbers(rng, high - low + 1, n), repeat(low)))


def stream(seed: int, *identity: str) -> random.Random:
    """A random stream for `identity` under `seed`, the same in every Python version."""
    digest = hashlib.sha256(":".join((str(seed), *identity)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass
class Spec:
    """What a column needs: its name, its type split up, and what may go in it."""
    table: str                      # schema.table
    name: str
    base: str                       # the element type's name without modifiers
    mods: tuple[int, ...] = ()
    array: bool = False
    enum_values: list[str] | None = None
    nullable: bool = True
    unique: bool = False
    restriction: Restriction | None = None


class Values:
    """Values for one column; subclasses implement `native(rng, start, n)`."""

    null_share = 0.1

    def __init__(self, spec: Spec, seed: int, counter_base: int = 0):
        self.spec = spec
        self.rng = stream(seed, spec.table, spec.name)
        self.counter_base = counter_base
        self.nulls = spec.nullable and not spec.unique and not (
            spec.restriction and spec.restriction.not_null)

    def make(self, start: int, n: int, encode=None, null=NULL) -> list:
        """COPY text fields (NULL is \\N); with `encode`, binary fields made from the
        native values (NULL is `null`): the same rows, the stream consumed the same way."""
        values = self.fields(start, n, encode) if encode else self.text(start, n)
        if self.nulls and self.null_share:
            cut = int(self.null_share * 256)
            values = [null if b < cut else v
                      for v, b in zip(values, self.rng.randbytes(n), strict=True)]
        return values

    def text(self, start: int, n: int) -> list[str]:
        raise NotImplementedError

    def native(self, start: int, n: int) -> list:
        """Unescaped values (times: seconds since EPOCH); text unless a subclass says."""
        return self.text(start, n)

    def fields(self, start: int, n: int, encode) -> list:
        """Binary fields for the rows (`encode` turns native values into fields)."""
        return encode(self.native(start, n))


class Choice(Values):
    """One of a fixed list of values (enum labels, CHECK IN lists, booleans)."""

    def __init__(self, spec, seed, counter_base=0, choices=None, weights=None):
        super().__init__(spec, seed, counter_base)
        self.raw = [str(c) for c in choices]
        self.choices = [escape(c) for c in self.raw]
        self.indices = [i for i, w in enumerate(weights or [1] * len(self.raw)) for _ in range(w)]

    def text(self, start, n):
        return [self.choices[i] for i in self._picks(start, n)]

    def native(self, start, n):
        return [self.raw[i] for i in self._picks(start, n)]

    def _picks(self, start, n):
        if self.spec.unique:
            return [(self.counter_base + start + i) % len(self.raw) for i in range(n)]
        return pick(self.rng, self.indices, n)


class Integers(Values):
    def __init__(self, spec, seed, counter_base=0, low=1, high=10000):
        super().__init__(spec, seed, counter_base)
        self.low, self.high = low, high

    def text(self, start, n):
        if self.spec.unique:
            first = self.low + self.counter_base + start
            return list(map(str, range(first, first + n)))
        return list(map(str, between(self.rng, self.low, self.high, n)))


class Decimals(Values):
    def __init__(self, spec, seed, counter_base=0, low=Decimal(0), high=Decimal(1000),
                 scale=2):
        super().__init__(spec, seed, counter_base)
        self.scale = scale
        unit = Decimal(10) ** scale
        self.low, self.high = int(low * unit), int(high * unit)

    def text(self, start, n):
        scale = self.scale
        if self.spec.unique:
            raw = range(self.low + self.counter_base + start, self.low + self.counter_base
                        + start + n)
        else:
            raw = between(self.rng, self.low, self.high, n)
        if scale == 0:
            return list(map(str, raw))
        return [str(Decimal(q).scaleb(-scale)) for q in raw]


class Floats(Values):
    def __init__(self, spec, seed, counter_base=0, low=0.0, high=1000.0):
        super().__init__(spec, seed, counter_base)
        self.low, self.high = low, high

    def text(self, start, n):
        if self.spec.unique:
            return [f"{self.low + self.counter_base + start + i}.5" for i in range(n)]
        uniform = self.rng.uniform
        return [f"{uniform(self.low, self.high):.6g}" for _ in range(n)]


class Uuids(Values):
    """Time-ordered, random-looking UUIDs (version 7 layout); unique by construction: the
    counter sits in the timestamp bits, the rest is the column's random stream."""

    tails: list[str] | None = None
    tail_fields: list[bytes] | None = None

    def _tails(self) -> list[str]:
        if self.tails is None:
            rnd = self.rng.getrandbits
            self.tails = []
            for _ in range(8192):
                lo = 0x8000000000000000 | rnd(62)
                h = f"{lo:016x}"
                self.tails.append(f"-7{rnd(12):03x}-{h[:4]}-{h[4:]}")
        return self.tails

    def text(self, start, n):
        tails = self._tails()
        first = 0x018CC251F400 + self.counter_base + start  # 2024-01-01 in ms
        return [f"{c >> 16:08x}-{c & 0xFFFF:04x}{t}" for c, t in
                zip(range(first, first + n), pick(self.rng, tails, n), strict=True)]

    def fields(self, start, n, encode):
        """Binary fields straight from the counter and the tails (the same draws)."""
        tails = self._tails()
        if self.tail_fields is None:
            self.tail_fields = [bytes.fromhex(t.replace("-", "")) for t in tails]
        first = 0x018CC251F400 + self.counter_base + start
        heads = map(add, repeat(b"\x00\x00\x00\x10"),
                    map(int.to_bytes, range(first, first + n), repeat(6)))
        return list(map(add, heads, pick(self.rng, self.tail_fields, n)))


class Times(Values):
    """Timestamps (or dates) inside the restriction or the last two years; with a
    `timeline`, a random delay of at most `lag` seconds after the row's moment on the
    table's timeline (created_at <= updated_at <= ...). Moments are whole seconds since
    EPOCH, formatted through per-day and per-second tables."""

    def __init__(self, spec, seed, counter_base=0, kind="timestamptz", low=None, high=None,
                 timeline=None, lag=None):
        super().__init__(spec, seed, counter_base)
        self.kind = kind
        self.low = _seconds(low) if low is not None else 0
        self.high = _seconds(high) if high is not None else SPAN_SECONDS
        self.timeline = timeline
        self.lag = lag
        self.null_share = _TIME_NULLS.get(spec.name.lower(), 0.1 if timeline is None else 0.0)

    def moments(self, start, n) -> list[int]:
        if self.timeline is not None:
            base = self.timeline.moments(start, n)
            if not self.lag:
                return base
            high = self.timeline.high
            return list(map(min, map(add, base, numbers(self.rng, self.lag + 1, n)),
                            repeat(high)))
        span = max(self.high - self.low - 1, 1)
        if self.spec.unique:
            step = 86400 if self.kind == "date" else 1
            first = self.low + (self.counter_base + start) * step
            return list(range(first, first + n * step, step))
        return between(self.rng, self.low, self.low + span, n)

    def text(self, start, n):
        return format_moments(self.moments(start, n), self.kind)

    def native(self, start, n):
        return self.moments(start, n)


def _seconds(moment: datetime) -> int:
    return int((moment - EPOCH).total_seconds())


_DAYS: dict[int, str] = {}
_CLOCK: list[str] = []
_CLOCKS: dict[str, list[str]] = {}


def format_moments(seconds: list[int], kind: str) -> list[str]:
    """Seconds since EPOCH as COPY text of a date, time, timestamp or timestamptz."""
    if not _CLOCK:
        _CLOCK.extend(f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60)
                      for s in range(60))
        _CLOCKS[""] = [" " + c for c in _CLOCK]
        _CLOCKS["+00"] = [f" {c}+00" for c in _CLOCK]
    days = _DAYS
    for d in {x // 86400 for x in seconds} - days.keys():
        days[d] = (EPOCH + timedelta(days=d)).date().isoformat()
    clock = _CLOCK
    if kind == "date":
        return [days[x // 86400] for x in seconds]
    if kind == "time":
        return [clock[x % 86400] for x in seconds]
    zone = "+00" if kind == "timestamptz" else ""
    return list(map(add, map(days.__getitem__, map(floordiv, seconds, repeat(86400))),
                    map(_CLOCKS[zone].__getitem__, map(mod, seconds, repeat(86400)))))


class Timeline:
    """The shared 'created' moment of each row of a table (its own stream)."""

    def __init__(self, seed, table, low=None, high=None):
        self.rng = stream(seed, table, "#timeline")
        self.low = _seconds(low) if low is not None else 0
        self.high = _seconds(high) if high is not None else SPAN_SECONDS
        self._cache: tuple[int, int, list] | None = None

    def moments(self, start, n):
        if self._cache and self._cache[0] == start and self._cache[1] == n:
            return self._cache[2]
        values = between(self.rng, self.low, self.high - 1, n)
        self._cache = (start, n, values)
        return values


class People:
    """The person each row of a table is about: indices into the name lists (own stream)."""

    def __init__(self, seed, table):
        self.rng = stream(seed, table, "#person")
        self._cache: tuple[int, int, list] | None = None

    def rows(self, start, n):
        if self._cache and self._cache[0] == start and self._cache[1] == n:
            return self._cache[2]
        values = list(zip(numbers(self.rng, len(W.FIRST_NAMES), n),
                          numbers(self.rng, len(W.LAST_NAMES), n), strict=True))
        self._cache = (start, n, values)
        return values




class Texts(Values):
    """Text by the column's name (email, names, title, slug, url, ...) or a few words."""

    def __init__(self, spec, seed, counter_base=0, guide="words", people=None,
                 max_length=None, min_length=None):
        super().__init__(spec, seed, counter_base)
        self.guide = guide
        self.people = people
        self.max_length = max_length
        self.min_length = min_length or 0
        self.null_share = 0.05 if guide not in ("words", "sentence") else 0.1
        if guide in ("first_name", "last_name", "full_name", "email", "username"):
            self.null_share = 0.02
        self.sentences = None
        self.paragraphs = None
        self.slugs = None
        self.salts = None
        self._encode = None     # set while making binary fields straight from pools
        self._encoded: dict[int, list] = {}

    def _sentence_pool(self):
        if self.sentences is None:
            rng = stream(0, self.spec.table, self.spec.name, "#sentences")
            self.sentences = [" ".join(rng.choices(W.WORDS, k=rng.randint(4, 10))).capitalize()
                              for _ in range(2000)]
            self.paragraphs = [". ".join(rng.choices(self.sentences, k=rng.randint(2, 5))) + "."
                               for _ in range(1000)]
        return self.sentences

    _POOLED = frozenset({"title", "slug", "paragraph", "sentence", "password_hash",
                         "country_code", "city", "country", "street", "company", "state", "job",
                         "color", "currency", "language", "timezone", "status"})

    def fields(self, start, n, encode):
        """Pool-drawn texts come from pools encoded once (the same draws as `text`)."""
        if self.spec.unique or self.min_length or self.guide not in self._POOLED:
            return encode(self.native(start, n))
        self._encode = encode
        try:
            return self.base(start, n)
        finally:
            self._encode = None

    def _choose(self, pool, n) -> list:
        if self._encode is None:
            return pick(self.rng, pool, n)
        encoded = self._encoded.get(id(pool))
        if encoded is None:
            high = self.max_length
            encoded = self._encoded[id(pool)] = self._encode(
                [v[:high] for v in pool] if high is not None else list(pool))
        return pick(self.rng, encoded, n)

    def base(self, start, n) -> list[str]:
        g = self.guide
        rng = self.rng
        if g in ("first_name", "last_name", "full_name", "email", "username"):
            people = self.people.rows(start, n)
            first, last = W.FIRST_NAMES, W.LAST_NAMES
            if g == "first_name":
                return [first[f] for f, _ in people]
            if g == "last_name":
                return [last[s] for _, s in people]
            if g == "full_name":
                return [f"{first[f]} {last[s]}" for f, s in people]
            if g == "username":
                return [f"{first[f].lower()}{last[s].lower()[:6]}" for f, s in people]
            domains = pick(rng, W.EMAIL_DOMAINS, n)
            return [f"{first[f].lower()}.{last[s].lower()}@{d}"
                    for (f, s), d in zip(people, domains, strict=True)]
        if g == "title":
            pool = self._sentence_pool()
            return self._choose(pool, n)
        if g == "slug":
            if self.slugs is None:
                self.slugs = [s.lower().replace(" ", "-")[:60].rstrip("-")
                              for s in self._sentence_pool()]
            return self._choose(self.slugs, n)
        if g in ("paragraph", "sentence"):
            self._sentence_pool()
            return self._choose(self.paragraphs if g == "paragraph" else self.sentences, n)
        if g == "url":
            pool = self._sentence_pool()
            return [f"https://example.com/{s[:s.find(' ')].lower()}/{x}" for s, x in zip(
                pick(rng, pool, n), numbers(rng, 10**6, n), strict=True)]
        if g == "avatar":
            return [f"https://i.pravatar.cc/150?u={x}" for x in numbers(rng, 10**8, n)]
        if g == "phone":
            return [f"+1-555-{rng.randrange(1000):03d}-{rng.randrange(10000):04d}"
                    for _ in range(n)]
        if g == "password_hash":
            alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
            if self.salts is None:
                self.salts = ["$2b$12$" + "".join(rng.choices(alphabet, k=53))
                              for _ in range(256)]
            return self._choose(self.salts, n)
        if g == "token":
            return [f"{rng.getrandbits(128):032x}" for _ in range(n)]
        if g == "country_code":
            return self._choose(W.COUNTRY_CODES, n)
        pools = {"city": W.CITIES, "country": W.COUNTRIES, "street": W.STREETS,
                 "company": W.COMPANIES, "state": W.STATES, "job": W.JOBS,
                 "color": ("red", "green", "blue", "black", "white", "orange", "purple"),
                 "currency": ("USD", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF"),
                 "language": ("en", "fr", "de", "es", "it", "pt", "ja", "zh"),
                 "timezone": ("UTC", "Europe/London", "Europe/Paris", "America/New_York",
                              "America/Los_Angeles", "Asia/Tokyo", "Australia/Sydney"),
                 "status": ("active", "inactive", "pending"),
                 "zip": None, "address": None}
        if g == "zip":
            return list(map("{:05d}".format, numbers(rng, 100000, n)))
        if g == "address":
            return [f"{x + 1} {s}" for x, s in zip(numbers(rng, 9999, n), pick(rng, W.STREETS, n),
                                                   strict=True)]
        if pools.get(g):
            return self._choose(pools[g], n)
        return [" ".join(rng.choices(W.WORDS, k=rng.randint(1, 3))) for _ in range(n)]

    def text(self, start, n):
        values = self.base(start, n)
        high, low = self.max_length, self.min_length
        if self.spec.unique:
            first = self.counter_base + start
            digits = len(f"{first + n:x}")
            if high is not None and digits > high:
                raise Unmakeable(f"{self.spec.name} holds {high} characters: too few for "
                                 f"{first + n:,} unique values")
            if self.guide in ("email", "username"):
                form = "{:x}"
            elif high is not None and digits + 1 > high:
                form = f"{{:0{digits}x}}"  # no room for the dash: a fixed width instead
            else:
                form = "-{:x}"
            tags = map(form.format, range(first, first + n))
            if self.guide == "email":  # the counter goes before the @
                values = list(map(str.replace, values, repeat("@"), map(add, tags,
                                                                        repeat("@"))))
            else:
                values = list(map(add, values, tags))
            if high is not None and max(map(len, values)) > high:
                width = len(form.format(first + n))
                values = [v if len(v) <= high else v[:max(high - width, 0)] + v[-width:]
                          for v in values]
        elif high is not None:
            values = [v[:high] for v in values]
        if low:
            values = [v if len(v) >= low else (v + "x" * low)[:max(low, len(v))]
                      for v in values]
        return values


class FixedWidth(Values):
    """character(n) / bit(n) / varbit: exactly (or at most) n symbols."""

    def __init__(self, spec, seed, counter_base=0, width=1, alphabet="abcdefghijklmnop",
                 exact=True):
        super().__init__(spec, seed, counter_base)
        self.width, self.alphabet, self.exact = width, alphabet, exact

    def text(self, start, n):
        rng = self.rng
        width = self.width
        if self.spec.unique:
            k = len(self.alphabet)
            out = []
            for i in range(self.counter_base + start, self.counter_base + start + n):
                digits = []
                for _ in range(width):
                    i, r = divmod(i, k)
                    digits.append(self.alphabet[r])
                out.append("".join(reversed(digits)))
            return out
        if self.exact:
            return ["".join(rng.choices(self.alphabet, k=width)) for _ in range(n)]
        return ["".join(rng.choices(self.alphabet, k=rng.randint(1, width))) for _ in range(n)]


class Formatted(Values):
    """Small types made from random integers by a format: inet, cidr, macaddr, bytea,
    json, interval, point, tsvector, xml, money, ranges."""

    def __init__(self, spec, seed, counter_base=0, kind="json"):
        super().__init__(spec, seed, counter_base)
        self.kind = kind
        self.json_keys = list(spec.restriction.json_keys) if spec.restriction else []

    def _documents(self, nums: list[int]) -> list[str]:
        return _documents_for(self.spec.name, self.json_keys, nums)

    def text(self, start, n):
        rng = self.rng
        k = self.kind
        unique = self.spec.unique
        counters = range(self.counter_base + start, self.counter_base + start + n)
        nums = list(counters) if unique else list(numbers(rng, 1 << 24, n))
        if k == "inet":
            return [f"10.{(x >> 16) & 255}.{(x >> 8) & 255}.{x & 255}" for x in nums]
        if k == "cidr":
            return [f"10.{(x >> 8) & 255}.{x & 255}.0/24" for x in nums]
        if k in ("macaddr", "macaddr8"):
            size = 6 if k == "macaddr" else 8
            return [":".join(f"{b:02x}" for b in (0x02 << (8 * (size - 1)) | x).to_bytes(
                size, "big")) for x in nums]
        if k == "bytea":
            return [f"\\\\x{x:06x}{rng.getrandbits(64):016x}" for x in nums]
        if k in ("json", "jsonb"):
            return self._documents(nums)
        if k == "interval":
            return [f"{x % 10000} minutes" for x in nums]
        if k == "point":
            return [f"({x % 360 - 180},{(x >> 9) % 180 - 90})" for x in nums]
        if k == "tsvector":
            words = W.WORDS
            return [f"{words[x % 971]} {words[(x >> 10) % 971]}" for x in nums]
        if k == "xml":
            words = W.WORDS
            return [f"<note>{words[x % 971]}</note>" for x in nums]
        if k == "money":
            return [f"{x % 100000 / 100:.2f}" for x in nums]
        # unique ranges never overlap (an exclusion constraint `WITH &&` holds too)
        if k in ("int4range", "int8range", "numrange"):
            if unique:
                return [f"[{x * 100},{x * 100 + 1 + x % 99})" for x in nums]
            return [f"[{x},{x + 1 + x % 100})" for x in nums]
        if k in ("daterange", "tsrange", "tstzrange"):
            kind = {"daterange": "date", "tsrange": "timestamp"}.get(k, "timestamptz")
            if unique:
                lows = [x * 2 * 86400 for x in nums]
                highs = [low + 86400 for low in lows]
            else:
                lows = [x % 730 * 86400 + x % 86400 for x in nums]
                highs = [x + 86400 * (1 + x % 30) for x in lows]
            a = format_moments(lows, kind)
            b = format_moments(highs, kind)
            if kind == "date":
                return [f"[{x},{y})" for x, y in zip(a, b, strict=True)]
            return [f'["{x}","{y}")' for x, y in zip(a, b, strict=True)]
        raise UnknownType(k)


_JSON_SHAPES = {
    "preferences": {"theme": ("light", "dark", "system"), "notifications": (True, False),
                    "language": ("en", "fr", "de", "es")},
    "settings": {"theme": ("light", "dark"), "notifications": (True, False),
                 "timezone": ("UTC", "Europe/Paris", "America/New_York")},
    "address": {"city": W.CITIES, "country": W.COUNTRY_CODES},
}


def _json_value(key: str, x: int):
    """A plausible value for a JSON key (its name guides it, as for columns)."""
    low = key.lower()
    for shape in _JSON_SHAPES.values():
        if low in shape:
            options = shape[low]
            return options[x % len(options)]
    if low.startswith(("is_", "has_", "enable", "notif", "active", "verified")):
        return bool(x & 1)
    if low in ("count", "version", "id", "age", "level", "score", "n"):
        return x % 100
    return W.WORDS[x % len(W.WORDS)]


def _documents_for(name: str, keys: list[str], nums: list[int]) -> list[str]:
    shape = _JSON_SHAPES.get(name.lower().removeprefix("user_"))
    fields = list(shape) if shape else ["id", "tag", "active"]
    fields += [k for k in keys if k not in fields]
    return [escape(json.dumps({f: (x if f == "id" else _json_value(f, x >> (3 * i)))
                               for i, f in enumerate(fields)})) for x in nums]


class Arrays(Values):
    """One to four elements of the element type's values, as an array literal."""

    def __init__(self, spec, seed, counter_base=0, element: Values | None = None):
        super().__init__(spec, seed, counter_base)
        self.element = element
        self.element.nulls = False

    def text(self, start, n):
        rng = self.rng
        sizes = [rng.randint(1, 4) for _ in range(n)]
        flat = self.element.text(start * 4, sum(sizes))
        out, k = [], 0
        unique = self.spec.unique
        for i, size in enumerate(sizes):
            items = flat[k:k + size]
            k += size
            if unique:
                items = [str(self.counter_base + start + i)] + items[:0]
            out.append("{" + ",".join(_array_item(x) for x in items) + "}")
        return out


def _array_item(text: str) -> str:
    # COPY already escaped backslashes in `text`; array quoting doubles them again.
    raw = text.replace("\\\\", "\\")
    if raw == "" or re.search(r'[{},"\\\s]', raw) or raw.upper() == "NULL":
        raw = '"' + raw.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return escape(raw)


def bound_number(value, kind=int):
    """A CHECK bound as a number of `kind`, or None when it is not one."""
    try:
        return kind(Decimal(str(value)))
    except (InvalidOperation, ValueError, TypeError):
        return None


def bound_moment(value) -> datetime | None:
    """A CHECK bound as a moment (UTC when it has no zone), or None."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str):
        return None
    text = value.strip().replace(" ", "T", 1)
    if text.endswith("+00"):
        text += ":00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


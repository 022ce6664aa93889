"""pydbml's reading of DBML blocks, kept between runs (issue 17).

pydbml (pyparsing) is most of a DBML file's parse: ~5 s of a 1,000-table file. nself gives
it one top-level block at a time (nself.schema.dbml_front), so its result for a block is a
function of that block's text alone. `schema import` keeps those results in the project's
state folder (`.nself/dbml-blocks.cache`), keyed by the SHA-256 of each block's text: a file
edited in a few tables is read again only in those blocks.

The whole cache is thrown away when anything that shapes a result changes: the versions of
nself, pydbml, pyparsing and Python, and the text of the module that parses (the grammar,
nself/schema/dbml.py). A cache that cannot be read (missing, damaged, not a regular file of
this user, another version) is ignored, and one that cannot be written is skipped: it never
changes what a run does, only how long it takes. Only what parsed is kept; a block with a
syntax error is parsed again each time (its error is reported from the parse itself). Each
lookup returns a new copy, so nothing the reader does to a result reaches the next one.

The file is written whole under a temporary name and renamed over the old one, so a run
killed while writing leaves the previous cache or none, and two runs at once leave one
of theirs. It holds the blocks of the runs' last file only, plus earlier ones up to
MAX_ENTRIES.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import secrets
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from importlib import metadata
from pathlib import Path

NAME = "dbml-blocks.cache"
MAX_ENTRIES = 20_000
MAX_BYTES = 256 * 1024 * 1024   # a bigger file is not read (nor is it ever written)

_active: ContextVar[BlockCache | None] = ContextVar("nself_dbml_block_cache", default=None)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def fingerprint(grammar: str) -> str:
    """What every cached result depends on besides its block's text; GRAMMAR: the path of
    the module whose function parses (its text is hashed)."""
    try:
        text = Path(grammar).read_bytes()
    except OSError:
        text = secrets.token_bytes(16)  # unknown: nothing cached matches
    return "|".join([_version("nself"), _version("pydbml"), _version("pyparsing"),
                     sys.version, hashlib.sha256(text).hexdigest()])


class BlockCache:
    """Block text digest -> pickled blueprint; `path` None: in memory only."""

    def __init__(self, path: Path | None):
        self.path = path
        self.key: str | None = None   # known at the first parse (see fingerprint)
        self.entries: dict[str, bytes] = {}
        self.used: dict[str, bytes] = {}
        self.hits = self.misses = 0

    def parse(self, text: str, parse: Callable[[str], object]) -> object:
        """PARSE(TEXT), or a copy of what it returned for the same text before. What PARSE
        raises is raised (and nothing kept). One cache serves one PARSE function."""
        if self.key is None:
            self.key = fingerprint(getattr(sys.modules.get(parse.__module__), "__file__", ""))
            if self.path is not None:
                self.entries = _load(self.path, self.key)
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        data = self.entries.get(digest)
        if data is not None:
            try:
                result = pickle.loads(data)
            except Exception:  # noqa: BLE001 - a damaged entry is a miss
                data = None
            else:
                self.hits += 1
                self.used[digest] = data
                return result
        self.misses += 1
        result = parse(text)
        try:
            data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - what cannot be kept is parsed again next time
            return result
        self.entries[digest] = self.used[digest] = data
        return result

    def save(self) -> None:
        """Write this run's blocks (and earlier ones, up to MAX_ENTRIES) when anything was
        parsed anew; never raises for a folder that cannot take it."""
        if self.path is None or self.key is None or not self.misses:
            return
        kept = dict(self.used)
        for digest, data in self.entries.items():
            if len(kept) >= MAX_ENTRIES:
                break
            kept.setdefault(digest, data)
        try:
            payload = pickle.dumps((self.key, kept), protocol=pickle.HIGHEST_PROTOCOL)
            if len(payload) > MAX_BYTES:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{NAME}.",
                                        suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(payload)
                os.replace(name, self.path)
            except BaseException:
                Path(name).unlink(missing_ok=True)
                raise
        except OSError:
            pass


def _load(path: Path, key: str) -> dict[str, bytes]:
    try:
        info = os.stat(path, follow_symlinks=False)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_BYTES \
                or info.st_uid != os.getuid():
            return {}
        with open(path, "rb") as handle:
            stored_key, entries = pickle.loads(handle.read())
    except Exception:  # noqa: BLE001 - missing, damaged or foreign: no cache
        return {}
    if stored_key != key or not isinstance(entries, dict):
        return {}
    return entries


@contextmanager
def using(state_dir: Path | None) -> Iterator[BlockCache]:
    """DBML blocks parsed in this block go through the cache in STATE_DIR (None: in memory
    for the block only); it is written at the end when the block ends normally."""
    cache = BlockCache(state_dir / NAME if state_dir is not None else None)
    token = _active.set(cache)
    try:
        yield cache
    finally:
        _active.reset(token)
    cache.save()


def parse(text: str, parse_text: Callable[[str], object]) -> object:
    """PARSE_TEXT(TEXT) through the active cache, if any."""
    cache = _active.get()
    return parse_text(text) if cache is None else cache.parse(text, parse_text)

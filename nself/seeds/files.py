"""Seed files: where they are, which run for an environment, and their checks before running.

A project's seeds live in `seeds/common/` (every environment) and `seeds/<env>/` (local,
staging, production), or under `nself/seeds/` as the guides lay them out. A run takes
`common/` first, then the environment's folder, each in file-name order. Every file is read
and checked before anything runs: bytes (UTF-8, no NUL), psql-only lines, and the statements
that cannot run inside the file's transaction; a file that fails a check refuses the whole
run (exit 2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from nself import userfile
from nself.config import ENVIRONMENTS, Environment
from nself.errors import UsageError
from nself.migrations import files
from nself.migrations.files import Migration, Section
from nself.migrations.plan import prepare

COMMON = "common"
ALLOWED_TRANSACTION = {"TransactionStmt:TRANS_STMT_BEGIN", "TransactionStmt:TRANS_STMT_START",
                       "TransactionStmt:TRANS_STMT_COMMIT", "TransactionStmt:TRANS_STMT_SAVEPOINT",
                       "TransactionStmt:TRANS_STMT_RELEASE",
                       "TransactionStmt:TRANS_STMT_ROLLBACK_TO"}


class SeedFileError(UsageError):
    """A seed file (or its folder) cannot be run as it is; names the file and line."""


@dataclass
class SeedFile:
    """One seed file: `key` identifies it in nself.seeds (`local/01_test_users.sql`)."""

    key: str
    path: Path
    shown: str          # for messages: the path from the project root
    folder: str         # common, local, staging, production, or "" (a file given by path)
    raw: bytes

    @cached_property
    def checksum(self) -> str:
        # line endings and a BOM do not count as an edit, as for migrations
        return files.checksum(files.normalise(self.raw))

    @cached_property
    def stand_in(self) -> Migration:
        """The file as a migration without markers: its text checks (UTF-8, NUL) and
        statement tools are the migrations' own."""
        return Migration(0, "", self.key, self.path.name, files.normalise(self.raw),
                         relpath=self.shown, raw=self.raw)

    @cached_property
    def section(self) -> Section:
        return Section(self.stand_in.text, 1)

    @cached_property
    def body(self) -> str:
        """The SQL to send: the file's text byte for byte, except top-level BEGIN/COMMIT
        (and pg_dump's `\\restrict` lines) blanked so it runs in nself's transaction."""
        return check(self)

    def error(self, line: int, what: str) -> SeedFileError:
        return SeedFileError(f"{self.shown}:{line}: {what}.")


def check(seed: SeedFile) -> str:
    """The body of `seed` as it will be sent; raises SeedFileError when it cannot run."""
    text = seed.stand_in.text  # raises on bytes that are not UTF-8 text, or a NUL
    parts = files.LINE_BREAK.split(text)
    lines, breaks = parts[0::2], parts[1::2] + [""]
    blanked = False
    for number, line in enumerate(lines, 1):
        if re.match(files.RESTRICT_MARKER, line):
            lines[number - 1] = " " * len(line)
            blanked = True
        elif re.match(files.COPY_DATA_END, line):
            raise seed.error(number, "inline `COPY ... FROM stdin` data (ended by `\\.`) is a "
                                     "psql feature; nself sends SQL to the server: write the "
                                     "rows as INSERT statements")
        elif re.match(files.META_COMMAND, line):
            raise seed.error(number, f"psql meta-command `{line.strip().split()[0]}`: nself "
                                     "runs SQL only; put the SQL itself in the file")
    if blanked:
        text = "".join(line + brk for line, brk in zip(lines, breaks, strict=True))
    section = Section(text, 1)
    if not files.needs_parsing(text):
        return text
    for st in files.split(section, seed.stand_in):
        if st.no_transaction:
            raise seed.error(st.line, f"{st.no_transaction} cannot run inside a transaction, "
                                      "and each seed file runs in one: run it with `nself db "
                                      "shell -f`, or put it in a migration")
        if st.kind.startswith("TransactionStmt") and st.kind not in ALLOWED_TRANSACTION:
            raise seed.error(st.line, f"{st.text.split()[0].upper()} at the top level of a "
                                      "seed file: nself runs each seed file in its own "
                                      "transaction; remove it")
    return prepare(seed.stand_in, section, no_transaction=False).body


# Finding the files ---------------------------------------------------------------------------


def seeds_dir(env: Environment) -> Path:
    """The seeds folder: NSELF_SEEDS_DIR, else `seeds/` (or the guides' `nself/seeds/`)."""
    folder = env.seeds_dir
    if not folder.is_dir() and not env.get("NSELF_SEEDS_DIR"):
        nested = env.root / "nself" / "seeds"
        if nested.is_dir():
            return nested
    return folder


def folders(env: Environment, data_env: str) -> list[tuple[str, Path]]:
    """(name, folder) run for `data_env`, in order: common, then the environment's."""
    base = seeds_dir(env)
    return [(COMMON, base / COMMON), (data_env, base / data_env)]


def read_folder(env: Environment, name: str, folder: Path) -> list[SeedFile]:
    """The `.sql` files directly in `folder`, in file-name order (none if it is missing)."""
    try:
        entries = sorted(p.name for p in folder.iterdir())
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        raise SeedFileError(f"{env.relative(folder)} is not a folder.") from None
    except OSError as exc:
        raise SeedFileError(f"Cannot read the seeds folder {env.relative(folder)}/: "
                            f"{exc.strerror}.") from None
    found = []
    for filename in entries:
        if not filename.endswith(".sql"):
            if filename.lower().endswith(".sql"):
                raise SeedFileError(
                    f"{env.relative(folder / filename)}: the extension must be `.sql` in lower "
                    f"case (nself would not run this file): rename it to {filename[:-4]}.sql.")
            continue
        found.append(read(env, folder / filename, f"{name}/{filename}", name))
    return found


def read(env: Environment, path: Path, key: str, folder: str) -> SeedFile:
    """The seed file at `path`; anything but a readable regular file is refused (a FIFO is
    never opened: reading it would wait for a writer)."""
    shown = env.relative(path)
    raw = userfile.read_bytes(path, "a seed file", userfile.SQL_LIMIT, shown=shown,
                              error=SeedFileError)
    return SeedFile(key, path, shown, folder, raw)


def all_files(env: Environment, data_env: str) -> list[SeedFile]:
    """Every seed file a run for `data_env` takes, in order."""
    return [seed for name, folder in folders(env, data_env)
            for seed in read_folder(env, name, folder)]


def find(env: Environment, name: str, data_env: str | None) -> SeedFile:
    """The one file `name` means: a path (from the current folder, or from the seeds folder),
    or a bare file name looked up in `common/` and the environment's folder."""
    base = seeds_dir(env).resolve()
    given = Path(name)
    candidates = [given, base / given]
    if given.suffix != ".sql":
        candidates += [Path(f"{name}.sql"), base / f"{name}.sql"]
    for candidate in candidates:
        if candidate.exists():
            return from_path(env, candidate, base)
    if len(given.parts) == 1:
        looked = [folder for _, folder in folders(env, data_env or env.name)]
        names = [name] if name.endswith(".sql") else [name, f"{name}.sql"]
        hits = [folder / filename for folder in looked for filename in names
                if (folder / filename).exists()]
        if len(hits) > 1:
            listed = " and ".join(env.relative(p) for p in hits)
            raise UsageError(f"{name} is in {listed}: give the path of the one to run "
                             f"(e.g. `nself db seed {env.relative(hits[-1])}`).")
        if hits:
            return from_path(env, hits[0], base)
        where = " or ".join(f"{env.relative(folder)}/" for folder in looked)
        raise UsageError(f"No seed file {name} in {where} (nor at that path).")
    raise UsageError(f"No seed file {name}: no such file.")


def from_path(env: Environment, path: Path, base: Path) -> SeedFile:
    """The seed file at `path`; its key and folder come from where it lies in the seeds folder."""
    path = path.resolve()
    try:
        inside = path.relative_to(base)
    except ValueError:
        inside = None
    if inside is not None and len(inside.parts) == 2 and inside.parts[0] in (COMMON,
                                                                            *ENVIRONMENTS):
        return read(env, path, inside.as_posix(), inside.parts[0])
    key = inside.as_posix() if inside is not None else env.relative(path)
    return read(env, path, key, "")

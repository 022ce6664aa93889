"""graphile-migrate: `migrations/committed/000001[-message].sql`, each opening with headers
(`--! Previous: <hash or ->`, `--! Hash: sha1:...`, `--! Message: ...`) and a blank line.
The files run in the order of their names and chain by hash: a file's hash is the SHA-1 of
the previous hash, a line break and its body, so an edited file no longer matches its
header (graphile-migrate refuses it unless `--! AllowInvalidHash`). A body whose first line
is `--! no-transaction` runs outside a transaction. There is no DOWN.

`.gmrc`'s `pgSettings` are set for every migration: its `search_path` is named on import, for
DATABASE_SEARCH_PATH. Placeholders (`:DATABASE_NAME`, `:DATABASE_OWNER` and those of `.gmrc`)
are replaced when it runs, so a file using one cannot be converted as it is.

Its tracking table `graphile_migrate.migrations(hash, previous_hash, filename, date)` has
one row per applied file (`filename` is the number and `.sql`); it applies the files after
the last one recorded.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from nself.adopt import source, transaction
from nself.adopt.source import AdoptError, Applied, Problem, SourceMigration

NAME = "graphile-migrate"
TRACKING_SCHEMAS = ("graphile_migrate",)  # left out of the schema once adopted
FILE = re.compile(r"^([0-9]+)(-[-_a-zA-Z0-9]*)?\.sql$")
HEADER = re.compile(r"^--! ([A-Z][a-zA-Z0-9_]*)(?::(.*))?$")
NO_TRANSACTION = re.compile(r"^--!\s*no-transaction\b")
RESERVED = (":DATABASE_NAME", ":DATABASE_OWNER")
GMRC_SEARCH_PATH = re.compile(r"""["']?search_path["']?\s*:\s*["']([^"'\n]*)["']""")
GMRC_PLACEHOLDER = re.compile(r"""["']?(:[A-Z][0-9A-Z_]+)["']?\s*:""")


def committed(folder: Path) -> Path:
    """The `committed` folder: under `folder` or `folder` itself."""
    return folder / "committed" if (folder / "committed").is_dir() else folder


def _is_graphile(folder: Path) -> bool:
    inside = folder / "committed"
    return inside.is_dir() and any(FILE.match(p.name) for p in inside.glob("*.sql"))


def holds_migrations(folder: Path) -> bool:
    """Whether `folder` holds graphile-migrate migrations (`nself init` and `detect` ask)."""
    return _is_graphile(folder)


def calculate_hash(body: str, previous: str | None) -> str:
    """graphile-migrate's hash of a committed body (its `calculateHash`)."""
    data = (((previous or "") + "\n" + body.strip()).strip() + "\n").encode("utf-8")
    return "sha1:" + hashlib.sha1(data).hexdigest()


def _gmrc(folder: Path) -> str:
    """The text of the `.gmrc` that configures the committed folder `folder` (empty: none)."""
    for place in (folder, folder.parent, folder.parent.parent):
        gmrc = place / ".gmrc"
        if gmrc.is_file():
            return gmrc.read_text(encoding="utf-8", errors="replace")
    return ""


def _placeholders(folder: Path) -> list[str]:
    names = list(RESERVED)
    names.extend(n for n in GMRC_PLACEHOLDER.findall(_gmrc(folder)) if n not in names)
    return names


def search_path(folder: Path) -> str | None:
    """The search_path graphile-migrate sets for the migrations (.gmrc's pgSettings)."""
    found = GMRC_SEARCH_PATH.search(_gmrc(committed(Path(folder))))
    return found.group(1).strip() if found else None


def read(folder: Path) -> tuple[list[SourceMigration], list[Problem]]:
    problems: list[Problem] = []
    files_at = committed(Path(folder))
    placeholders = re.compile("(?:" + "|".join(map(re.escape, _placeholders(files_at)))
                              + r")\b")
    parsed = []
    for path in sorted((p for p in files_at.glob("*.sql") if FILE.match(p.name)),
                       key=lambda p: FILE.match(p.name).group(1) + ".sql"):
        shown = source.relative(Path(folder), path)
        text = source.read_text(Path(folder), path, problems)
        if text is None:
            continue
        entry = _parse(text, shown, problems)
        if entry is not None:
            parsed.append((path, shown, *entry))
    migrations, previous = [], None
    names = [FILE.match(path.name).group(1) + ".sql" for path, *_ in parsed]
    keys = transaction.ordered_keys(names, [int(n[:-4]) for n in names])
    for key, stored, (path, shown, headers, body, first) in zip(keys, names, parsed,
                                                                 strict=True):
        before = headers.get("Previous")
        before = None if before in (None, "-") else before
        if before != previous:
            problems.append(Problem(shown, 1, f"`--! Previous: {before or '-'}` does not "
                                    "follow the file before it: graphile-migrate would refuse "
                                    "the chain"))
        expected = calculate_hash(body, before)
        if headers.get("Hash") != expected and "AllowInvalidHash" not in headers:
            problems.append(Problem(shown, 1, "its body does not match its `--! Hash` (edited "
                                    "after it was committed): graphile-migrate would refuse "
                                    "it"))
        previous = headers.get("Hash")
        for offset, line in enumerate(body.split("\n")):
            hit = placeholders.search(line)
            if hit:
                problems.append(Problem(shown, first + offset, f"placeholder {hit.group(0)} "
                                        "(graphile-migrate replaces it when it runs): write "
                                        "its value"))
        slug = (FILE.match(path.name).group(2) or "").lstrip("-")
        message = headers.get("Message") or ""
        migrations.append(SourceMigration(
            key=key, version_text=stored, name=slug or message or stored[:-4], up=body,
            down=None, no_transaction=bool(NO_TRANSACTION.match(body)), files=[shown],
            up_line=first, fingerprint=headers.get("Hash")))
    return migrations, problems


def _parse(text: str, shown: str, problems: list[Problem]):
    """(headers, body, the body's first line) as graphile-migrate reads a committed file."""
    lines = text.split("\n")
    headers: dict[str, str | None] = {}
    count = 0
    for line in lines:
        match = HEADER.match(line)
        if not match:
            break
        if match.group(1) in headers:
            problems.append(Problem(shown, count + 1, f"header {match.group(1)} twice"))
            return None
        headers[match.group(1)] = (match.group(2) or "").strip() or None
        count += 1
    if count >= len(lines) or lines[count] != "":
        problems.append(Problem(shown, count + 1, "no blank line after the headers: not a "
                                "committed graphile-migrate file"))
        return None
    if "Previous" not in headers or "Hash" not in headers:
        problems.append(Problem(shown, 1, "no `--! Previous` or `--! Hash` header: not a "
                                "committed graphile-migrate file"))
        return None
    rest = lines[count:]
    skipped = next((i for i, line in enumerate(rest) if line.strip()), 0)
    body = "\n".join(rest).strip() + "\n"
    return headers, body, count + skipped + 1


def applied(conn, folder: Path | None = None) -> Applied | None:
    if not source.table_exists(conn, "graphile_migrate.migrations"):
        return None
    rows = conn.execute("SELECT filename, hash FROM graphile_migrate.migrations "
                        "ORDER BY filename").fetchall()
    if not rows:
        return Applied([])
    if folder is None:
        return Applied([filename for filename, _ in rows])
    migrations, _ = read(Path(folder))
    by_name = {m.version_text: m for m in migrations}
    for filename, hash_ in rows:
        m = by_name.get(filename)
        if m is not None and m.fingerprint != hash_:
            raise AdoptError(f"graphile-migrate applied {filename} with hash {hash_}, and the "
                             f"file here has {m.fingerprint}: the history was changed after it "
                             "ran (uncommit?); commit it again with graphile-migrate, then "
                             "adopt.")
    last = by_name.get(rows[-1][0])
    # it applies only the files after the last one recorded: those before count as applied
    return Applied([filename for filename, _ in rows], up_to=last.key if last else None)

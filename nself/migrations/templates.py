"""What `nself db migrate create NAME --template KIND` writes: the safe form of a change that
locks a table in use when written the obvious way, ready to fill in (`nself db migrate
lint` finds nothing in any of them: the test suite checks).

Each template names its objects after NAME; `table_name`, `column_name`, `other_table`
are the placeholders to replace.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from nself.migrations import files

# KIND -> (whether the migration runs outside a transaction, UP, DOWN, what it is for)
TEMPLATES = {
    "column": (False, """\
SET LOCAL lock_timeout = '5s';
ALTER TABLE table_name ADD COLUMN IF NOT EXISTS column_name text;
-- a default: a constant one writes no row (PostgreSQL 11+); NOT NULL: see --template not-null
""", "ALTER TABLE table_name DROP COLUMN IF EXISTS column_name;\n",
               "add a nullable column (no rewrite, a brief lock)"),
    "index": (True, """\
-- built without blocking writes; a failed build leaves an INVALID index: drop it, run again
CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON table_name (column_name);
""", "DROP INDEX CONCURRENTLY IF EXISTS {name};\n",
              "an index on a table in use, built CONCURRENTLY"),
    "foreign-key": (True, """\
SET lock_timeout = '5s';
-- the index on the referencing column (deletes on other_table look rows up through it)
CREATE INDEX CONCURRENTLY IF NOT EXISTS {name}_idx ON table_name (column_name);
-- NOT VALID: only new rows are checked, under a brief lock
ALTER TABLE table_name ADD CONSTRAINT {name} FOREIGN KEY (column_name)
    REFERENCES other_table (id) NOT VALID;
-- then the old rows, in a transaction of its own that lets reads and writes go on
ALTER TABLE table_name VALIDATE CONSTRAINT {name};
""", """\
ALTER TABLE table_name DROP CONSTRAINT IF EXISTS {name};
DROP INDEX CONCURRENTLY IF EXISTS {name}_idx;
""", "a foreign key added NOT VALID, then validated, with its index"),
    "not-null": (True, """\
SET lock_timeout = '5s';
-- fill the NULLs first (in batches on a large table), e.g.:
UPDATE table_name SET column_name = '' WHERE column_name IS NULL;
-- a validated CHECK lets SET NOT NULL skip its scan (PostgreSQL 12+)
ALTER TABLE table_name ADD CONSTRAINT {name} CHECK (column_name IS NOT NULL) NOT VALID;
ALTER TABLE table_name VALIDATE CONSTRAINT {name};
ALTER TABLE table_name ALTER COLUMN column_name SET NOT NULL;
ALTER TABLE table_name DROP CONSTRAINT IF EXISTS {name};
""", "ALTER TABLE table_name ALTER COLUMN column_name DROP NOT NULL;\n",
                 "SET NOT NULL on a column of a table in use, without a long lock"),
}


def section(kind: str, name: str) -> tuple[bool, str, str]:
    """(no-transaction, UP, DOWN) of template `kind` for a migration called `name`."""
    no_transaction, up, down, _ = TEMPLATES[kind]
    return no_transaction, up.format(name=name), down.format(name=name)


def render(path: Path, kind: str, now: datetime | None = None) -> str:
    """The text of new migration `path` from template `kind` (the header `migrate create`
    writes, the directive when it runs outside a transaction, its UP and DOWN)."""
    no_transaction, up, down = section(kind, path.name.removesuffix(".sql").split("_", 1)[1])
    blank = files.render_new(path, now)
    header = blank[:blank.index("-- UP")]
    if no_transaction:
        header = header.rstrip("\n") + f"\n{files.DIRECTIVE}\n\n"
    return f"{header}-- UP\n{up}\n-- DOWN\n{down}"

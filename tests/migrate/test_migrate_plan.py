"""Reading and planning: files nself cannot use are refused up front, whole; plans and
prepared sections say what would run, and what it destroys (the last tests apply them)."""

from __future__ import annotations

import os

import pytest

from nself.migrations import files, plan
from nself.migrations.files import MigrationFileError
from nself.migrations.status import merge


def write(folder, name: str, text: str | bytes):
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def read(folder):
    return files.read_folder(folder, folder)


def test_fifo_is_refused_without_waiting(tmp_path):
    """A FIFO named like a migration is refused at once (no writer needed), as not a plain file."""
    os.mkfifo(tmp_path / "002_x.sql")
    write(tmp_path, "001_a.sql", "-- UP\nSELECT 1;\n")
    with pytest.raises(MigrationFileError, match=r"002_x.sql is not a regular file"):
        read(tmp_path)


def test_folder_named_like_a_migration_is_refused(tmp_path):
    """A folder named 001_x.sql is refused as not a regular file."""
    (tmp_path / "001_x.sql").mkdir()
    with pytest.raises(MigrationFileError, match="not a regular file"):
        read(tmp_path)


def test_unreadable_file_is_refused(tmp_path):
    """A file that cannot be opened (a dangling symlink) is refused, naming it."""
    os.symlink(tmp_path / "nowhere.sql", tmp_path / "001_gone.sql")
    with pytest.raises(MigrationFileError, match=r"Cannot read .*001_gone.sql"):
        read(tmp_path)


@pytest.mark.parametrize("name", ["002_x.SQL", "002_x.Sql", "002_x.sQl"])
def test_upper_case_extension_is_refused(tmp_path, name):
    """Any case variant of `.sql` is refused with the name to rename to, not skipped."""
    write(tmp_path, name, "-- UP\nSELECT 1;\n")
    with pytest.raises(MigrationFileError, match=r"rename it to 002_x\.sql"):
        read(tmp_path)


def test_version_beyond_bigint_is_refused(tmp_path):
    """A version larger than bigint is refused at reading, without advice to repair."""
    write(tmp_path, "99999999999999999999_big.sql", "-- UP\nSELECT 1;\n")
    with pytest.raises(MigrationFileError, match="too large") as caught:
        read(tmp_path)
    assert "repair" not in str(caught.value)
    write(tmp_path, "99999999999999999999_big.sql", "-- UP\nSELECT 1;\n").unlink()
    write(tmp_path, f"{2**63 - 1}_max.sql", "-- UP\nSELECT 1;\n")
    assert [m.version for m in read(tmp_path)] == [2**63 - 1]


def test_nul_byte_is_refused_with_its_line(tmp_path):
    """A NUL byte anywhere (UP or DOWN) is refused with file:line by the folder check."""
    write(tmp_path, "001_ok.sql", "-- UP\nSELECT 1;\n")
    write(tmp_path, "002_nul.sql", b"-- UP\nCREATE TABLE a (id int);\nSELECT 'x\x00y';\n")
    migrations = read(tmp_path)
    with pytest.raises(MigrationFileError, match=r"002_nul.sql:3: a NUL byte"):
        plan.check_folder(migrations)
    write(tmp_path, "002_nul.sql", b"-- UP\nSELECT 1;\n-- DOWN\n\x00\n")
    with pytest.raises(MigrationFileError, match=r"002_nul.sql:4: a NUL byte"):
        plan.check_folder(read(tmp_path))


def test_empty_up_is_refused_naming_the_file(tmp_path):
    """The `create` template as written (empty UP) is refused when it would be applied."""
    path = files.next_file(tmp_path, "add_things")
    path.write_text(files.render_new(path))
    states = merge(read(tmp_path), [])
    with pytest.raises(MigrationFileError, match=r"001_add_things.sql:5: the UP section is empty"):
        plan.prepare_up(plan.plan_up(states, None, None))


def test_sections_are_named_fields(tmp_path):
    """A file's sections and directives are read into named fields."""
    write(tmp_path, "001_a.sql", "-- UP\nSELECT 1;\n")
    write(tmp_path, "002_b.sql", "-- nself:no-transaction\n-- depends_on: 001\n-- UP\nVACUUM;\n"
                                 "-- DOWN\nSELECT 2;\n")
    sections = read(tmp_path)[1].sections
    assert (sections.depends_on, sections.depends_on_line, sections.no_transaction) == (
        "001", 2, True)
    assert (sections.up.text.strip(), sections.up.line) == ("VACUUM;", 4)
    assert (sections.down.text.strip(), sections.down.line) == ("SELECT 2;", 6)


def test_no_transaction_statements_know_what_they_change(tmp_path):
    """In a no-transaction file every statement is parsed; those that cannot run in a
    transaction name the object whose existence tells whether they took effect."""
    write(tmp_path, "001_nt.sql", "-- nself:no-transaction\n-- UP\n"
          "CREATE TABLE s.t (a int);\n"
          "CREATE INDEX CONCURRENTLY i1 ON s.t (a);\n"
          "DROP INDEX CONCURRENTLY IF EXISTS s.i0;\n"
          "ALTER TYPE mood ADD VALUE 'meh';\n"
          "VACUUM s.t;\n"
          "REINDEX TABLE CONCURRENTLY s.t;\n")
    m = read(tmp_path)[0]
    prep = plan.prepare_up(merge([m], []))[0]
    got = [(s.no_transaction, s.target, s.schema) for s in prep.statements]
    assert got == [("", "", ""), ("CREATE INDEX CONCURRENTLY", "i1", "s"),
                   ("DROP INDEX CONCURRENTLY", "i0", "s"), ("", "mood", ""),
                   ("VACUUM", "", ""), ("REINDEX CONCURRENTLY", "", "")]
    alter = prep.statements[3]
    assert plan.needs_autocommit(alter, 110000) and not plan.needs_autocommit(alter, 150000)
    assert not plan.needs_autocommit(prep.statements[0], 110000)
    assert plan.needs_autocommit(prep.statements[1], 180000)


def test_unnamed_concurrent_index_is_refused_in_no_transaction_files(tmp_path):
    """CREATE INDEX CONCURRENTLY without a name is refused before anything runs: a resumed
    run could not tell from the catalog whether it was built."""
    write(tmp_path, "001_nt.sql", "-- nself:no-transaction\n-- UP\nCREATE TABLE t (a int);\n"
          "CREATE INDEX CONCURRENTLY ON t (a);\n")
    with pytest.raises(MigrationFileError, match=r"001_nt.sql:4: CREATE INDEX CONCURRENTLY "
                                                 "without an index name"):
        plan.prepare_up(merge(read(tmp_path), []))


def test_non_transactional_statement_needs_the_directive(tmp_path):
    """VACUUM (or CREATE DATABASE) in a transactional file is refused, naming the directive."""
    write(tmp_path, "001_v.sql", "-- UP\nCREATE TABLE t (a int);\nVACUUM t;\n")
    with pytest.raises(MigrationFileError, match=r"001_v.sql:3: VACUUM cannot run inside a "
                                                 "transaction.*nself:no-transaction"):
        plan.prepare_up(merge(read(tmp_path), []))


def test_plans_pick_the_migrations(tmp_path):
    """plan_up takes pending files in order (--steps, --to); plan_down the newest applied."""
    for n in range(1, 5):
        write(tmp_path, f"00{n}_m{n}.sql", f"-- UP\nSELECT {n};\n")
    states = merge(read(tmp_path), [])
    assert [e.label for e in plan.plan_up(states, 2, None)] == ["001", "002"]
    assert [e.label for e in plan.plan_up(states, None, "003")] == ["001", "002", "003"]
    with pytest.raises(files.UsageError, match="no migration has version 9"):
        plan.plan_up(states, None, "9")
    assert plan.plan_down(states, None, None) == []  # nothing applied


def test_dry_run_text_of_no_transaction_file(tmp_path):
    """The text a dry run shows for a no-transaction file is its statements, one per line."""
    write(tmp_path, "001_nt.sql", "-- nself:no-transaction\n-- UP\nCREATE TABLE t (a int);\n"
          "CREATE INDEX CONCURRENTLY i ON t (a);\n")
    prep = plan.prepare_up(merge(read(tmp_path), []))[0]
    assert prep.text == "CREATE TABLE t (a int);\nCREATE INDEX CONCURRENTLY i ON t (a);"


# What destroys data: a safety backup first, in every environment -----------------------------


def safety_backups(project) -> list[str]:
    return sorted(p.name for p in (project.root / "backups" / "local").glob("*_before_*.dump"))


def audit_table(project) -> None:
    project.migration("001_audit.sql", """
        -- a note: DROP TABLE audit; TRUNCATE audit
        CREATE TABLE audit (id int, price numeric(10,2), note varchar(20));
        INSERT INTO audit VALUES (1, 2.50, 'DELETE FROM audit');
        """)
    result = project.run("db", "migrate", "up")
    assert result.code == 0, result
    assert "Destroys data" not in result.out and safety_backups(project) == []


def test_hand_written_drop_takes_a_safety_backup_in_local(project):
    """`migrate up` of a hand-written DROP TABLE names it and backs up first, even locally;
    the words in the first migration's comment and string took no backup."""
    audit_table(project)
    project.migration("002_drop_audit.sql", "SELECT 1;\nDROP TABLE audit;")
    result = project.run("db", "migrate", "up")
    assert result.code == 0, result
    assert "migrations/002_drop_audit.sql line 4: DROP TABLE audit" in result.out
    (made,) = safety_backups(project)
    assert made.endswith("_before_migrate.dump") and made in result.out


def test_no_backup_skips_the_safety_backup(project):
    """`--no-backup` applies a destructive migration without a backup, and says so."""
    audit_table(project)
    project.migration("002_truncate.sql", "TRUNCATE audit;")
    result = project.run("db", "migrate", "up", "--no-backup")
    assert result.code == 0, result
    assert "Destroys data (--no-backup: no safety backup)" in result.out
    assert "002_truncate.sql line 3: TRUNCATE audit" in result.out
    assert safety_backups(project) == []


def test_type_changes_are_judged_by_the_column_they_change(project):
    """Widening a column (varchar(20) -> text) takes no backup; narrowing numeric(10,2) to
    integer names the column's type now and takes one."""
    audit_table(project)
    project.migration("002_widen.sql", "ALTER TABLE audit ALTER COLUMN note TYPE text;")
    result = project.run("db", "migrate", "up")
    assert result.code == 0 and "Destroys data" not in result.out, result
    assert safety_backups(project) == []
    project.migration("003_narrow.sql", "ALTER TABLE audit ALTER COLUMN price TYPE integer;")
    result = project.run("db", "migrate", "up")
    assert result.code == 0, result
    assert ("003_narrow.sql line 3: ALTER COLUMN audit.price TYPE integer (from "
            "numeric(10,2))") in result.out
    assert len(safety_backups(project)) == 1


@pytest.mark.parametrize("command", [("migrate", "up"), ("update",)])
def test_parse_error_without_a_position_is_one_line(project, command):
    """An unfinished statement at the end of a file (PostgreSQL's parser gives no position)
    is one line naming the file and line, exit 1 as for any SQL error, before any backup."""
    project.migration("001_cut.sql", "CREATE TABLE a (id int);\n\nCREATE TABLE b(id int", None)
    result = project.run("db", *command)
    assert result.code == 1, result
    assert result.err.strip().splitlines() == [
        "Error: 001_cut failed at migrations/001_cut.sql line 5: syntax error at end of "
        "input. Nothing was sent to the server."]
    assert project.db.tables() == [] and safety_backups(project) == []
    assert not (project.root / "backups").exists() or not any((project.root / "backups").rglob(
        "*.dump"))


def test_unreadable_migration_file_is_one_exit_code_everywhere(project):
    """A migration file that cannot be read is exit 2 for `status` and `schema import` alike."""
    os.symlink(project.migrations / "nowhere.sql", project.migrations / "001_gone.sql")
    project.write("schema.dbml", "Table a {\n  id int\n}\n")
    for argv in (("db", "status"), ("db", "migrate", "status"),
                 ("db", "schema", "import", "schema.dbml", "--dry-run")):
        result = project.run(*argv)
        assert result.code == 2 and "Cannot read migrations/001_gone.sql" in result.err, argv


@pytest.mark.parametrize("flags", [(), ("--no-backup",)])
def test_schema_import_apply_backs_up_before_dropping_a_declared_table(project, flags):
    """`schema import --apply` that drops a table the DBML declared before takes a safety
    backup first (it runs migrate up); `--no-backup` skips it."""
    dbml = project.write("schema.dbml", "Table a {\n  id int\n}\n\nTable b {\n  id int\n}\n")
    assert project.run("db", "schema", "import", "--apply").code == 0
    assert safety_backups(project) == []
    dbml.write_text("Table a {\n  id int\n}\n")
    result = project.run("db", "schema", "import", "--apply", *flags)
    assert result.code == 0, result
    assert "Destroys data" in result.out and ": DROP TABLE " in result.out
    assert project.db.tables() == ["a"]
    assert len(safety_backups(project)) == (0 if flags else 1)

"""Lint's lock and transaction rules (nself/lint/locks.py): for each rule a statement it
reports, the safe form it does not, and the same statement inside a comment and a string
literal (never a finding: rules read parse trees); tables new in the same migration, the
schema earlier migrations build, DO blocks and function bodies, server versions."""

from __future__ import annotations

import pytest

from nself import sql
from nself.lint import REGISTRY, Context, Project, lint, lint_statements
from nself.lint.context import Schema

# rule -> (reported, safe form). Every table is one no statement of the same migration
# creates (it may hold rows and the application uses it); no lock_timeout is known.
CASES = {
    "PG101": ("CREATE INDEX users_email_idx ON users (email)",
              "CREATE INDEX CONCURRENTLY users_email_idx ON users (email)"),
    "PG102": ("DROP INDEX users_email_idx", "DROP INDEX CONCURRENTLY users_email_idx"),
    "PG103": ("REINDEX TABLE users", "REINDEX (CONCURRENTLY) TABLE users"),
    "TX101": ("CREATE INDEX CONCURRENTLY users_email_idx ON users (email)",
              "CREATE INDEX users_email_idx ON users (email)"),
    "PG104": ("ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) "
              "REFERENCES users (id)",
              "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) "
              "REFERENCES users (id) NOT VALID"),
    "PG105": ("ALTER TABLE users ADD CONSTRAINT age_ok CHECK (age >= 0)",
              "ALTER TABLE users ADD CONSTRAINT age_ok CHECK (age >= 0) NOT VALID"),
    "PG106": ("ALTER TABLE users ALTER COLUMN email SET NOT NULL",
              "ALTER TABLE users ADD CONSTRAINT email_nn CHECK (email IS NOT NULL) NOT VALID;"
              "ALTER TABLE users VALIDATE CONSTRAINT email_nn;"
              "ALTER TABLE users ALTER COLUMN email SET NOT NULL"),
    "PG107": ("ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid()",
              "ALTER TABLE users ADD COLUMN seen timestamptz DEFAULT now()"),
    "PG108": ("ALTER TABLE users ADD COLUMN lower_email text "
              "GENERATED ALWAYS AS (lower(email)) STORED",
              "ALTER TABLE users ADD COLUMN lower_email text "
              "GENERATED ALWAYS AS (lower(email)) VIRTUAL"),
    "PG109": ("ALTER TABLE users ALTER COLUMN id TYPE bigint",
              "ALTER TABLE users ADD COLUMN nick varchar(20);"
              "ALTER TABLE users ALTER COLUMN nick TYPE varchar(40)"),
    "PG110": ("ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email)",
              "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE "
              "USING INDEX users_email_idx"),
    "PG111": ("VACUUM FULL users", "VACUUM users"),
    "PG112": ("CLUSTER users USING users_pkey", "ALTER TABLE users CLUSTER ON users_pkey"),
    "PG113": ("LOCK TABLE users IN ACCESS EXCLUSIVE MODE",
              "CREATE TABLE t (id bigint); LOCK TABLE t IN ACCESS EXCLUSIVE MODE"),
    "PG114": ("ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) "
              "REFERENCES users (id) NOT VALID",
              "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) "
              "REFERENCES users (id) NOT VALID;"
              "CREATE INDEX CONCURRENTLY orders_user_idx ON orders (user_id)"),
    "TX102": ("ALTER TABLE users ADD COLUMN note text",
              "SET lock_timeout = '5s'; ALTER TABLE users ADD COLUMN note text"),
    "TX103": ("ALTER TABLE users ADD COLUMN note text;"
              "UPDATE settings SET v = 1 WHERE k = 'x'",
              "UPDATE settings SET v = 1 WHERE k = 'x';"
              "ALTER TABLE users ADD COLUMN note text"),
    "TX104": ("ALTER TYPE mood ADD VALUE 'meh';"
              "UPDATE users SET mood = 'meh' WHERE id = 1",
              "ALTER TYPE mood ADD VALUE 'meh'; UPDATE users SET mood = 'ok' WHERE id = 1"),
    "TX105": ("ALTER TABLE users ADD COLUMN note text; ROLLBACK",
              "ALTER TABLE users ADD COLUMN note text"),
    "PG115": ("ALTER TABLE measurements DETACH PARTITION measurements_2020",
              "ALTER TABLE measurements DETACH PARTITION measurements_2020 CONCURRENTLY"),
    "TX106": ("BEGIN; ALTER TABLE users ADD COLUMN note text",
              "BEGIN; ALTER TABLE users ADD COLUMN note text; COMMIT"),
}
# the safe form of these is the same SQL in a `-- nself:no-transaction` migration
SAFE_OUTSIDE_TRANSACTION = {"TX101", "TX103", "TX104", "TX105"}
SAFE_OUTSIDE_TRANSACTION_ALSO = {"TX101": "CREATE INDEX CONCURRENTLY users_email_idx ON "
                                          "users (email)"}


def run(text: str, transactional: bool = True, **known):
    ctx = Context.for_text("001_m.sql", text, transactional, **known)
    return lint_statements(sql.split(text, parse=True), ctx)


def ids(text: str, transactional: bool = True, **known) -> list[str]:
    return [f.rule for f in run(text, transactional, **known)]


def hidden(text: str) -> str:
    """`text` inside a block comment, a line comment and a dollar-quoted string."""
    one_line = " ".join(text.split())
    return f"/* {text} */\n-- {one_line}\nSELECT $q${text}$q$ AS sql_text;\n"


def test_every_lock_rule_has_its_cases():
    mine = {r.id for r in REGISTRY.values() if r.check.__module__ == "nself.lint.locks"}
    assert mine == set(CASES)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_reports_the_unsafe_form(rule_id):
    reported, _ = CASES[rule_id]
    found = [f for f in run(reported) if f.rule == rule_id]
    assert found, f"{rule_id} silent on: {reported}"
    f = found[0]
    assert f.file == "001_m.sql" and f.line == 1
    assert f.level == REGISTRY[rule_id].level
    assert f.message and f.why and f.safe


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_is_silent_on_the_safe_form(rule_id):
    _, safe = CASES[rule_id]
    assert rule_id not in ids(safe)


@pytest.mark.parametrize("rule_id", sorted(SAFE_OUTSIDE_TRANSACTION))
def test_transaction_rule_is_silent_outside_a_transaction(rule_id):
    text = SAFE_OUTSIDE_TRANSACTION_ALSO.get(rule_id, CASES[rule_id][0])
    assert rule_id not in ids(text, transactional=False)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_is_silent_on_a_comment_or_string(rule_id):
    reported, _ = CASES[rule_id]
    assert rule_id not in ids(hidden(reported))


def test_findings_name_the_lock_and_what_it_blocks():
    by_rule = {f.rule: f for f in run("CREATE INDEX i ON users (email);\n"
                                      "ALTER TABLE users ADD CONSTRAINT c CHECK (a > 0);\n"
                                      "ALTER TABLE orders ADD FOREIGN KEY (u) REFERENCES users;")}
    assert (by_rule["PG101"].lock, by_rule["PG101"].blocks) == ("SHARE", "writes")
    assert (by_rule["PG105"].lock, by_rule["PG105"].blocks) == \
        ("ACCESS EXCLUSIVE", "reads and writes")
    assert (by_rule["PG104"].lock, by_rule["PG104"].blocks) == ("SHARE ROW EXCLUSIVE", "writes")
    assert by_rule["PG105"].line == 2 and by_rule["PG104"].line == 3


def test_a_table_created_in_the_same_migration_is_not_reported():
    """squawk #349: an index created right after its table is no finding; nor are the
    other lock rules on a table nobody uses yet."""
    text = ("CREATE TABLE t (id bigint PRIMARY KEY, a text, u bigint);\n"
            "CREATE INDEX t_a ON t (a);\n"
            "ALTER TABLE t ADD CONSTRAINT t_u FOREIGN KEY (u) REFERENCES users (id);\n"
            "CREATE INDEX t_u_idx ON t (u);\n"
            "ALTER TABLE t ADD CONSTRAINT a_ok CHECK (a <> '');\n"
            "ALTER TABLE t ALTER COLUMN a SET NOT NULL;\n"
            "ALTER TABLE t ADD COLUMN token uuid DEFAULT gen_random_uuid();\n"
            "ALTER TABLE t ALTER COLUMN u TYPE numeric;\n"
            "ALTER TABLE t ADD UNIQUE (a);\n"
            "LOCK TABLE t;\n"
            "VACUUM FULL t;\nCLUSTER t USING t_pkey;\n")
    assert [i for i in ids(text, transactional=False) if i in CASES] == []


def test_earlier_migrations_build_the_schema_a_file_is_linted_against(tmp_path):
    """A table from an earlier migration exists (its index is reported); the index an
    earlier migration made on a foreign key's columns counts; a column type it gave tells
    whether a type change rewrites."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_users.sql").write_text(
        "-- UP\nCREATE TABLE users (id bigint PRIMARY KEY, name varchar(20), org bigint);\n"
        "CREATE INDEX users_org ON users (org);\n-- DOWN\nDROP TABLE users;\n")
    later = folder / "002_more.sql"
    later.write_text("-- UP\nSET lock_timeout = '5s';\n"
                     "CREATE INDEX users_name ON users (name);\n"
                     "ALTER TABLE users ADD FOREIGN KEY (org) REFERENCES orgs (id) NOT VALID;\n"
                     "ALTER TABLE users ALTER COLUMN name TYPE varchar(40);\n"
                     "ALTER TABLE users ALTER COLUMN id TYPE numeric;\n")
    found = lint([later], Project(folder, tmp_path).context)
    assert sorted((f.line, f.rule) for f in found if f.rule in CASES) == \
        [(3, "PG101"), (6, "PG109"), (6, "TX103")]
    assert "from bigint" in next(f for f in found if f.rule == "PG109").message
    assert found[0].file == "migrations/002_more.sql"


def test_do_blocks_and_function_bodies_are_linted():
    """squawk #411 and #528: DDL inside DO and a function body, with the inner line."""
    text = ("SELECT 1;\nDO $$\nBEGIN\n  CREATE INDEX i ON users (email);\n"
            "  EXECUTE 'VACUUM FULL users';\nEND\n$$;\n"
            "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$\nBEGIN\n"
            "  LOCK TABLE users;\nEND $$;\n")
    found = {f.rule: f for f in run(text)}
    assert found["PG101"].line == 4 and "(in a DO block)" in found["PG101"].message
    assert found["PG111"].line == 5 and "TX101" in found
    assert found["PG113"].line == 10 and "(in a function body)" in found["PG113"].message


def test_a_constant_default_is_a_rewrite_only_before_postgresql_11():
    """squawk #277/#390/#636: a non-volatile default is fine without a server version."""
    text = "ALTER TABLE users ADD COLUMN plan text DEFAULT 'free'"
    assert "PG107" not in ids(text)
    assert "PG107" not in ids(text, server_version=150004)
    assert "PG107" in ids(text, server_version=100021)
    assert "PG107" in ids("ALTER TABLE users ADD COLUMN n bigserial")


def test_lock_timeout_from_the_runner_or_the_file_counts():
    text = "ALTER TABLE users ADD COLUMN note text"
    assert "TX102" in ids(text, lock_timeout_ms=0)
    assert "TX102" not in ids(text, lock_timeout_ms=5000)
    assert "TX102" not in ids("SET LOCAL lock_timeout = 1000;\n" + text)
    assert "TX102" not in ids("CREATE TABLE t (id int); ALTER TABLE t ADD COLUMN n int")


def test_set_not_null_after_a_check_validated_by_an_earlier_migration():
    earlier = Schema()
    for st in sql.split("ALTER TABLE users ADD CONSTRAINT nn CHECK (email IS NOT NULL) "
                        "NOT VALID; ALTER TABLE users VALIDATE CONSTRAINT nn", parse=True):
        earlier.learn(st.node)
    text = "ALTER TABLE users ALTER COLUMN email SET NOT NULL"
    assert "PG106" not in ids(text, earlier=earlier)
    unvalidated = Schema()
    unvalidated.learn(sql.split("ALTER TABLE users ADD CONSTRAINT nn CHECK (email IS NOT "
                                "NULL) NOT VALID", parse=True)[0].node)
    assert "PG106" in ids(text, earlier=unvalidated)


def test_the_size_of_a_live_table_is_shown():
    """A live table's size is named; on a small one (under 10 MB) the rules whose harm is
    a long scan or rewrite only warn, the others keep their level."""
    sizes = {"public.users": (1_234_567, 480 * 2**20), "public.orders": (-1, 8192)}
    found = run("CREATE INDEX i ON users (email); VACUUM FULL orders;\n"
                "LOCK TABLE orders", sizes=sizes)
    by_rule = {f.rule: f for f in found}
    assert by_rule["PG101"].table == "users: 1.2M rows, 480 MB"
    assert by_rule["PG101"].level == "error"
    assert by_rule["PG111"].table == "orders: rows unknown (never analyzed), 8.0 kB"
    assert by_rule["PG111"].level == "warning" and "small table" in by_rule["PG111"].message
    assert by_rule["TX102"].level == "error"


def test_begin_and_commit_are_warnings_rollback_an_error():
    """nself blanks a top-level BEGIN/COMMIT (other tools would commit there)."""
    levels = {(f.line, f.level) for f in run("BEGIN;\nSELECT 1;\nCOMMIT;\nROLLBACK;")
              if f.rule == "TX105"}
    assert levels == {(1, "warning"), (3, "warning"), (4, "error")}


def test_the_missing_index_hint_is_sql_that_runs_on_mixed_case_names():
    """PG114's safe form quotes what PostgreSQL would fold ("User", "userId"), so it can be
    pasted as written."""
    (found,) = [f for f in run('ALTER TABLE "User" ADD FOREIGN KEY ("accId") '
                               'REFERENCES account;') if f.rule == "PG114"]
    assert 'CREATE INDEX CONCURRENTLY ON public."User" ("accId")' in found.safe

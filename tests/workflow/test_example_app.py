"""The repository's own migrations/, seeds/ and schema.dbml (the guides' example application:
users, posts, categories, comments, preferences) work as the README walks through them:
they apply, seed twice without a change, match schema.dbml, and roll back to nothing."""

from __future__ import annotations

import re
import shutil

from conftest import REPO

USER_TABLES = ["categories", "comments", "posts", "users"]


def copy_example(project) -> None:
    """The repo's migrations, seeds and schema.dbml in the scratch project."""
    shutil.rmtree(project.migrations)
    shutil.rmtree(project.root / "seeds")
    shutil.copytree(REPO / "migrations", project.migrations)
    shutil.copytree(REPO / "seeds", project.root / "seeds")
    shutil.copy(REPO / "schema.dbml", project.root / "schema.dbml")


def contents(db) -> dict[str, list[tuple]]:
    """Every row of the example's tables, as text, in a stable order."""
    return {table: db.query(f"SELECT t::text FROM {table} t ORDER BY t::text")
            for table in USER_TABLES}


def test_example_app_migrates_seeds_twice_and_rolls_back(project):
    """The example's migrations apply, every environment's seeds run twice without changing a
    row, schema.dbml equals what the migrations build, and all migrations roll back."""
    copy_example(project)
    result = project.run("db", "migrate", "up")
    assert result.code == 0 and "5 migrations applied" in result.out, result
    assert project.db.tables() == USER_TABLES

    for argv in (("db", "seed"), ("db", "seed", "--env", "staging", "--yes"),
                 ("db", "seed", "--env", "production", "--yes")):
        first = project.run(*argv)
        assert first.code == 0, (argv, first)
        after_first = contents(project.db)
        again = project.run(*argv)
        assert again.code == 0, (argv, again)
        assert contents(project.db) == after_first, argv
    counts = {t: len(rows) for t, rows in contents(project.db).items()}
    # local: 3 users, 3 posts, 2 comments; staging adds a user and a post; production an admin
    assert counts == {"categories": 3, "comments": 2, "posts": 4, "users": 5}, counts
    assert project.db.scalar(
        "SELECT count(*) FROM posts WHERE category_id IS NULL") == 0

    rerun = project.run("db", "migrate", "up")
    assert rerun.code == 0 and "Nothing to apply" in rerun.out, rerun
    same = project.run("db", "schema", "import", "schema.dbml", "--dry-run")
    assert same.code == 0 and "No schema changes" in same.out, same

    down = project.run("db", "migrate", "down", "--to", "0", "--no-backup",
                       "--allow-env-mismatch")
    assert down.code == 0 and "5 migrations rolled back" in down.out, down
    assert project.db.tables() == []
    left = project.db.query(
        "SELECT typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
        "WHERE n.nspname = 'public' UNION ALL SELECT proname FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'")
    assert left == []


def test_example_preferences_constraint_holds(project):
    """003's constraint and default agree: a user inserted without preferences gets valid
    ones, and preferences without a theme are refused."""
    copy_example(project)
    assert project.run("db", "migrate", "up").code == 0
    project.db.query("INSERT INTO users (email, password_hash) VALUES ('x@demo.com', '!')")
    assert project.db.scalar(
        "SELECT preferences->>'theme' FROM users WHERE email = 'x@demo.com'") == "light"
    result = project.run("db", "shell", "-c",
                         "UPDATE users SET preferences = '{}' WHERE email = 'x@demo.com'")
    assert result.code != 0 and "check_preferences_format" in result.err, result


def readme_walkthrough() -> tuple[list, str]:
    """The README's "Development Workflow Example": its nself lines in order, and the DBML
    it asks to add to schema.dbml."""
    from test_guide_lines import commands_in

    text = (REPO / "README.md").read_text()
    section = text.split("## Development Workflow Example", 1)[1].split("\n## ", 1)[0]
    dbml = section.split("   ```\n   Table", 1)[1].split("   ```", 1)[0]
    table = "Table" + "\n".join(line.removeprefix("   ") for line in dbml.splitlines())
    fenced = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    return commands_in("\n".join(fenced), "README"), table


def test_readme_walkthrough_runs_as_written(project):
    """Every nself line of the README's walk-through runs in order on the example app, with
    the outputs its comments promise; its undo leaves 001-005 applied."""
    copy_example(project)
    lines, table = readme_walkthrough()
    assert [line.argv[1:3] for line in lines][:2] == [["db", "update"], ["db", "seed"]]
    outputs = []
    for line in lines:
        if line.argv[1:4] == ["db", "schema", "import"] and "--name" in line.argv:
            with open(project.root / "schema.dbml", "a") as dbml:
                dbml.write("\n" + table)
        result = project.run(*line.argv[1:])
        assert result.code == 0, (line.text, result)
        outputs.append(result.out)
    assert "Update complete! 5 migrations applied." in outputs[0]
    assert "no rows changed" in outputs[2] and "inserted" not in outputs[2]
    assert "Migration created: migrations/006_add_tags.sql" in "".join(outputs)
    assert "No schema changes" in "".join(outputs)
    assert "tags" in project.db.tables()
    undo = project.run("db", "migrate", "down", "--no-backup")
    assert undo.code == 0 and "006_add_tags" in undo.out, undo
    (project.migrations / "006_add_tags.sql").unlink()
    status = project.run("db", "migrate", "status", "--check")
    assert status.code == 0 and status.out.count("Applied") == 5, status

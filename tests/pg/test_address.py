"""Where the database address comes from: config/<env>.env, then .env (personal and local:
it never moves staging or production), then the shell (announced when it replaces a file's
database); `db status` shows the address and its source."""

import json
import os

import pytest
from test_config import make

from nself.config import SHELL, Environment
from nself.errors import ConfigError

PROD_URL = "postgresql://app@db.prod.example.com:5432/app"
LOCAL_URL = "postgresql://postgres:localpw@127.0.0.1:5432/postgres"


def names(display: str, dbname: str) -> bool:
    """Whether a masked URL as status shows it names database DBNAME."""
    return display.split("?")[0].endswith("/" + dbname)


# No server needed -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["staging", "production"])
def test_dotenv_cannot_redirect_a_remote_environment(tmp_path, name):
    """.env's DATABASE_URL (the .env.example pattern) leaves staging/production on the
    database their own file names, and says so once."""
    env = make(tmp_path, {f"config/{name}.env": f"DATABASE_URL={PROD_URL}\n",
                          ".env": f"DATABASE_URL={LOCAL_URL}\n"}, {"ENV": name})
    assert env.database.params["host"] == "db.prod.example.com"
    assert env.address_source() == f"DATABASE_URL in config/{name}.env"
    [note] = env.address_notes()
    assert "DATABASE_URL in .env ignored" in note and f"config/{name}.env" in note
    assert "localpw" not in note


def test_dotenv_cannot_redirect_a_file_of_pg_variables(tmp_path):
    """Where production's file names its database with PGHOST/PGDATABASE, .env's
    DATABASE_URL and PGPORT are left out too."""
    env = make(tmp_path, {"config/production.env": "PGHOST=db.prod.example.com\nPGDATABASE=app\n",
                          ".env": f"DATABASE_URL={LOCAL_URL}\nPGPORT=5433\n"},
               {"ENV": "production"})
    assert env.database.params["host"] == "db.prod.example.com"
    assert env.database.name == "app" and "port" not in env.database.params
    assert env.ignored == ("DATABASE_URL", "PGPORT")


def test_dotenv_may_add_the_password(tmp_path):
    """.env may name the same database with its password, or give PGPASSWORD: credentials,
    not another database."""
    env = make(tmp_path, {"config/production.env": f"DATABASE_URL={PROD_URL}\n",
                          ".env": "DATABASE_URL=postgresql://app:s3cret@db.prod.example.com/app\n"},
               {"ENV": "production"})
    assert env.database.password == "s3cret" and env.address_notes() == []
    env = make(tmp_path, {".env": "PGPASSWORD=s3cret2\n"}, {"ENV": "production"})
    assert env.database.password == "s3cret2" and env.database.name == "app"


def test_dotenv_still_chooses_the_local_database(tmp_path):
    """In local, .env is where a developer points nself at their own server."""
    env = make(tmp_path, {"config/local.env": "DATABASE_URL=postgresql://a@h1/one\n",
                          ".env": "DATABASE_URL=postgresql://a@h2/two\n"})
    assert env.database.name == "two" and env.address_source() == "DATABASE_URL in .env"
    assert env.address_notes() == []


@pytest.mark.parametrize("name", ["staging", "production"])
def test_dotenv_never_names_a_remote_environments_database(tmp_path, name):
    """Where config/<env>.env names no database (as `init` scaffolds it), .env's is not
    used either: the environment refuses in one line naming its file and the way out."""
    env = make(tmp_path, {".env": f"DATABASE_URL={LOCAL_URL}\n"}, {"ENV": name})
    with pytest.raises(ConfigError) as refused:
        env.database  # noqa: B018 (the property is what refuses)
    text = str(refused.value)
    assert f"config/{name}.env names no database" in text and "--url" in text
    assert "localpw" not in text


def test_shell_names_staging_when_its_file_names_none(tmp_path):
    """A shell DATABASE_URL still gives staging a database its file does not name, said."""
    env = make(tmp_path, {".env": f"DATABASE_URL={LOCAL_URL}\n"},
               {"ENV": "staging", "DATABASE_URL": PROD_URL})
    assert env.database.name == "app"
    [note] = env.address_notes()
    assert "config/staging.env names no database" in note and "from the shell" in note


def test_fresh_init_staging_refuses_the_dotenv_database(tmp_path, db, monkeypatch):
    """On a fresh `nself init` project, .env's local DATABASE_URL never reaches staging:
    `db status` and `migrate down` refuse (exit 2) and the local database is untouched."""
    from conftest import Project

    monkeypatch.chdir(tmp_path)
    project = Project(root=tmp_path, db=db, capsys=None)
    assert project.run_process("init").code == 0
    project.write(".env", f"DATABASE_URL={db.url}\n")
    project.migration("001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    assert project.run_process("db", "migrate", "up").code == 0
    for argv in (("db", "status"), ("db", "migrate", "down", "--yes")):
        result = project.run_process(*argv, env={"ENV": "staging"})
        assert result.code == 2 and "config/staging.env names no database" in result.err, result
    assert db.tables() == ["a"]


def test_shell_replacing_a_files_database_is_announced(tmp_path):
    """A shell DATABASE_URL beating config/production.env (the CI case) is one line naming
    both sources and both databases, masked."""
    env = make(tmp_path, {"config/production.env": f"DATABASE_URL={PROD_URL}\n"},
               {"ENV": "production", "DATABASE_URL": "postgresql://ci:cipw@ci-db:5432/app"})
    assert env.database.params["host"] == "ci-db"
    assert env.origins["DATABASE_URL"] == SHELL
    assert env.address_source() == "DATABASE_URL from the shell"
    [note] = env.address_notes()
    assert "DATABASE_URL from the shell" in note and "config/production.env" in note
    assert "postgresql://ci:***@ci-db:5432/app" in note and PROD_URL in note
    assert "cipw" not in note
    said = []
    env.announce(said.append)
    env.announce(said.append)
    assert said == [note]


def test_shell_naming_the_same_database_is_silent(tmp_path):
    """A shell DATABASE_URL that only repeats the file's database (with a password) is no
    surprise: no note."""
    env = make(tmp_path, {"config/production.env": f"DATABASE_URL={PROD_URL}\n"},
               {"ENV": "production",
                "DATABASE_URL": "postgresql://app:pw@db.prod.example.com/app"})
    assert env.address_notes() == []


def test_pghost_alone_is_announced(tmp_path):
    """PGHOST without PGDATABASE leaves the embedded default for the server's database named
    after the user; the note names PGHOST and that database."""
    env = make(tmp_path, environ={"PGHOST": "db.example.com", "PGUSER": "postgres"})
    assert not env.database.embedded and env.database.name == "postgres"
    [note] = env.address_notes()
    assert note.startswith("Note: PGHOST is set (from the shell) without PGDATABASE")
    assert "'postgres'" in note and "not the embedded one" in note
    assert env.address_source() == "PGHOST from the shell"


def test_embedded_default_is_named_as_the_source(tmp_path):
    """With nothing configured in local the source is the embedded default, and no note."""
    env = make(tmp_path)
    assert env.address_source().startswith("the embedded default")
    assert env.address_notes() == []
    assert env.target_text().endswith("(the embedded default (no DATABASE_URL or "
                                      "PGHOST/PGDATABASE set))")


# Against a real server ------------------------------------------------------------------


def test_ci_shell_url_is_announced_by_a_changing_command_and_status(project, monkeypatch):
    """In CI a shell DATABASE_URL beats config/staging.env: `migrate up` says so in one line
    naming both sources and changes the shell's database; `db status` and its JSON show the
    database and where it came from."""
    filed = project.db.create_sibling()
    project.write("config/staging.env", f"DATABASE_URL={filed.url}\n")
    project.migration("001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    monkeypatch.setenv("ENV", "staging")
    result = project.run("db", "migrate", "up", "--yes")
    assert result.code == 0, result
    notes = [line for line in result.out.splitlines() if line.startswith("Note:")]
    assert len(notes) == 1, result
    assert "DATABASE_URL from the shell" in notes[0] and "config/staging.env" in notes[0]
    assert project.db.tables() == ["a"] and filed.tables() == []
    status = project.run("db", "status")
    assert status.code == 0, status
    assert "Address from: DATABASE_URL from the shell" in status.out
    assert status.out.startswith("Note: DATABASE_URL from the shell")
    facts = json.loads(project.run("db", "status", "--json").out)
    assert facts["database_source"] == "DATABASE_URL from the shell"
    assert names(facts["database"], project.db.name)
    assert len(facts["notes"]) == 1 and "config/staging.env" in facts["notes"][0]


def test_dotenv_cannot_redirect_staging_end_to_end(project, monkeypatch):
    """With staging's own file naming its database, .env's DATABASE_URL (the local one)
    neither receives the migration nor gets recorded as staging."""
    local = project.db.create_sibling()
    project.write("config/staging.env", f"DATABASE_URL={project.db.url}\n")
    project.write(".env", f"DATABASE_URL={local.url}\n")
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("ENV", "staging")
    project.migration("001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    result = project.run("db", "migrate", "up", "--yes")
    assert result.code == 0, result
    assert "DATABASE_URL in .env ignored" in result.out
    assert project.db.tables() == ["a"] and local.tables() == []
    assert local.scalar("SELECT to_regclass('nself.meta') IS NULL")
    monkeypatch.delenv("ENV")
    facts = json.loads(project.run("db", "status", "--json").out)
    assert names(facts["database"], local.name) and facts["recorded_environment"] is None


def test_pghost_alone_is_said_by_status(project, monkeypatch):
    """`db status` with only PGHOST (and port/user) set names PGHOST and the database it
    falls to, before the facts."""
    monkeypatch.delenv("DATABASE_URL")
    params = project.db.admin
    monkeypatch.setenv("PGHOST", params["host"])
    monkeypatch.setenv("PGPORT", params.get("port", "5432"))
    monkeypatch.setenv("PGUSER", params.get("user", "postgres"))
    result = project.run("db", "status")
    assert result.code == 0, result
    first = result.out.splitlines()[0]
    assert first.startswith("Note: PGHOST is set (from the shell) without PGDATABASE")
    assert f"'{params.get('user', 'postgres')}'" in first


def test_status_json_drift_since_is_the_label(project):
    """`db status --json` carries the migration label the text shows ("001"), and the
    number under drift_since_version."""
    project.migration("001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    assert project.run("db", "migrate", "up").code == 0
    facts = json.loads(project.run("db", "status", "--json").out)
    assert facts["drift_since"] == "001" and facts["drift_since_version"] == 1


def test_configured_connect_timeout_is_used(project, monkeypatch):
    """A connect_timeout in DATABASE_URL is the one nself's own connections use too (it was
    silently replaced by 10 s)."""
    from nself.pg import connection

    monkeypatch.setenv("DATABASE_URL", project.db.url + ("&" if "?" in project.db.url else "?")
                       + "connect_timeout=7")
    env = Environment.load()
    with connection.connect(connection.target(env)) as conn:
        assert conn.info.get_parameters().get("connect_timeout") == "7"
    assert os.environ["DATABASE_URL"].endswith("connect_timeout=7")


def test_url_option_is_for_one_run_and_announced(project, monkeypatch):
    """`nself --url URL` changes the database for that run only, says it replaces the one
    the environment file names, and `db status` names it as the source."""
    other = project.db.create_sibling()
    project.write("config/local.env", f"DATABASE_URL={project.db.url}\n")
    monkeypatch.delenv("DATABASE_URL")
    project.migration("001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    result = project.run("--url", other.url, "db", "migrate", "up")
    assert result.code == 0, result
    assert "DATABASE_URL from --url replaces the database named by DATABASE_URL in " \
           "config/local.env" in result.out
    assert other.tables() == ["a"] and project.db.tables() == []
    facts = json.loads(project.run("--url", other.url, "db", "status", "--json").out)
    assert facts["database_source"] == "DATABASE_URL from --url"
    assert "NSELF_DATABASE_URL" not in os.environ
    facts = json.loads(project.run("db", "status", "--json").out)
    assert names(facts["database"], project.db.name) and facts["notes"] == []


def test_env_file_option_reads_another_file_instead_of_dotenv(project, monkeypatch):
    """`nself --env-file FILE` reads FILE instead of .env for one run (a missing one is exit
    2); its database replacing the environment file's is announced."""
    other = project.db.create_sibling()
    project.write("config/local.env", f"DATABASE_URL={project.db.url}\n")
    project.write(".env", "DATABASE_URL=postgresql://nobody@127.0.0.1:1/none\n")
    project.write("ci.env", f"DATABASE_URL={other.url}\n")
    monkeypatch.delenv("DATABASE_URL")
    result = project.run("--env-file", "ci.env", "db", "status", "--json")
    assert result.code == 0, result
    facts = json.loads(result.out)
    assert names(facts["database"], other.name)
    assert facts["database_source"] == "DATABASE_URL in ci.env"
    assert "DATABASE_URL in ci.env replaces" in facts["notes"][0]
    missing = project.run("--env-file", "nope.env", "db", "status")
    assert missing.code == 2 and "nope.env" in missing.err and "--env-file" in missing.err


def test_url_option_names_only_the_current_environment(tmp_path, monkeypatch):
    """`--url` (NSELF_DATABASE_URL) is this environment's database: `schema diff staging`
    still reads staging's own."""
    from nself.schema.compare import other_environment

    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "staging.env").write_text(f"DATABASE_URL={PROD_URL}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NSELF_DATABASE_URL", "postgresql://me@127.0.0.1/mine")
    env = Environment.load()
    assert env.database.name == "mine"
    assert env.address_source() == "DATABASE_URL from NSELF_DATABASE_URL"
    assert other_environment(env, "staging").database.name == "app"


def test_a_note_is_said_once_per_run_even_by_copies(tmp_path):
    """Copies of the environment (seeds check as the seeds' environment) share what was
    said: the shell-override line appears once."""
    from dataclasses import replace

    env = make(tmp_path, {"config/production.env": f"DATABASE_URL={PROD_URL}\n"},
               {"ENV": "production", "DATABASE_URL": "postgresql://ci@ci-db/app"})
    said = []
    replace(env, name="local").announce(said.append)
    env.announce(said.append)
    assert len(said) == 1


# every command that changes data, in the order a session might run them
CHANGING = [("db", "migrate", "up"), ("db", "seed"), ("db", "update"),
            ("db", "mock", "--rows", "a=1"), ("db", "migrate", "down", "--no-backup"),
            ("db", "reset", "--yes", "--no-backup"),
            ("db", "migrate", "fresh", "--yes", "--no-backup"),
            ("db", "schema", "import", "--apply"),
            ("db", "restore", "--yes", "--clean", "--no-backup")]


def test_every_changing_command_says_the_shell_override_once(project):
    """Each command that changes data prints the shell-override line exactly once when the
    shell's DATABASE_URL replaces the one config/local.env names."""
    filed = project.db.create_sibling()
    project.write("config/local.env", f"DATABASE_URL={filed.url}\n")
    project.migration("001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    project.write("seeds/common/01.sql", "INSERT INTO a VALUES (1);\n")
    project.write("schema.dbml", "Table a {\n  id int\n}\nTable b {\n  id int\n}\n")
    for argv in CHANGING:
        if argv[1] == "restore":
            assert project.run("db", "backup").code == 0
        result = project.run(*argv)
        assert result.code == 0, (argv, result)
        notes = [line for line in (result.out + result.err).splitlines()
                 if line.startswith("Note: DATABASE_URL from the shell replaces")]
        assert len(notes) == 1, (argv, result)
    assert filed.tables() == []


@pytest.mark.parametrize("how", ["shell", "flag"])
def test_undo_line_carries_an_address_the_files_did_not_give(project, monkeypatch, how):
    """An undo line printed for a database named by the shell or --url (config/local.env
    naming another) carries that address and, pasted, restores that database."""
    from test_undo import paste, undo_lines

    other = project.db.create_sibling()
    project.write("config/local.env", f"DATABASE_URL={other.url}\n")
    project.migration("001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    flags = ("--url", project.db.url) if how == "flag" else ()
    env = {"DATABASE_URL": ""} if how == "flag" else {}
    assert project.run_process(*flags, "db", "migrate", "up", env=env).code == 0
    ran = project.run_process(*flags, "db", "migrate", "down", "--yes", env=env)
    [line] = undo_lines(ran.out)
    assert project.db.url in line, line
    assert project.db.tables() == []
    pasted = paste(project, line)
    assert pasted.returncode == 0, (line, pasted.stderr)
    assert project.db.tables() == ["a"] and other.tables() == []


def test_undo_address_never_shows_a_password(tmp_path):
    """With a password in the URL, the undo line passes the shell variable or the URL
    without it (and names where the password comes from), never the password."""
    secret = "postgresql://app:S3cr3tPW@db.example.com:5432/app"
    env = make(tmp_path, {}, {"DATABASE_URL": secret})
    assert env.undo_address() == ('DATABASE_URL="$DATABASE_URL" ', "", "")
    env = make(tmp_path, {}, {"NSELF_DATABASE_URL": secret})
    assert env.undo_address()[0] == 'NSELF_DATABASE_URL="$NSELF_DATABASE_URL" '
    from nself import config
    config.given_by_flag.add("NSELF_DATABASE_URL")
    try:
        variables, options, comment = make(tmp_path, {}, {"NSELF_DATABASE_URL": secret}
                                           ).undo_address()
    finally:
        config.given_by_flag.clear()
    assert "S3cr3tPW" not in options and "app@db.example.com" in options
    assert "PGPASSWORD" in comment
    own = make(tmp_path, {"config/local.env": f"DATABASE_URL={secret}\n"})
    assert own.undo_address() == ("", "", "")


@pytest.mark.parametrize("argv", [("db", "backup"), ("db", "shell", "-c", "SELECT 1"),
                                  ("db", "mock"), ("db", "schema", "export")])
@pytest.mark.parametrize("folder", ["empty", "alembic"])
def test_unmarked_folder_is_no_project_for_any_command(tmp_path, argv, folder):
    """In a folder nself did not mark, every database command refuses (exit 2) and leaves
    no .nself/ or backups behind."""
    import subprocess
    import sys

    root = tmp_path / "backend"
    root.mkdir()
    if folder == "alembic":
        (root / "migrations").mkdir()
        (root / "migrations" / "env.py").write_text("")
    result = subprocess.run([sys.executable, "-m", "nself", *argv], cwd=root,
                            capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "No nself project" in result.stderr, result
    assert not (root / ".nself").exists() and not (root / "backups").exists()


@pytest.mark.parametrize("url,secret", [
    ("postgresql//postgres:S3cr3tPW@127.0.0.1/db", "S3cr3tPW"),
    ("postgresql://postgres:S3cr@3tPW@127.0.0.1/qa", "3tPW"),
    ("user=postgres S3cr3tPW", "S3cr3tPW"),
])
def test_replacing_note_and_errors_mask_a_malformed_shell_url(tmp_path, url, secret):
    """The note naming a shell DATABASE_URL, and its error, never show its password
    (masked up to the last @; an unparseable conninfo shows only harmless keys)."""
    from nself.config import mask_url

    assert secret not in mask_url(url)
    try:
        env = make(tmp_path, {"config/local.env": "DATABASE_URL=postgresql://a@h/one\n"},
                   {"DATABASE_URL": url})
        shown = " ".join(env.address_notes()) + env.database.display()
    except ConfigError as exc:
        shown = str(exc)
    assert secret not in shown, shown


def test_env_file_that_is_not_a_regular_file(tmp_path):
    """--env-file naming a folder or a device says it is not a regular file."""
    (tmp_path / "dir").mkdir()
    for chosen in (str(tmp_path / "dir"), "/dev/zero"):
        with pytest.raises(ConfigError, match="not a regular file"):
            make(tmp_path, {}, {"NSELF_ENV_FILE": chosen})


def test_run_options_in_a_settings_file_are_refused(tmp_path):
    """NSELF_DATABASE_URL in .env is refused in one line, not silently ignored."""
    with pytest.raises(ConfigError, match="NSELF_DATABASE_URL in .env is not read"):
        make(tmp_path, {".env": "NSELF_DATABASE_URL=postgresql://a@h/x\n"})


def test_service_is_named_in_the_display(tmp_path):
    """A PGSERVICE address shows the service's name, so notes never read `X, not X`."""
    env = make(tmp_path, {}, {"PGSERVICE": "nosuch"})
    assert "service=nosuch" in env.database.display()


@pytest.mark.parametrize("settings,named", [
    ({"BACKUP_STORAGE": "gcs"}, "BACKUP_STORAGE"),
    ({"BACKUP_STORAGE": "s3", "AWS_BACKUP_BUCKET": "bucket", "AWS_ACCESS_KEY_ID": "k",
      "AWS_SECRET_ACCESS_KEY": ""}, "AWS_SECRET_ACCESS_KEY"),
    ({"BACKUP_STORAGE": "s3", "AWS_BACKUP_BUCKET": "bucket", "AWS_ACCESS_KEY_ID": "k",
      "AWS_SECRET_ACCESS_KEY": "s3cretkey", "AWS_ENDPOINT_URL": "ftp://x"}, "AWS_ENDPOINT_URL"),
])
def test_backup_settings_are_checked_at_load(tmp_path, settings, named):
    """Bad off-site backup settings fail when the settings load (exit 2), not at backup."""
    with pytest.raises(ConfigError, match=named):
        make(tmp_path, {}, settings)


@pytest.mark.db  # starts an embedded server of its own
def test_stop_stops_the_embedded_server_after_dotenv_names_an_external_one(tmp_path):
    """`db stop` stops the project's own embedded server even once .env names an external
    database."""
    import subprocess
    import sys

    root = tmp_path / "p"
    root.mkdir()

    def nself(*argv):
        return subprocess.run([sys.executable, "-m", "nself", *argv], cwd=root, text=True,
                              capture_output=True, stdin=subprocess.DEVNULL)
    assert nself("init").returncode == 0
    assert nself("db", "start").returncode == 0
    (root / ".env").write_text("DATABASE_URL=postgresql://x@127.0.0.1:1/none\n")
    stopped = nself("db", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped

"""Environments, settings order, paths and the database target."""

import pytest
from conftest import REPO

from nself.config import Environment, canonical_env_name, mask_url
from nself.errors import ConfigError, NoProject


def make(tmp_path, files=None, environ=None):
    for rel, text in (files or {}).items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return Environment.load(tmp_path, environ or {})


@pytest.mark.parametrize("alias,name", [
    ("local", "local"), ("dev", "local"), ("development", "local"), ("LOCAL", "local"),
    ("staging", "staging"), ("production", "production"), ("prod", "production"),
])
def test_environment_aliases(alias, name):
    """Every documented alias maps to its environment."""
    assert canonical_env_name(alias) == name


def test_unknown_environment_is_an_error(tmp_path):
    """An unknown environment name is a usage error naming the valid ones."""
    with pytest.raises(ConfigError, match="Unknown environment 'qa'.*production"):
        make(tmp_path, environ={"ENV": "qa"})


def test_env_and_nself_env(tmp_path):
    """ENV wins over NSELF_ENV; either selects the environment; local is the default."""
    assert make(tmp_path).name == "local"
    assert make(tmp_path, environ={"NSELF_ENV": "prod"}).name == "production"
    assert make(tmp_path, environ={"ENV": "staging", "NSELF_ENV": "prod"}).name == "staging"


def test_settings_order_later_wins(tmp_path):
    """config/<env>.env, then .env, then the process environment; later wins."""
    files = {
        "config/staging.env": "A=config\nB=config\nC=config\n",
        "config/local.env": "A=wrong-env-file\n",
        ".env": "B=dotenv\nC=dotenv\n",
    }
    env = make(tmp_path, files, {"ENV": "staging", "C": "process"})
    assert (env.get("A"), env.get("B"), env.get("C")) == ("config", "dotenv", "process")


def test_dotenv_may_choose_the_environment(tmp_path):
    """ENV set in .env selects the environment when the process does not."""
    env = make(tmp_path, {".env": "ENV=staging\n", "config/staging.env": "X=1\n"})
    assert env.name == "staging" and env.get("X") == "1"


def test_default_paths_and_nself_layout(tmp_path):
    """Paths default to the project root; the guides' nself/ layout is found too."""
    env = make(tmp_path, {"migrations/.keep": ""})
    assert env.migrations_dir == tmp_path / "migrations"
    assert env.backups_dir == tmp_path / "backups" / "local"
    nested = tmp_path / "other"
    env = make(nested, {"nself/migrations/.keep": ""})
    assert env.migrations_dir == nested / "nself" / "migrations"
    assert env.seeds_dir == nested / "nself" / "seeds"
    assert env.schema_file == nested / "nself" / "schema.dbml"


def test_paths_can_be_moved_by_settings(tmp_path):
    """NSELF_*_DIR settings move the project folders, relative to the root."""
    env = make(tmp_path, environ={"NSELF_MIGRATIONS_DIR": "db/migrations",
                                  "NSELF_BACKUPS_DIR": "/var/tmp/b"})
    assert env.migrations_dir == tmp_path / "db" / "migrations"
    assert str(env.backups_dir) == "/var/tmp/b"


def test_require_project_names_init(tmp_path):
    """A folder without migrations/ is not a project, and the error names `nself init`."""
    with pytest.raises(NoProject, match="nself init"):
        make(tmp_path).require_project()


def test_local_without_database_uses_embedded(tmp_path):
    """Local with nothing configured falls back to the embedded server, named after the project."""
    db = make(tmp_path / "My-App").database
    assert db.embedded and db.name == "my_app"


@pytest.mark.parametrize("name", ["staging", "production"])
def test_remote_environments_never_fall_back(tmp_path, name):
    """Staging and production without a database are an error, never the embedded server."""
    with pytest.raises(ConfigError, match=f"config/{name}.env names no database"):
        _ = make(tmp_path, environ={"ENV": name}).database


def test_database_url_and_libpq_variables(tmp_path):
    """DATABASE_URL is parsed; PG* variables work when it is absent."""
    db = make(tmp_path, environ={"DATABASE_URL": "postgresql://u:pw@h:6543/d"}).database
    assert (db.params["host"], db.params["port"], db.name, db.password) == ("h", "6543", "d", "pw")
    assert not db.embedded
    db = make(tmp_path, environ={"PGHOST": "h2", "PGDATABASE": "d2", "PGPASSWORD": "x"}).database
    assert db.libpq_env()["PGHOST"] == "h2" and db.name == "d2"


def test_bad_database_url_is_a_clean_error_without_password(tmp_path):
    """A malformed DATABASE_URL is a usage error that does not echo the password."""
    with pytest.raises(ConfigError) as info:
        _ = make(tmp_path, environ={"DATABASE_URL": "postgresql://u:s3cret@h:notaport/d?bogus=1"}
                 ).database
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize("url", [
    "postgresql://bob:s3cret@host:5432/db",
    "postgres://bob:s3cret@host/db?sslmode=require",
    "postgresql://host/db?user=bob&password=s3cret",
])
def test_passwords_are_masked(url, tmp_path):
    """Neither mask_url nor Database.display ever shows a password."""
    assert "s3cret" not in mask_url(url)
    db = make(tmp_path, environ={"DATABASE_URL": url}).database
    assert "s3cret" not in db.display()
    assert "***" in db.display()
    assert db.redact("password s3cret here") == "password *** here"


def test_bad_numeric_setting(tmp_path):
    """A setting that should be a number and is not is a clear error, at load."""
    with pytest.raises(ConfigError, match="BACKUP_RETENTION_DAYS='thirty'.*from 1 to 36500"):
        make(tmp_path, environ={"BACKUP_RETENTION_DAYS": "thirty"})


@pytest.mark.parametrize("url,secret", [
    ("postgresql://u:s3cret@[::1", "s3cret"),
    ("postgresql://u:s3%2Fcret@h/db", "s3/cret"),
    ("postgresql://u:s3%zzcret@h/db", "s3%zzcret"),
    ("postgresql://u:s3@cret@h/db", "s3@cret"),
    ("postgresql://u:s3/cret@h/db", "s3/cret"),
    ("host=h password=s3cret port=1", "s3cret"),
    ("host=h password='s3 cret'", "s3 cret"),
    ("postgresql://h/db?sslmode=require&password=s3cret", "s3cret"),
])
def test_url_secrets_and_mask_survive_malformed_urls(url, secret):
    """The password of any URL is found and masked, however malformed the rest is."""
    from nself.config import url_secrets

    assert secret in url_secrets(url)
    assert secret not in mask_url(url) and "***" in mask_url(url)


def test_mask_url_masks_only_the_password():
    """A short password is masked where it is, not wherever its letters occur."""
    assert mask_url("postgresql://u:p@h/db") == "postgresql://u:***@h/db"


@pytest.mark.parametrize("url,reason", [
    ("postgresql://u:p@h:0/db", "port is not a number"),
    ("postgresql://u:p@h,h2:54x32/db", "port is not a number"),
    ("postgresql://u:p@h:/db", None),
    ("postgresql://u:p@h1:5432,h2:5433/db", None),
    ("postgres://u:p@h/db", None),
    ("mysql://u:p@h/db", "postgresql://"),
    ("postgresql://u:p\x00x@h/db", "control character"),
])
def test_parse_database_url(url, reason):
    """DATABASE_URL is checked up front: scheme, control characters, ports."""
    from nself.config import parse_database_url

    if reason is None:
        assert parse_database_url(url)["dbname"] == "db"
        return
    with pytest.raises(ConfigError, match=reason):
        parse_database_url(url)


def test_environment_secrets(tmp_path):
    """Every configured password is known, from DATABASE_URL, PGPASSWORD and *PASSWORD*."""
    env = make(tmp_path, {".env": "PGPASSWORD=from-dotenv\n"},
               {"DATABASE_URL": "postgresql://u:a%2Fb@h/db", "APP_DB_PASSWORD": "other"})
    assert {"from-dotenv", "a/b", "a%2Fb", "other"} <= env.secrets()


def test_settings_file_that_is_a_folder(tmp_path):
    """A folder named .env is an error naming it, not silently no settings."""
    (tmp_path / ".env").mkdir()
    with pytest.raises(ConfigError, match=r"\.env is not a regular file"):
        Environment.load(tmp_path, {})


def test_settings_file_line_errors_do_not_echo_the_line(tmp_path):
    """A line that is not NAME=value is named by number; its text (maybe a password) is not."""
    (tmp_path / ".env").write_text("A=1\nDATABASE_URL=\"postgresql://u:s3cret@h\n")
    with pytest.raises(ConfigError) as info:
        Environment.load(tmp_path, {})
    assert "line 2" in str(info.value) and "s3cret" not in str(info.value)


@pytest.mark.parametrize("text", ["A=1\nS3CRETPW\n", "A=1\nDATABASE_URL postgresql://p/db\n"])
def test_settings_file_bare_words_are_refused(tmp_path, text):
    """A bare word (a pasted password) or a missing `=` is line 2, refused, never echoed."""
    (tmp_path / ".env").write_text(text)
    with pytest.raises(ConfigError) as info:
        Environment.load(tmp_path, {})
    assert "line 2" in str(info.value)
    assert "S3CRET" not in str(info.value) and "postgresql" not in str(info.value)


def test_settings_file_interpolates_like_dotenv(tmp_path):
    """${VAR} in a settings file still expands (the file is parsed by python-dotenv)."""
    env = make(tmp_path, {".env": "A=x\nB=${A}y\n"})
    assert env.get("B") == "xy"


def test_project_root_from_a_subfolder(tmp_path):
    """A folder below a project (with config/local.env) finds that project."""
    from nself.config import find_project_root

    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "local.env").write_text("")
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert find_project_root(tmp_path / "a" / "b") == tmp_path


# Project root: a folder nself marked ------------------------------------------------


def test_alembic_subfolder_belongs_to_the_project_above(tmp_path, monkeypatch, capsys):
    """`backend/migrations/` of an alembic project is no second project: from `backend/`,
    status and `migrate create` use the marked folder above (no second embedded database,
    nothing written into alembic's folder)."""
    from nself.cli import program

    (tmp_path / "nself.toml").write_text("")
    (tmp_path / "migrations").mkdir()
    alembic = tmp_path / "backend" / "migrations"
    (alembic / "versions").mkdir(parents=True)
    (alembic / "env.py").write_text("# alembic\n")
    monkeypatch.chdir(tmp_path / "backend")
    env = Environment.load(environ={})
    assert env.root == tmp_path and env.project_name == tmp_path.name.lower().replace("-", "_")
    assert program.run(["nself", "db", "migrate", "create", "add_users"], exit=False) == 0
    assert [p.name for p in (tmp_path / "migrations").iterdir()] == ["001_add_users.sql"]
    assert sorted(p.name for p in alembic.iterdir()) == ["env.py", "versions"]
    assert not (tmp_path / "backend" / ".nself").exists()


def test_a_bare_migrations_folder_marks_no_root(tmp_path):
    """Only what nself wrote marks a root: nself.toml, [tool.nself], config/<env>.env, the
    guides' nself/ layout; never merely a migrations/ (or schema.dbml, or .nself/)."""
    from nself.config import find_project_root

    inner = tmp_path / "svc"
    for rel in ("migrations", ".nself"):
        (inner / rel).mkdir(parents=True)
    (inner / "schema.dbml").write_text("")
    assert find_project_root(inner) == inner  # nothing marked anywhere: the folder itself
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.nself]\n')
    assert find_project_root(inner) == tmp_path
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.ruff]\n')
    assert find_project_root(inner) == inner
    (inner / "nself.toml").write_text("")
    assert find_project_root(inner / "migrations") == inner


def test_foreign_migrations_folder_is_no_project(tmp_path):
    """Where nothing is marked, a migrations folder with alembic's env.py is named as another
    tool's, not used (exit 2, naming `nself init`)."""
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "env.py").write_text("")
    with pytest.raises(NoProject, match="env.py.*another tool.*nself init"):
        make(tmp_path).require_project()


def test_this_repository_is_a_project():
    """This repository is found as a project from any folder in it (its nself.toml)."""

    from nself.config import find_project_root

    repo = REPO
    assert find_project_root(repo / "nself" / "migrations") == repo
    assert find_project_root(repo / "tests" / "data") == repo


def test_init_marks_the_root_and_ignores_nested_state(tmp_path):
    """`nself init` writes nself.toml, and its .gitignore lines hide .env, .nself/ and
    backups/<env>/ at any depth, but not a source package called backups."""
    import shutil
    import subprocess

    from nself.scaffold import scaffold

    if shutil.which("git") is None:
        pytest.fail("git is needed to check the .gitignore lines")
    scaffold(tmp_path, "app")
    assert (tmp_path / "nself.toml").is_file()
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    paths = ["backend/.nself/postgres/x", "backend/backups/local/a.dump", ".env",
             "backend/.env", "backups/production/b.dump", "app/backups/__init__.py"]
    for rel in paths:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    ignored = subprocess.run(["git", "check-ignore", *paths], cwd=tmp_path,
                             capture_output=True, text=True).stdout.split()
    assert ignored == paths[:-1]


# Settings that cannot work: checked once, at load --------------------------------------


@pytest.mark.parametrize("key,value,allowed", [
    ("NSELF_LOCK_TIMEOUT_MS", "2147483648", "0 to 2147483647"),
    ("NSELF_LOCK_TIMEOUT_MS", "-1", "0 to 2147483647"),
    ("NSELF_LOCK_RETRY_BACKOFF_MS", "99999999999999", "0 to 60000"),
    ("NSELF_LOCK_RETRIES", "1000", "0 to 100"),
    ("BACKUP_RETENTION_DAYS", "0", "1 to 36500"),
    ("PGCONNECT_TIMEOUT", "abc", "0 to 2147483647"),
    ("BACKUP_ENABLED", "maybe", "true"),
    ("NSELF_MIGRATE_SYNC_COMMIT", "2", "false"),
])
def test_settings_out_of_range_are_one_line_at_load(tmp_path, key, value, allowed):
    """A setting that cannot work is a ConfigError (exit 2) at load, naming the setting,
    where it came from and the allowed range."""
    (tmp_path / ".env").write_text(f"{key}={value}\n")
    with pytest.raises(ConfigError) as info:
        Environment.load(tmp_path, {})
    message = str(info.value)
    assert key in message and "(in .env)" in message and allowed in message
    assert info.value.exit_code == 2 and "\n" not in message


def test_settings_at_the_edges_of_their_range_load(tmp_path):
    """The largest values PostgreSQL and nself accept are accepted."""
    env = make(tmp_path, environ={"NSELF_LOCK_TIMEOUT_MS": "2147483647",
                                  "NSELF_LOCK_RETRY_BACKOFF_MS": "60000",
                                  "NSELF_LOCK_RETRIES": "0", "BACKUP_RETENTION_DAYS": "36500"})
    assert env.get_int("NSELF_LOCK_TIMEOUT_MS", 0) == 2147483647


@pytest.mark.parametrize("url", ["postgresql://u@h/db?connect_timeout=abc",
                                 "host=h dbname=db connect_timeout=-5",
                                 "postgresql://u@h/db?keepalives_idle=x"])
def test_integer_keywords_in_the_url_are_checked(tmp_path, url):
    """connect_timeout=abc (which passed `db status` and failed `backup`) and libpq's other
    integer keywords are refused when the URL is read."""
    with pytest.raises(ConfigError, match="is not a whole number"):
        _ = make(tmp_path, environ={"DATABASE_URL": url}).database


# Internal errors that are settings mistakes -----------------------------------------------


def _run_status(tmp_path, monkeypatch, capsys, **environ):
    from nself.cli import program

    (tmp_path / "migrations").mkdir(exist_ok=True)
    monkeypatch.chdir(tmp_path)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    code = program.run(["nself", "db", "status"], exit=False)
    return code, capsys.readouterr().err


def test_symlink_loop_in_a_path_setting(tmp_path, monkeypatch, capsys):
    """A symlink loop in NSELF_MIGRATIONS_DIR is one line naming it, exit 2 (was a
    RuntimeError)."""
    (tmp_path / "loop").symlink_to("loop")
    code, err = _run_status(tmp_path, monkeypatch, capsys, NSELF_MIGRATIONS_DIR="loop/x")
    assert code == 2 and err.count("\n") == 1
    assert "NSELF_MIGRATIONS_DIR" in err and "symlink loop" in err


def test_very_deep_state_dir(tmp_path, monkeypatch, capsys):
    """A 2,000-level NSELF_STATE_DIR is one line naming it, exit 2 (was a RecursionError)."""
    code, err = _run_status(tmp_path, monkeypatch, capsys,
                            NSELF_STATE_DIR="/".join(["a"] * 2000))
    assert code == 2 and err.count("\n") == 1
    assert "NSELF_STATE_DIR" in err and "folders deep" in err


@pytest.mark.parametrize("key,value", [
    ("DATABASE_URL", f"postgresql://u:s3cretpw@{'a' * 64}.example.com/db"),
    ("PGHOST", f"{'a' * 64}.example.com"),
])
def test_host_label_too_long(tmp_path, monkeypatch, capsys, key, value):
    """A host label over 63 characters is one line naming the setting, exit 2 (was a
    UnicodeError), and the password stays hidden."""
    code, err = _run_status(tmp_path, monkeypatch, capsys, **{key: value})
    assert code == 2 and err.count("\n") == 1
    assert key in err and "63 characters" in err and "s3cretpw" not in err

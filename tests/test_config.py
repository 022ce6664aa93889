"""Environments, settings order, paths and the database target."""

import pytest

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
    with pytest.raises(ConfigError, match=f"No database configured for {name}"):
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
    with pytest.raises(ConfigError, match=r"\.env: it is not a regular file"):
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

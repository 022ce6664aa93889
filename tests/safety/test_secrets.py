"""Passwords never reach output, whatever characters they hold (property-based)."""

from urllib.parse import quote

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from nself.config import Environment, mask_url

passwords = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=4,
                    max_size=24).filter(
    # a password that is a piece of the URL's other parts cannot be told apart from them
    lambda p: p.strip() == p and p not in "postgresql://bob:***@db.example.com:5432/app?host=")


@given(password=passwords)
def test_mask_url_hides_any_password(password):
    """mask_url never shows the password, encoded or not."""
    url = f"postgresql://bob:{quote(password, safe='')}@db.example.com:5432/app"
    masked = mask_url(url)
    assert quote(password, safe="") not in masked
    assert ":***@" in masked


@given(password=passwords)
def test_display_and_redact_hide_any_password(tmp_path, password):
    """Database.display never shows the password; redact removes it from any text."""
    url = f"postgresql://bob:{quote(password, safe='')}@db.example.com:5432/app"
    db = Environment.load(tmp_path, {"DATABASE_URL": url}).database
    assert db.password == password
    shown = db.display()
    assert password not in shown and quote(password, safe="") not in shown
    assert password not in db.redact(f"error near {password} and {quote(password, safe='')}")


@given(password=passwords.filter(lambda p: len(p) >= 4),
       scheme=st.sampled_from(["postgresql://", "postgres://", "mysql://", "postgresql:/", ""]),
       encode=st.booleans(),
       rest=st.text(max_size=30))
def test_malformed_url_errors_never_show_the_password(password, scheme, encode, rest):
    """However DATABASE_URL is broken, mask_url and the parse error never show its password."""
    from nself.config import parse_database_url
    from nself.errors import ConfigError

    shown = quote(password, safe="") if encode else password
    assume(shown not in rest and password not in rest)
    url = f"{scheme}u:{shown}@{rest}"
    assert shown not in mask_url(url)
    try:
        parse_database_url(url)
    except ConfigError as exc:
        assert password not in str(exc) and shown not in str(exc)


def test_a_url_without_password_has_no_secret():
    """Nothing of a password-less URL is masked (the scheme's own colon is not a password
    separator: 'postgresql:***@host' was a bug)."""
    from nself.config import url_secrets

    assert url_secrets("postgresql://postgres@127.0.0.1:5432/x") == set()
    assert mask_url("postgresql://postgres@127.0.0.1:5432/x") == \
        "postgresql://postgres@127.0.0.1:5432/x"
    assert url_secrets("user:pw@host") == {"pw"}


def test_secret_keys_and_tokens_are_secrets(tmp_path):
    env = Environment.load(tmp_path, {"AWS_SECRET_ACCESS_KEY": "s3cr3t-key",
                                      "AWS_SESSION_TOKEN": "tok-123", "AWS_REGION": "eu"})
    assert {"s3cr3t-key", "tok-123"} <= env.secrets()
    assert "eu" not in env.secrets()


MISTYPED = [
    # the `@` forgotten: user:PASSWORD then reads as host:port
    ("postgresql://postgres:S3cretPass127.0.0.1:5432/db", "S3cretPass"),
    ("postgresql://postgres:S3cret/Pass127.0.0.1:5432/db", "S3cret/Pass"),
    # a user holding an unencoded @ (libpq then quotes the password up to the host)
    ("postgresql://@:S3cretPass@h%zz/db@", "S3cretPass"),
    # a misspelled key in a conninfo string and in a URL's query
    ("host=h dbname=db pasword=S3cretPass", "S3cretPass"),
    ("host=h passwd='S3cret Pass' dbname=db", "S3cret Pass"),
    ("postgresql://u@h/db?sslmode=require&pasword=S3cretPass", "S3cretPass"),
]


@pytest.mark.parametrize("url,password", MISTYPED)
def test_mistyped_urls_never_echo_the_password(url, password):
    """A DATABASE_URL that fails to parse because of a typo never shows what looks like its
    password: not in mask_url, not in the parse error; url_secrets knows it."""
    from nself.config import parse_database_url, url_secrets
    from nself.errors import ConfigError

    assert password not in mask_url(url) and "***" in mask_url(url)
    with pytest.raises(ConfigError) as info:
        parse_database_url(url)
    assert password not in str(info.value)
    assert any(password in secret for secret in url_secrets(url))


@pytest.mark.parametrize("url,password", MISTYPED)
def test_mistyped_urls_never_reach_the_terminal(tmp_path, monkeypatch, capsys, url, password):
    """`nself db status` on a mistyped DATABASE_URL is one line, exit 2, without the
    password."""
    from nself.cli import program

    (tmp_path / "migrations").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    assert program.run(["nself", "db", "status"], exit=False) == 2
    captured = capsys.readouterr()
    assert password not in captured.err + captured.out and captured.err.count("\n") == 1


def test_libpq_keywords_that_are_not_secret_stay_visible():
    """Only keys that may hold a secret are masked: host, dbname, sslmode... stay readable."""
    assert mask_url("host=h dbname=db sslmode=require") == "host=h dbname=db sslmode=require"
    assert mask_url("postgresql://h1:5432,h2:5433/db") == "postgresql://h1:5432,h2:5433/db"
    assert mask_url("postgresql://[::1]:5432/db") == "postgresql://[::1]:5432/db"


def test_misspelled_password_settings_are_secrets(tmp_path):
    """A setting whose name looks like a password, misspelled too (PGPASWORD, DB_PASSWD),
    is hidden from error lines."""
    env = Environment.load(tmp_path, {"PGPASWORD": "hunter22", "DB_PASSWD": "swordfish",
                                      "PGUSER": "alice"})
    assert {"hunter22", "swordfish"} <= env.secrets()
    assert "alice" not in env.secrets()


def test_url_option_password_is_a_secret(tmp_path):
    """The password of `--url` (NSELF_DATABASE_URL) is hidden like DATABASE_URL's."""
    env = Environment.load(tmp_path, {"NSELF_DATABASE_URL": "postgresql://u:hunter22@h/db"})
    assert "hunter22" in env.secrets() and env.database.password == "hunter22"


@given(key=st.from_regex(r"[a-z_]{2,12}", fullmatch=True),
       password=passwords.filter(lambda p: not any(c in p for c in " '&\\=")),
       query=st.booleans())
def test_any_misspelled_key_hides_its_value(key, password, query):
    """Whatever a key is called, unless it is one of libpq's harmless keywords, its value is
    masked, in a conninfo string and in a URL's query, and never in the parse error."""
    from nself.config import SHOWN_KEYWORDS, parse_database_url
    from nself.errors import ConfigError

    assume(key not in SHOWN_KEYWORDS and password not in f"host=h dbname=db {key}=")
    assume(password not in "postgresql://u@h/db?sslmode=require&=")
    url = (f"postgresql://u@h/db?sslmode=require&{key}={quote(password, safe='')}" if query
           else f"host=h dbname=db {key}={password}")
    shown = quote(password, safe="") if query else password
    assert shown not in mask_url(url)
    try:
        parse_database_url(url)
    except ConfigError as exc:
        assert password not in str(exc) and shown not in str(exc)


def test_shell_folders_and_the_password_file_path_are_not_secrets(tmp_path):
    """PWD, OLDPWD and PGPASSFILE name folders and files, so error lines keep showing them."""
    env = Environment.load(root=tmp_path, environ={
        "PWD": "/home/dev/app", "OLDPWD": "/home/dev", "PGPASSFILE": "/home/dev/.pgpass",
        "PGPASSWORD": "hunter2"})
    assert env.secrets() == {"hunter2"}

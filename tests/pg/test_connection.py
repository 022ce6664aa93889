"""The one translation of driver errors into ours (no database needed)."""

import psycopg
import pytest

from nself import errors
from nself.config import Database
from nself.pg.connection import translate_error


@pytest.mark.parametrize("message,kind", [
    ('connection is bad: invalid sslmode value: "bogus"', errors.ConfigError),
    ('connection is bad: invalid integer value "x" for connection option "port"',
     errors.ConfigError),
    ("server closed the connection unexpectedly", errors.DatabaseUnreachable),
    ("consuming input failed: EOF detected", errors.DatabaseUnreachable),
])
def test_operational_errors(message, kind):
    """libpq rejecting a setting is a usage error (2); a lost connection is unreachable (4)."""
    translated = translate_error(psycopg.OperationalError(message))
    assert type(translated) is kind


def test_password_is_redacted():
    """A password in a driver message is blanked when the database is known."""
    db = Database({"host": "h", "user": "u", "password": "s3cret", "dbname": "d"})
    translated = translate_error(psycopg.OperationalError("lost: s3cret"), db)
    assert "s3cret" not in str(translated) and "postgresql://u:***@h/d" in str(translated)


def test_server_error_is_operation_failed():
    """Any other driver error is an operation failure (exit 1)."""
    translated = translate_error(psycopg.errors.UndefinedTable("relation x does not exist"))
    assert type(translated) is errors.OperationFailed

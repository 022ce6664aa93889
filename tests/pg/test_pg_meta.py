"""nself.pg.meta: the environment a database belongs to."""

from nself.pg import meta


def test_nothing_recorded_without_nself_schema(db):
    """A database nself never touched has no recorded environment, and reading creates nothing."""
    with db.connect() as conn:
        assert meta.recorded_environment(conn) is None
    assert db.scalar("SELECT to_regnamespace('nself')") is None


def test_first_record_and_stricter_raises(db):
    """The first environment is recorded; a stricter one raises it; a laxer one never lowers it."""
    with db.connect() as conn:
        meta.record_environment(conn, "local")
        assert meta.recorded_environment(conn) == "local"
        meta.record_environment(conn, "production")
        assert meta.recorded_environment(conn) == "production"
        meta.record_environment(conn, "staging")
        meta.record_environment(conn, "local")
        assert meta.recorded_environment(conn) == "production"


def test_set_environment_overrides(db):
    """After a restore made the database anew, set_environment records the new owner."""
    with db.connect() as conn:
        meta.record_environment(conn, "production")
        meta.set_environment(conn, "local")
        assert meta.recorded_environment(conn) == "local"

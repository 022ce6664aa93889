"""nself: a team's whole PostgreSQL workflow as invoke tasks."""

__version__ = "0.1.0"

"""Talking to PostgreSQL: connections, the external tools, the embedded server, the catalog
queries, and the one way to empty a database."""

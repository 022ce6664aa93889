"""PostgreSQL schema model and its producers/consumers: introspection of a live database,
DBML, SQL and DBML rendering, and the differ (see nself.schema.model)."""

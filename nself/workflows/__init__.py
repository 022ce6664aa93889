"""Workflows: the guides' team commands as compositions of library calls (never nself calling
itself): `update` (back up, apply pending migrations in one transaction, verify) and `reset`
(back up, wipe, apply every migration, seed)."""

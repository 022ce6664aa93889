"""Migrations: files (parse, order, checksum), history (tracking table), status, plan (what
would run, checked without a connection), engine (sending it), runner (up/down/fresh under
the migrate lock), repair."""

from __future__ import annotations

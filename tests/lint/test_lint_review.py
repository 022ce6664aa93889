"""Lint (issue 19): the rule dispatch by statement kind, new objects of the same run,
row estimates of never-analyzed tables, generated and created migrations, and the
partition and transaction rules squawk has."""

from __future__ import annotations

import pytest
import test_lint_data
import test_lint_locks

import nself.lint
from nself import sql
from nself.lint import REGISTRY, Context, lint_statements


def _findings(text: str, transactional: bool = True):
    ctx = Context.for_text("001_m.sql", text, transactional)
    return [(f.rule, f.line, f.message) for f in
            lint_statements(sql.split(text, parse=True), ctx)]


def _case_texts() -> list[str]:
    texts = []
    for unsafe, safe in {**test_lint_locks.CASES, **test_lint_data.CASES}.values():
        texts += [unsafe, safe, f"DO $$ BEGIN {unsafe.rstrip(';')}; END $$"]
    return texts


def test_rules_skipped_by_statement_kind_would_have_found_nothing(monkeypatch):
    """Running only the rules declared for a statement's kind finds exactly what running
    every rule on every statement finds, on every rule's cases (DO blocks too)."""
    texts = _case_texts()
    dispatched = [_findings(t) for t in texts]
    monkeypatch.setattr(nself.lint, "for_kind", lambda rules, kind: rules)
    assert [_findings(t) for t in texts] == dispatched
    assert any(dispatched)
    assert {r.id for r in REGISTRY.values() if r.kinds} >= {"PG101", "DS112", "ST101"}


@pytest.mark.parametrize("text", ["CREATE INDEX i ON users (email)",
                                  "ALTER TABLE users DROP COLUMN email CASCADE"])
def test_a_rule_runs_on_every_kind_it_declares(text):
    """The kinds a rule declares include each statement it reports (DS112 on ALTER TABLE
    ... DROP COLUMN ... CASCADE, PG101 on CREATE INDEX)."""
    found = {rule for rule, _, _ in _findings(text)}
    assert found & {"PG101", "DS112"}

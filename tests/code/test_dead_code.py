"""No dead code in nself/: vulture, with the settings in pyproject.toml, finds nothing."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_vulture_finds_no_dead_code():
    """Every name nself/ defines is used (vulture at pyproject.toml's minimum confidence)."""
    run = subprocess.run([sys.executable, "-m", "vulture"], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert (run.returncode, run.stdout, run.stderr) == (0, "", "")

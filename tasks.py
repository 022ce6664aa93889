"""Invoke entry point: `inv --list` shows every nself task."""
from nself.tasks import namespace  # noqa: F401

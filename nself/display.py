"""What nself shows, in words, without writing it anywhere: byte sizes in the guides' style,
and the secrets no shown text may carry.

The library builds the lines a command says (`Downloading ... (2.3 MB)`) and hands them to
its caller's callbacks (`say`, `warn`, `progress`); the task layer prints them through
`nself.output`. Both need these pieces, so they live here, apart from the writers: this
module does no I/O and imports nothing of nself, so any module may import it (the library
never imports `nself.output`). The secrets are a registry, not a format: the configured
passwords and keys, registered once (`hide`) and blanked from every error line (`redact`).
"""

from __future__ import annotations

# Shorter secrets are not searched for in free text: they would blank ordinary words.
# URLs are masked by `config.mask_url`/`Database.display` whatever the password's length.
MIN_SECRET_LENGTH = 4

_secrets: set[str] = set()


def hide(secret: str | None) -> None:
    """Never show `secret` in an error line."""
    if secret and len(secret) >= MIN_SECRET_LENGTH:
        _secrets.add(secret)


def redact(text: str) -> str:
    """`text` with every hidden secret replaced by `***` (longest first)."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def forget_secrets() -> None:
    """Forget every hidden secret (a new command in the same process, tests)."""
    _secrets.clear()


def size(num_bytes: int | float | None) -> str:
    """Bytes in the guides' style: `2.3 MB`."""
    if num_bytes is None:
        return "-"
    value = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"

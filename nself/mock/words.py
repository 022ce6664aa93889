"""Word lists for mock values: a snapshot of Faker's en_US data in nself/mock/data/ (written by
tools/mock_words.py, with Faker's license beside it), so that `--seed` gives the same rows
whatever Faker version is installed, and `db mock` never imports Faker."""

from pathlib import Path

_DATA = Path(__file__).resolve().parent / "data"


def _load(name: str) -> tuple[str, ...]:
    """The values of data/NAME.txt: one a line, its `#` comment lines left out."""
    text = (_DATA / f"{name}.txt").read_text(encoding="utf-8")
    return tuple(line for line in text.splitlines() if line and not line.startswith("#"))


FIRST_NAMES = _load("first_names")
LAST_NAMES = _load("last_names")
WORDS = _load("words")
# Three common providers' and the reserved example domains (RFC 2606): not Faker's data.
EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "hotmail.com", "example.com", "example.org",
                 "example.net")
CITIES = _load("cities")
COUNTRIES = _load("countries")
STREETS = _load("streets")
COMPANIES = _load("companies")
STATES = _load("states")
JOBS = _load("jobs")
COUNTRY_CODES = _load("country_codes")

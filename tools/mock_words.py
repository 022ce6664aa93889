#!/usr/bin/env python3
"""Write the word lists of `db mock` (nself/mock/data/*.txt) from Faker's en_US data.

The lists are a snapshot, not drawn from Faker at run time: `--seed N` must give the same
rows whatever Faker version a teammate has installed (Faker's lists change between its
releases), and importing Faker and generating the pools costs 0.2-0.3 s per run against
about 1 ms to read these files (measured when the snapshot was made; README, Mock data).
Running this again with another Faker version changes the rows every seed gives: do it
on purpose, and update tests/seed/test_mock.py's pinned rows and pool digest with it.

    pip install 'faker==40.63.0'      # the version the committed snapshot comes from
    python tools/mock_words.py        # rewrite the files
    python tools/mock_words.py --check  # exit 1 when the files differ from this Faker's
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata
from pathlib import Path

from faker import Faker
from faker.providers.address import Provider as Address
from faker.providers.address.en_US import Provider as AddressUS
from faker.providers.lorem.en_US import Provider as Lorem
from faker.providers.person.en_US import Provider as Person

FAKER_VERSION = metadata.version("faker")
DATA = Path(__file__).resolve().parent.parent / "nself" / "mock" / "data"
# Faker's made-up places, companies and jobs come from a seeded generator: this seed made
# the committed snapshot.
SEED = 20260101


def _distinct(make, n: int) -> list[str]:
    """The first `n` distinct values `make()` returns, in the order it returns them."""
    seen: dict[str, None] = {}
    while len(seen) < n:
        seen[make()] = None
    return list(seen)


def pools() -> dict[str, list[str]]:
    """Every list, by file name (without .txt), in the order the files hold it."""
    fake = Faker("en_US")
    fake.seed_instance(SEED)
    made = {  # one generator, in this order: each list continues the same stream
        "cities": _distinct(fake.city, 300),
        "streets": _distinct(fake.street_name, 300),
        "companies": _distinct(fake.company, 300),
        "jobs": _distinct(fake.job, 200),
    }
    return {
        "first_names": sorted(set(Person.first_names))[:400],
        "last_names": sorted(set(Person.last_names))[:500],
        "words": list(dict.fromkeys(Lorem.word_list)),
        **made,
        "countries": list(dict.fromkeys(AddressUS.countries)),
        "states": list(AddressUS.states),
        "country_codes": sorted(set(Address.alpha_2_country_codes)),
    }


def text(name: str, values: list[str]) -> str:
    """One file: the attribution, then one value a line."""
    assert all(v and "\n" not in v and not v.startswith("#") for v in values), name
    head = (f"# {name}: from Faker {FAKER_VERSION} (en_US), https://github.com/joke2k/faker,\n"
            "# Copyright (c) 2012 Daniele Faraglia, MIT License (see LICENSE.faker here).\n"
            "# Written by tools/mock_words.py; one value a line.\n")
    return head + "".join(f"{v}\n" for v in values)


def values_of(text: str) -> list[str]:
    """A file's values (its comment lines left out), as nself/mock/words.py reads them."""
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def faker_license() -> str:
    """Faker's license text, from the installed distribution."""
    files = metadata.distribution("faker").files or []
    return next(f for f in files if f.name.upper().startswith("LICENSE")).read_text()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare the values instead of writing; exit 1 when a file differs")
    args = parser.parse_args(argv)
    differ = []
    for name, values in pools().items():
        path = DATA / f"{name}.txt"
        wanted = text(name, values)
        if args.check:
            if not path.exists() or values_of(path.read_text(encoding="utf-8")) != values:
                differ.append(path.name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(wanted, encoding="utf-8")
    if not args.check:
        (DATA / "LICENSE.faker").write_text(faker_license(), encoding="utf-8")
    if differ:
        print(f"Differ from Faker {FAKER_VERSION}'s: {', '.join(differ)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

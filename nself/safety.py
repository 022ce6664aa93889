"""The safety policy: which command may run how in which environment.

One table, from the guides' "Environment-Specific Behavior", and one function,
`enforce`, that every destructive task calls before it touches anything.
On a terminal we ask; without one we never prompt: we refuse and name the
flag that confirms (`--yes`, or `--confirm WORD`).

Who is asked, what, and which answer confirms is the policy, so it stays here; the terminal
itself arrives as callbacks: `ask` reads an answer (`input` by default), `say` shows what
the command will touch before the question (the task layer gives `output.line`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from nself.errors import Refused


class Rule(Enum):
    ALLOW = "allowed"
    CONFIRM = "needs confirmation"
    TYPED = "needs a typed word"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class Policy:
    rule: Rule
    word: str | None = None   # the word nself asks for and prints
    also: tuple[str, ...] = ()  # other words that confirm too (the guides name two)

    def accepts(self, typed: str) -> bool:
        return typed in (self.word, *self.also)

    def __str__(self) -> str:
        return f"requires typing {self.word}" if self.rule is Rule.TYPED else self.rule.value


ALLOW = Policy(Rule.ALLOW)
CONFIRM = Policy(Rule.CONFIRM)
BLOCKED = Policy(Rule.BLOCKED)
DESTROY_PRODUCTION = Policy(Rule.TYPED, "yes-destroy-production")
# The workflow guide names `yes-restore-production`, the migrations guide's table
# `yes-destroy-production`, for a production restore: either confirms; we ask for the first.
RESTORE_PRODUCTION = Policy(Rule.TYPED, "yes-restore-production", ("yes-destroy-production",))

# command -> (local, staging, production). The first seven rows are the guides' table;
# the rest are commands the guides mark "dev only" or that rewrite history.
TABLE: dict[str, tuple[Policy, Policy, Policy]] = {
    "migrate up": (ALLOW, CONFIRM, CONFIRM),
    "migrate down": (ALLOW, CONFIRM, DESTROY_PRODUCTION),
    "migrate fresh": (ALLOW, BLOCKED, BLOCKED),
    "mock": (ALLOW, BLOCKED, BLOCKED),
    "seed": (ALLOW, CONFIRM, CONFIRM),
    "restore": (ALLOW, CONFIRM, RESTORE_PRODUCTION),
    "backup": (ALLOW, ALLOW, ALLOW),
    "reset": (ALLOW, CONFIRM, BLOCKED),  # issue 11: confirmation in staging
    "update": (ALLOW, CONFIRM, CONFIRM),
    "migrate repair": (ALLOW, CONFIRM, DESTROY_PRODUCTION),
    "schema import --apply": (ALLOW, BLOCKED, BLOCKED),
    # records the live schema as the first migration: no user object changes (no backup),
    # but what nself believes applied does (confirmed as migrate up is) (issue 18)
    "migrate baseline": (ALLOW, CONFIRM, CONFIRM),
    "migrate import": (ALLOW, CONFIRM, CONFIRM),  # --adopt-applied records rows (issue 18)
}
ENV_COLUMN = {"local": 0, "staging": 1, "production": 2}


def policy_for(command: str, env_name: str) -> Policy:
    """The rule for `command` in environment `env_name`."""
    try:
        row = TABLE[command]
    except KeyError:
        raise KeyError(f"no safety rule for {command!r}") from None
    return row[ENV_COLUMN[env_name]]


def stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # closed stdin
        return False


ENV_MISMATCH_FLAG = "--allow-env-mismatch"
GUARDED_ENVIRONMENTS = ("staging", "production")


def check_recorded_environment(recorded: str | None, env_name: str, command: str,
                               allow_mismatch: bool = False) -> None:
    """Refuse `command` under `env_name` on a database recorded as another, guarded
    environment (staging or production), unless the override flag was given."""
    if recorded is None or recorded == env_name or allow_mismatch:
        return
    if recorded not in GUARDED_ENVIRONMENTS:
        return
    raise Refused(
        f"`{command}` refused: this database is recorded as {recorded}, but the command runs "
        f"as {env_name}. Run it as {recorded} (ENV={recorded}), or pass {ENV_MISMATCH_FLAG} "
        "if you really mean this database. Nothing was changed.")


def ask_yes_no(question: str, *, yes: bool = False, interactive: bool | None = None,
               ask=input, flag: str = "--yes") -> bool:
    """True when the user agrees: `--yes` given, or `y` typed on a terminal. Without a
    terminal it never prompts: it refuses and names `flag`."""
    if yes:
        return True
    interactive = stdin_is_terminal() if interactive is None else interactive
    if not interactive:
        raise Refused(f"{question} There is no terminal to ask: pass {flag} to confirm.")
    return _ask(ask, f"{question} [y/N] ").strip().lower() in ("y", "yes")


def enforce(command: str, env_name: str, *, target: str = "", yes: bool = False,
            confirm: str | None = None, interactive: bool | None = None,
            ask=input, detail: str = "", say: Callable[[str], None] = print) -> None:
    """Return when `command` may run in `env_name`; raise `Refused` otherwise.

    `yes` is the `--yes` flag, `confirm` the `--confirm WORD` flag. `interactive`
    defaults to whether stdin is a terminal; `ask` reads an answer there, after
    `detail` (what the command will touch) was shown through `say`.
    """
    policy = policy_for(command, env_name)
    where = f"{env_name}{f' ({target})' if target else ''}"
    if policy.rule is Rule.ALLOW:
        return
    if detail and policy.rule is not Rule.BLOCKED:
        ask = _with_detail(ask, detail, say)
    if policy.rule is Rule.BLOCKED:
        raise Refused(
            f"`{command}` is blocked in {env_name}: it destroys data. "
            "It runs only in local (ENV=local)."
        )
    if policy.rule is Rule.CONFIRM:
        if confirm is not None and confirm.strip().lower() in ("y", "yes"):
            return
        if ask_yes_no(f"Run `{command}` on {where}?", yes=yes, interactive=interactive,
                      ask=ask):
            return
        raise Refused(f"`{command}` cancelled.")
    interactive = stdin_is_terminal() if interactive is None else interactive
    # typed word
    if confirm is not None:
        if policy.accepts(confirm):
            return
        raise Refused(
            f"`{command}` in {env_name} needs the word {policy.word}; got {confirm!r}."
        )
    if not interactive:
        raise Refused(
            f"`{command}` in {where} requires typing {policy.word} and there is no terminal "
            f"to ask: pass --confirm {policy.word} to confirm."
        )
    answer = _ask(ask, f"`{command}` on {where}. Type {policy.word} to continue: ")
    if policy.accepts(answer.strip()):
        return
    raise Refused(f"`{command}` cancelled: the answer was not {policy.word}.")


def _with_detail(ask, detail: str, say: Callable[[str], None]):
    def asking(prompt: str) -> str:
        say(detail)
        return ask(prompt)

    return asking


def _ask(ask, prompt: str) -> str:
    try:
        return ask(prompt)
    except EOFError:
        return ""
    except KeyboardInterrupt:
        raise Refused("Cancelled.") from None


"""Project-level tasks: init, logs, restart."""

from __future__ import annotations

from nself import output
from nself.errors import UsageError
from nself.scaffold import adopt_advice, scaffold, tasks_advice
from nself.tasks.base import command, environment
from nself.tasks.db import embedded_server
from nself.tasks.library import adopt

SERVICES = ("postgres",)


@command
def init(c):
    """Scaffold an nself project in the current folder (never overwrites a file)."""
    env = environment(search_parents=False)
    created, kept = scaffold(env.root, env.project_name)
    for rel in created:
        output.ok(f"Created {rel}")
    for rel in kept:
        output.line(f"  Kept existing {rel}")
    advice = tasks_advice(env.root)
    if advice:
        output.line("Your tasks.py was kept as it is: for `inv db.migrate.up` and the other "
                    "nself tasks, add these two lines at its end:")
        for text in advice:
            output.line(f"    {text}")
    found = _other_tools(env.root)
    for kind, folder in found:
        output.line(adopt_advice(kind, folder))
    if not found:
        output.line("Existing database? `nself db migrate baseline` writes its schema as the "
                    "first migration.")
    output.line("Next: nself db status")


def _other_tools(root) -> list[tuple[str, str]]:
    """(format, folder relative to ROOT) of other tools' migrations (nself.adopt's detection)."""
    return [(kind, folder.relative_to(root).as_posix() or ".")
            for kind, folder in adopt.detect(root)]


def _service(name: str) -> str:
    if name not in SERVICES:
        raise UsageError(f"Unknown service {name!r}: nself manages {', '.join(SERVICES)}.")
    return name


@command(help={"service": "The service: postgres.", "lines": "How many lines to show."})
def logs(c, service, lines=50):
    """Show the tail of the embedded PostgreSQL's log."""
    _service(service)
    server = embedded_server(environment())
    tail = server.log_tail(lines)
    if not tail:
        output.line(f"No log yet ({server.log_file}).")
    for text in tail:
        output.line(text)


@command(help={"service": "The service: postgres."})
def restart(c, service):
    """Restart the embedded PostgreSQL."""
    _service(service)
    server = embedded_server(environment())
    server.restart()
    output.ok(f"PostgreSQL {server.major} restarted (pid {server.info().pid})")

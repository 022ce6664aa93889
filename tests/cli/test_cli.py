"""The `nself` front end: the guides' spaced words become invoke's task names, every
command and flag has help, an unknown word is named beside the real ones."""

import json
import subprocess
import sys

import pytest
from conftest import REPO

from nself import errors
from nself.cli import translate


@pytest.mark.parametrize("argv,expected", [
    (["nself", "db", "status"], ["nself", "db.status"]),
    (["nself", "db", "status", "--json"], ["nself", "db.status", "--json"]),
    (["nself", "db.status", "-j"], ["nself", "db.status", "-j"]),
    (["nself", "db", "shell", "-c", "SELECT 1"], ["nself", "db.shell", "-c", "SELECT 1"]),
    (["nself", "--help", "db", "shell"], ["nself", "--help", "db.shell"]),
    (["nself", "logs", "postgres"], ["nself", "logs", "postgres"]),
    (["nself"], ["nself", "--list", "--list-format", "spaced"]),
    (["nself", "db"], ["nself", "--list", "db", "--list-format", "spaced"]),
    (["nself", "db", "migrate", "--help"], ["nself", "--list", "db.migrate", "--list-format",
                                            "spaced"]),
    (["nself", "db", "migrate:up", "3"], ["nself", "db.migrate.up", "--steps", "3"]),
    (["nself", "db.migrate.down", "2"], ["nself", "db.migrate.down", "--steps", "2"]),
    (["nself", "db", "run"], ["nself", "db.schema.import"]),
    (["nself", "db", "run", "--dry-run"], ["nself", "db.schema.import", "--dry-run"]),
    (["nself", "-f", "x.yaml", "db", "status"], ["nself", "-f", "x.yaml", "db.status"]),
    (["nself", "db", "status", "db.migrate.status"], ["nself", "db.status",
                                                      "db.migrate.status"]),
])
def test_translate_spaced_words(argv, expected):
    """Guide-style words (spaced, colon forms, dotted with a bare number) become invoke's
    dotted task names; `nself db` lists its commands; several dotted tasks pass through."""
    assert translate(argv) == expected


def test_translate_below_a_default_task():
    """A collection without a default inside one with a default (db backup schedule) is a
    place to list, not the outer default task with stray words."""
    from invoke import Collection

    from nself.tasks.base import command

    @command(name="create", default=True)
    def create(c):
        """Test task."""

    @command
    def install(c, print_=False):
        """Test task."""

    backup = Collection("backup", create, Collection("schedule", install))
    ns = Collection(Collection("db", backup))
    assert translate(["nself", "db", "backup"], ns) == ["nself", "db.backup"]
    assert translate(["nself", "db", "backup", "schedule"], ns) == [
        "nself", "--list", "db.backup.schedule", "--list-format", "spaced"]
    assert translate(["nself", "db", "backup", "schedule", "--help"], ns) == [
        "nself", "--list", "db.backup.schedule", "--list-format", "spaced"]
    assert translate(["nself", "db", "backup:schedule:install"], ns) == [
        "nself", "db.backup.schedule.install"]


@pytest.mark.parametrize("argv,named,listed", [
    (["nself", "db", "nonsense"], "'nonsense' in `nself db`", "migrate, mock"),
    (["nself", "nonsense"], "'nonsense' in nself", "db, init, logs"),
    (["nself", "db", "backup", "nonsense"], "'nonsense' in `nself db backup`",
     "create, list, prune"),
    (["nself", "db", "migrate", "up", "3", "4"], "'4' after `nself db migrate up`", "--steps"),
    (["nself", "db", "--json"], "before --json", "migrate, mock"),
])
def test_unknown_word_names_it_and_the_real_ones(project, argv, named, listed):
    """A word that names no command is exit 2, one line naming it and what exists there."""
    from invoke.exceptions import ParseError

    with pytest.raises(ParseError) as raised:
        translate(argv)
    assert named in str(raised.value) and listed in str(raised.value)
    result = project.run(*argv[1:])
    assert result.code == errors.USAGE and result.err.count("\n") == 1, result
    assert named in result.err and "No idea" not in result.err


def test_nself_db_lists_commands_in_spaced_words(project):
    """`nself`, `nself db` and `nself db --help` list the commands as the guides spell
    them."""
    bare = project.run()
    assert bare.code == 0 and "nself logs SERVICE" in bare.out and "nself --help" in bare.out
    assert "nself db migrate up [STEPS]" in bare.out, bare
    for argv in (("db",), ("db", "--help"), ("db", "--list")):
        result = project.run(*argv)
        assert result.code == 0, result
        for words in ("nself db status", "nself db migrate up", "nself db backup list",
                      "nself db backup ", "nself db restore", "nself db schema export"):
            assert words in result.out, (argv, result.out)
        assert "db.migrate" not in result.out


def test_translate_fills_the_positional_flag():
    """A bare word after a task with a positional flag fills that flag, around other flags."""
    from invoke import Collection

    from nself.tasks.base import command

    @command(positional_flag="steps")
    def up(c, steps=0, to=None, dry_run=False):
        """Test task."""

    ns = Collection(Collection("db", Collection("migrate", up)))
    assert translate(["nself", "db", "migrate", "up", "3"], ns) == [
        "nself", "db.migrate.up", "--steps", "3"]
    assert translate(["nself", "db", "migrate", "up", "--to", "5", "3"], ns) == [
        "nself", "db.migrate.up", "--to", "5", "--steps", "3"]
    assert translate(["nself", "db", "migrate", "up", "--dry-run", "2"], ns) == [
        "nself", "db.migrate.up", "--dry-run", "--steps", "2"]


def test_help_lists_db_tasks(project):
    """`nself --list` lists the db tasks; every flag of db.status has help."""
    result = project.run("--list")
    assert result.code == 0
    for name in ("db.status", "db.shell", "db.start", "db.stop", "init"):
        assert name in result.out
    result = project.run("db", "status", "--help")
    assert result.code == 0 and "--json" in result.out and "Print the status as JSON" in result.out


def test_every_task_flag_has_help():
    """No task has a flag without help text."""
    from nself.tasks import namespace

    def walk(coll, prefix=""):
        for name, task in coll.tasks.items():
            yield prefix + name, task
        for name, sub in coll.collections.items():
            yield from walk(sub, f"{prefix}{name}.")

    missing = []
    for name, task in walk(namespace):
        assert task.__doc__ or task.body.__doc__, f"{name} has no docstring"
        for arg in task.get_arguments():
            if not arg.help:
                missing.append(f"{name} --{arg.name}")
    assert not missing, missing


def test_installed_command_and_inv_agree(project):
    """The real `nself` process and `inv` (from the repo root) both run the same task."""
    result = project.run_process("db", "status", "--json")
    assert result.code == 0, result
    assert json.loads(result.out)["environment"] == "local"
    repo = str(REPO)
    inv = subprocess.run([sys.executable, "-m", "invoke", "--list"], cwd=repo,
                         capture_output=True, text=True)
    assert inv.returncode == 0 and "db.status" in inv.stdout


# Help after a task's words, psql's own options (issue 15) ---------------------------------


def _spaced_tasks():
    from nself.cli import spaced_commands
    from nself.tasks import namespace

    return [words for words, _ in spaced_commands(namespace)]


def _help(capsys, *argv: str):
    """`nself ARGV` in-process (help needs no project or database): code, stdout, stderr."""
    from nself.cli import program

    capsys.readouterr()
    code = program.run(["nself", *argv], exit=False)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("words", _spaced_tasks(), ids=" ".join)
def test_help_after_any_task_is_its_help(capsys, words):
    """`nself <command> --help` shows that command's help, exit 0, for every command
    (`nself logs --help` took --help for the SERVICE word: exit 2)."""
    code, out, err = _help(capsys, *words, "--help")
    assert code == 0, (out, err)
    assert out.startswith("Usage: nself") and err == "", (out, err)


@pytest.mark.parametrize("argv", [("logs", "-h"), ("restart", "postgres", "--help")])
def test_short_help_and_help_after_the_word(capsys, argv):
    """`-h` and a help flag after the task's word ask for help too."""
    code, out, err = _help(capsys, *argv)
    assert code == 0 and "The service: postgres." in out, (out, err)


def test_inv_help_after_a_task_with_a_word(tmp_path):
    """Under inv, `inv logs --help` is logs' help too (invoke gave --help to SERVICE)."""
    repo = str(REPO)
    done = subprocess.run([sys.executable, "-m", "invoke", "--search-root", repo, "logs",
                           "--help"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done
    assert "Usage: inv" in done.stdout and "The service: postgres." in done.stdout


def test_translate_puts_psql_options_after_double_dash():
    """`db shell`'s words that are not its own go after `--`, each quoted, in order."""
    assert translate(["nself", "db", "shell", "-At", "-c", "SELECT 1", "-v", "x=a b", "-l"]) \
        == ["nself", "db.shell", "-c", "SELECT 1", "--", "-At", "-v", "'x=a b'", "-l"]


def test_a_flag_word_is_never_a_commands_positional_word():
    """After every command that takes a positional word (seed FILE, migrate up N, mock's
    --TABLE N, logs SERVICE), another command's flag (--yes, --confirm WORD) stays a flag:
    invoke names it or the command takes it, never as a file, a step count or a table."""
    from nself.cli import UnknownWord, namespace, spaced_commands

    checked = 0
    for words, task in spaced_commands(namespace):
        positional = getattr(task, "positional_flag", None) or any(
            arg.positional for arg in task.get_arguments())
        if not (positional or getattr(task, "rewrite_words", None)):
            continue
        for flags in (["--yes"], ["--confirm", "yes-destroy-production"]):
            try:
                line = translate(["nself", *words, *flags])
            except UnknownWord as exc:
                assert f"has no {flags[0]} flag" in str(exc), (words, exc)
            else:
                assert line[-len(flags):] == flags, (words, line)
            checked += 1
    assert checked >= 16  # create, down, up, mock, restore, diff, import, seed, logs, restart

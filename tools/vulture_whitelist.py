"""Names vulture cannot see used, each reviewed: `vulture` (settings in pyproject.toml) reads
this file with nself/ and tests/, and tests/code/test_dead_code.py runs it. Add a name here only
when something outside Python's sight uses it, and say what."""
# ruff: noqa: B018, F821

source_project  # nself/backups/restore.py Restored: --json output, through dataclasses.asdict
source_server  # the same
list_spaced  # nself/cli.py: invoke's Program calls list_<list_format> (`nself db`)
visit_SelectStmt  # nself/schema/diff.py: pglast's Visitor calls visit_<node type>
visit_ColumnRef  # the same
__class__  # nself/tasks/base.py: assigning it makes an invoke Argument a NumberArgument
pytest_addoption  # tests/conftest.py: pytest hooks, called by name
pytest_configure
pytest_collection_modifyitems
isolated_environment  # tests/conftest.py: an autouse fixture
pytestmark  # read by pytest from a test module
print_  # tests/cli/test_cli.py: a task's flag (--print), read by invoke from the signature
with_nself  # nself/tasks/include.py: called by the tasks.py nself init writes (scaffold.TASKS_FILE)
ACCEPTS_FILE  # nself/adopt/__init__.py convert: getattr on a format module (issue 18)
handle_starttag  # tests/diagram/test_diagram_html.py: html.parser.HTMLParser calls handle_<event>
handle_endtag  # the same
handle_data  # the same

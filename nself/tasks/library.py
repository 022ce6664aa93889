"""The library modules the tasks call, each imported when a task first uses it: the one
place of the tasks' deferred imports.

Every task module is imported when `nself` (or `inv`) starts, whatever the command, and
`nself db status` must stay within 1.3x of `python -c "import invoke, psycopg"`
(bench/README.md). These modules pull in what most commands never need: pglast and pydbml
(schema, migrations), sh (pg.tools), croniter (~70 ms, the schedule), the backups package
(~20 ms), the mock generator. A task names them here (`library.places.listing(env)`)
instead of importing them inside its body.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class Deferred:
    """A module, imported when one of its names is first read."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        if attr.startswith("_"):  # tasks use public names only (and copy/inspect probing
            raise AttributeError(attr)  # is not a use of the module)
        return getattr(self.module, attr)

    @property
    def module(self) -> ModuleType:
        return importlib.import_module(self._name)

    def __repr__(self) -> str:
        return f"<deferred {self._name}>"


# backups (`db backup ...`, `db restore`)
dump = Deferred("nself.backups.dump")
places = Deferred("nself.backups.places")
restore = Deferred("nself.backups.restore")
schedule = Deferred("nself.backups.schedule")
store = Deferred("nself.backups.store")
# migrations, seeds, mock, the team workflows (`db migrate ...`, `db seed`, `db mock`,
# `db update`, `db reset`)
history = Deferred("nself.migrations.history")
migration_baseline = Deferred("nself.migrations.baseline")  # `db migrate baseline`
migration_engine = Deferred("nself.migrations.engine")
migration_runner = Deferred("nself.migrations.runner")
migration_status = Deferred("nself.migrations.status")
repair_history = Deferred("nself.migrations.repair")
adopt = Deferred("nself.adopt")  # `db migrate import`: other tools' migrations
linter = Deferred("nself.lint")  # `db migrate lint`
lock_trace = Deferred("nself.lint.trace")  # `db migrate lint --trace`
pg_connection = Deferred("nself.pg.connection")
seed_files = Deferred("nself.seeds.files")
seeds_runner = Deferred("nself.seeds.runner")
mock_data = Deferred("nself.mock")
mock_plan = Deferred("nself.mock.plan")
update_workflow = Deferred("nself.workflows.update")
reset_workflow = Deferred("nself.workflows.reset")
# the fleet (`db fleet ...`): targets, the runner, each command on one target
fleet_targets = Deferred("nself.fleet.targets")
fleet_run = Deferred("nself.fleet.run")
fleet_commands = Deferred("nself.fleet.commands")
# the `nself` front end, which imports the namespace (mock's --TABLE words)
front_end = Deferred("nself.cli")
# the server and psql (`db shell`, `db start/stop`, `logs`, `restart`)
embedded = Deferred("nself.pg.embedded")
shell = Deferred("nself.pg.shell")
# schemas (`db schema ...`)
compare = Deferred("nself.schema.compare")
diagrams = Deferred("nself.diagram")  # `db schema diagram`
exporting = Deferred("nself.schema.export")
importer = Deferred("nself.schema.importer")
migration_files = Deferred("nself.migrations.files")

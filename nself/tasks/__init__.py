"""The nself task namespace, shared by `inv` (tasks.py) and the `nself` command."""

from invoke import Collection

from nself.tasks import backup, db, fleet, migrate, mock, project, schema, seed, update

db_collection = Collection("db", db.status, db.shell, db.start, db.stop)
db_collection.add_task(seed.seed)
db_collection.add_task(mock.mock)
db_collection.add_task(update.update)
db_collection.add_task(migrate.reset)
db_collection.add_collection(migrate.collection)
db_collection.add_collection(backup.collection)
db_collection.add_collection(schema.collection)
db_collection.add_task(backup.restore)
db_collection.add_collection(fleet.collection)

namespace = Collection(project.init, project.logs, project.restart, db_collection)
# The guides' `nself status` ("check database is running") is `db status` under a second name.
namespace.add_task(db.status, name="status")

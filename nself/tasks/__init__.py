"""The nself task namespace, shared by `inv` (tasks.py) and the `nself` command."""

from invoke import Collection

from nself.tasks import db, project

db_collection = Collection("db", db.status, db.shell, db.start, db.stop)

namespace = Collection(project.init, project.logs, project.restart, db_collection)

"""nself's tasks in a project's own `tasks.py`, beside the project's tasks.

`nself init` writes a `tasks.py` that exposes nself's namespace (`TASKS_FILE` in
nself.scaffold). A project that already has one adds two lines at its end
(`scaffold.TASKS_LINES`):

    from nself.tasks.include import with_nself
    ns = with_nself(__name__)

`with_nself` reads the module as invoke would (its `ns`/`namespace` collection, else its
`@task` functions) and adds nself's tasks and collections (`db`, `init`, `status`, ...); a
name the project already uses keeps the project's task.
"""

from __future__ import annotations

import sys

from invoke import Collection

from nself.tasks import namespace


def with_nself(module_name: str) -> Collection:
    """The tasks of module MODULE_NAME (a tasks.py, being imported) with nself's added."""
    own = Collection.from_module(sys.modules[module_name])
    for name, task in namespace.tasks.items():
        if name not in own.tasks and name not in own.collections:
            own.add_task(task, name=name)
    for name, collection in namespace.collections.items():
        if name not in own.tasks and name not in own.collections:
            own.add_collection(collection, name=name)
    return own

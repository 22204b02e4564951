"""Finds tasks by name: every folder under nlpkit.tasks with a `Task` subclass is one."""
import importlib
import pkgutil

from .errors import NlpkitError


def task_names():
    import nlpkit.tasks as pkg

    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if m.ispkg and not m.name.startswith("_"))


def get_task_class(name):
    names = task_names()
    if name not in names:
        raise NlpkitError(f"unknown task '{name}'; known tasks: {', '.join(names)}")
    module = importlib.import_module(f"nlpkit.tasks.{name}")
    return module.TASK

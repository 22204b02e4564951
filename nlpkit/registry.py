"""Finds tasks by name: every package under nlpkit.tasks exporting `TASK` (a Task subclass) is one."""
import ast
import difflib
import importlib
import pkgutil
from pathlib import Path

from .errors import NlpkitError


def task_names():
    import nlpkit.tasks as pkg

    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if m.ispkg and not m.name.startswith("_"))


def description(name):
    """The first line of the task package's docstring, read without importing it (no torch)."""
    import nlpkit.tasks as pkg

    init = Path(pkg.__path__[0]) / name / "__init__.py"
    doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def get_task_class(name):
    names = task_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}? " if close else ""
        raise NlpkitError(f"unknown task '{name}'; {hint}known tasks: {', '.join(names)}")
    module = importlib.import_module(f"nlpkit.tasks.{name}")
    return module.TASK

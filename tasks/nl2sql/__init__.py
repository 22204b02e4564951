"""NL2SQL: question + table -> SQL with bound values, executed on a read-only SQLite database."""
from .task import NL2SQLTask as TASK

__all__ = ["TASK"]

from .task import NL2SQLTask as TASK

__all__ = ["TASK"]

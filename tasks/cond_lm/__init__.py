from .task import CondLMTask as TASK

__all__ = ["TASK"]

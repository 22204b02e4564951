from .task import Seq2SeqTask as TASK

__all__ = ["TASK"]

"""Reading comprehension by UniLM seq2seq over several passages, with "no answer"."""
from .task import ReadingTask as TASK

__all__ = ["TASK"]

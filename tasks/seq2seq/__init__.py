"""UniLM-masked seq2seq generation (titles, summaries)."""
from .task import Seq2SeqTask as TASK

__all__ = ["TASK"]

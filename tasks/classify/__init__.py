"""Text classification: single texts or pairs, single- or multi-label, from TSV, JSONL or CSV."""
from .task import ClassifyTask as TASK

__all__ = ["TASK"]

"""Subject-predicate-object extraction (pointer design + Conditional LayerNorm)."""
from .task import TriplesTask as TASK

__all__ = ["TASK"]

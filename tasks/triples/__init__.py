"""Subject-predicate-object extraction: CasRel pointers with Conditional LayerNorm, or GPLinker."""
from .task import TriplesTask as TASK

__all__ = ["TASK"]

"""Task `triples`: subject-predicate-object extraction (pointer design + Conditional LayerNorm)."""
from .task import TriplesTask

TASK = TriplesTask

"""Conditional-LayerNorm generation: text conditioned on a label or any fixed vector."""
from .task import CondLMTask as TASK

__all__ = ["TASK"]

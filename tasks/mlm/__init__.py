"""(Domain) pretraining: masked-language modelling with jieba whole-word masking, on plain-text corpora."""
from .task import MlmTask as TASK

__all__ = ["TASK"]

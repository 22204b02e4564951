"""Named entity recognition as character spans: CRF, softmax or GlobalPointer head; BIO/BIOES, CLUENER, JSONL."""
from .task import NerTask as TASK

__all__ = ["TASK"]

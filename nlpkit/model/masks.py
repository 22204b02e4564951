"""Attention masks: UniLM (source bidirectional, target causal) and causal LM.

Masks are built as booleans (True = may attend) of shape (batch, 1, query, key) and handed to the
model as an *additive* float mask (0 or the dtype's minimum). transformers treats a float 4-D
mask as additive, so a float 0/1 mask would mask nothing; and the eager attention adds even a
boolean mask. The additive form is right for every attention implementation.
"""
import torch


def unilm_mask(token_type_ids, attention_mask=None):
    """Position j is visible from i when j is valid and j is source (segment 0 before the target)
    or j is a target position not after i. Works for any number of left-to-right segments."""
    idx = torch.cumsum(token_type_ids, dim=1)
    allowed = idx[:, None, :] <= idx[:, :, None]
    return _finish(allowed, attention_mask)


def causal_mask(attention_mask):
    length = attention_mask.shape[1]
    tri = torch.ones(length, length, dtype=torch.bool, device=attention_mask.device).tril()
    return _finish(tri[None].expand(attention_mask.shape[0], -1, -1), attention_mask)


def padding_mask(attention_mask):
    """Plain bidirectional attention over the valid positions."""
    length = attention_mask.shape[1]
    full = torch.ones(attention_mask.shape[0], length, length, dtype=torch.bool, device=attention_mask.device)
    return _finish(full, attention_mask)


def _finish(allowed, attention_mask):
    if attention_mask is not None:
        allowed = allowed & attention_mask.bool()[:, None, :]
    # every position sees itself, so padded rows never softmax over nothing (NaN)
    eye = torch.eye(allowed.shape[-1], dtype=torch.bool, device=allowed.device)
    if allowed.shape[-2] == allowed.shape[-1]:
        allowed = allowed | eye
    return allowed[:, None]


def additive(mask, dtype=torch.float32):
    """Boolean (B,1,Q,K) mask -> the additive float mask the model adds to attention scores."""
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, torch.finfo(dtype).min)

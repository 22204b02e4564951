"""Su Jianlin's GlobalPointer (https://kexue.fm/archives/8373) and its multilabel categorical
cross-entropy (https://kexue.fm/archives/7359), shared by ner's span head and triples' GPLinker.

A GlobalPointer scores every (i, j) token pair for each of its types from a start projection of
token i and an end projection of token j; a pair is predicted when its score is above 0.
"""
import torch
from torch import nn

#: the score of a masked pair; finite so that the loss stays finite
MASKED = -1e12


def rope(x):
    """Rotary position embedding of x (B, L, H, D), positions 0..L-1, sin/cos interleaved in pairs."""
    length, dim = x.shape[1], x.shape[-1]
    inv = 10000.0 ** (-torch.arange(0, dim, 2, device=x.device, dtype=torch.float32) / dim)
    angles = torch.arange(length, device=x.device, dtype=torch.float32)[:, None] * inv  # (L, D/2)
    cos = angles.cos().repeat_interleave(2, -1)[None, :, None].to(x.dtype)
    sin = angles.sin().repeat_interleave(2, -1)[None, :, None].to(x.dtype)
    rotated = torch.stack([-x[..., 1::2], x[..., ::2]], dim=-1).reshape(x.shape)
    return x * cos + rotated * sin


class GlobalPointer(nn.Module):
    """Scores of token pairs per type.

    `rotary`: RoPE on both projections, so a score knows the pair's relative distance (spans);
    `spans_only`: pairs with j < i are masked (a span ends at or after its start). GPLinker's
    subject-object pairs use neither: an object may come before its subject."""

    def __init__(self, hidden, types, head_size, rotary=True, spans_only=True):
        super().__init__()
        self.types, self.head_size = types, head_size
        self.rotary, self.spans_only = rotary, spans_only
        self.dense = nn.Linear(hidden, types * head_size * 2)

    def forward(self, states, valid):
        """states (B, L, H), valid (B, L) bool -> (B, types, L, L) float scores of pairs (i, j); pairs with
        an invalid token (and with j < i when spans_only) are MASKED."""
        b, length, _ = states.shape
        return self.masked(self.pair_scores(self.dense(states).view(b, length, self.types, -1)), valid)

    def pair_scores(self, x):
        """Start/end projections x (B, L, T, 2 * head_size) -> (B, T, L, L) scaled dot products."""
        q, k = x[..., : self.head_size], x[..., self.head_size :]
        if self.rotary:
            q, k = rope(q), rope(k)
        return torch.einsum("bmhd,bnhd->bhmn", q, k).float() / self.head_size**0.5

    def masked(self, scores, valid):
        length = scores.shape[-1]
        allowed = valid[:, None, :, None] & valid[:, None, None, :]
        if self.spans_only:
            allowed = allowed & torch.ones(length, length, dtype=torch.bool, device=scores.device).triu()
        return scores.masked_fill(~allowed, MASKED)


class EfficientGlobalPointer(GlobalPointer):
    """Su's Efficient GlobalPointer (https://kexue.fm/archives/8877): one start/end projection shared by
    all types, whose pair score each type shifts by its own start and end biases (a linear map of the
    projection). Far fewer weights than a projection per type; it learns faster with many types."""

    def __init__(self, hidden, types, head_size, rotary=True, spans_only=True):
        super().__init__(hidden, 1, head_size, rotary, spans_only)  # the one shared projection
        self.types = types
        self.bias = nn.Linear(head_size * 2, types * 2)

    def forward(self, states, valid):
        x = self.dense(states)  # (B, L, 2 * head_size)
        bias = self.bias(x).float().transpose(1, 2) / 2  # (B, 2 * types, L): start, end, start, ...
        scores = self.pair_scores(x[:, :, None]) + bias[:, 0::2, :, None] + bias[:, 1::2, None, :]
        return self.masked(scores, valid)


def multilabel_categorical_crossentropy(scores, targets):
    """Su Jianlin's loss for few positives among many classes: log(1 + sum_neg e^s) + log(1 + sum_pos e^-s),
    which pushes positives above 0 and negatives below it. scores, targets (N, C) -> mean over N."""
    scores = (1 - 2 * targets) * scores
    negatives = scores - targets * 1e12
    positives = scores - (1 - targets) * 1e12
    zeros = torch.zeros_like(scores[..., :1])
    loss = torch.logsumexp(torch.cat([negatives, zeros], -1), -1)
    return (loss + torch.logsumexp(torch.cat([positives, zeros], -1), -1)).mean()

"""The NER model: the shared backbone (`.bert`) and one of three heads.

- softmax: a linear layer gives each token a tag (token classification);
- crf: the same linear emissions scored by a CRF, decoded by Viterbi (bert4keras'
  task_sequence_labeling_ner_crf recipe);
- global_pointer: Su Jianlin's GlobalPointer (https://kexue.fm/archives/8373): for each entity
  type, a score for every (start, end) token pair from RoPE-rotated start/end projections, trained
  with the multilabel categorical cross-entropy; overlapping and nested entities are allowed.
"""
import torch
from torch import nn
from torch.nn import functional as F

from nlpkit.model import padding_mask, run_bert

from .crf import CRF

#: the score of a masked (start, end) pair; finite so that the loss stays finite
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
    def __init__(self, hidden, types, head_size):
        super().__init__()
        self.types, self.head_size = types, head_size
        self.dense = nn.Linear(hidden, types * head_size * 2)

    def forward(self, states, valid):
        """states (B, L, H), valid (B, L) bool -> (B, types, L, L) float scores of spans [i, j]; pairs
        with j < i or an invalid end are MASKED."""
        b, length, _ = states.shape
        x = self.dense(states).view(b, length, self.types, 2 * self.head_size)
        q, k = rope(x[..., : self.head_size]), rope(x[..., self.head_size :])
        scores = torch.einsum("bmhd,bnhd->bhmn", q, k).float() / self.head_size**0.5
        upper = torch.ones(length, length, dtype=torch.bool, device=states.device).triu()
        allowed = valid[:, None, :, None] & valid[:, None, None, :] & upper
        return scores.masked_fill(~allowed, MASKED)


def multilabel_categorical_crossentropy(scores, targets):
    """Su Jianlin's loss for few positives among many classes: log(1 + sum_neg e^s) + log(1 + sum_pos e^-s).
    scores, targets (N, C) -> mean over N."""
    scores = (1 - 2 * targets) * scores
    negatives = scores - targets * 1e12
    positives = scores - (1 - targets) * 1e12
    zeros = torch.zeros_like(scores[..., :1])
    loss = torch.logsumexp(torch.cat([negatives, zeros], -1), -1)
    return (loss + torch.logsumexp(torch.cat([positives, zeros], -1), -1)).mean()


class NerModel(nn.Module):
    def __init__(self, bert, head, num_labels, head_size=64, crf_lr_multiplier=1.0):
        """num_labels: tags (crf, softmax) or entity types (global_pointer)."""
        super().__init__()
        self.bert, self.head = bert, head
        hidden = bert.config.hidden_size
        if head == "global_pointer":
            self.pointer = GlobalPointer(hidden, num_labels, head_size)
            linear = self.pointer.dense
        else:
            self.emissions = nn.Linear(hidden, num_labels)
            linear = self.emissions
            if head == "crf":
                self.crf = CRF(num_labels, crf_lr_multiplier)
        nn.init.normal_(linear.weight, std=bert.config.initializer_range)
        nn.init.zeros_(linear.bias)

    def forward(self, input_ids, token_type_ids, attention_mask, valid):
        """Tag logits (B, L, tags), or span scores (B, types, L, L) for global_pointer."""
        states = run_bert(self.bert, input_ids, token_type_ids, padding_mask(attention_mask))
        if self.head == "global_pointer":
            return self.pointer(states, valid)
        return self.emissions(states)

    def loss(self, out, batch):
        """The loss of forward()'s output `out` (computed through the DDP wrapper, if any)."""
        if self.head == "global_pointer":
            return multilabel_categorical_crossentropy(out.flatten(2), batch["targets"].flatten(2).to(out.dtype))
        labels = batch["labels"]
        if self.head == "softmax":
            return F.cross_entropy(out.float().flatten(0, 1), labels.flatten(), ignore_index=-100)
        # the CRF runs over the sentence's tokens, which start right after [CLS]
        return -self.crf.log_likelihood(out[:, 1:], labels[:, 1:], batch["valid"][:, 1:]).mean()

    def decode(self, input_ids, token_type_ids, attention_mask, valid):
        """Per sequence: token spans [(start, end_inclusive, label_index)] for global_pointer, or the
        tag ids of its valid tokens for the tagging heads."""
        out = self(input_ids, token_type_ids, attention_mask, valid)
        if self.head == "global_pointer":
            found = [[] for _ in range(out.shape[0])]
            for b, t, i, j in (out > 0).nonzero().tolist():
                found[b].append((i, j, t))
            return found
        if self.head == "crf":
            return self.crf.decode(out[:, 1:], valid[:, 1:])
        tags = out.argmax(-1)
        return [tags[b][valid[b]].tolist() for b in range(tags.shape[0])]

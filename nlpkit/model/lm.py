"""A BERT-style language model for generation: UniLM (seq2seq) or causal mask, optional condition.

`.bert` (the backbone, any architecture of nlpkit.model.arch), `.cls` (its MLM head) and
`.conditioner` (when conditioned) are what the generation engine drives."""
import torch
from torch import nn

from .backbone import load_backbone, run_bert
from .masks import causal_mask, unilm_mask


class BertLM(nn.Module):
    def __init__(self, source, tokenizer, mask="unilm", tiny=None):
        super().__init__()
        if mask not in ("unilm", "causal"):
            raise ValueError(f"mask must be unilm or causal, not {mask}")
        self.bert, self.cls = load_backbone(source, tokenizer, lm_head=True, tiny=tiny)
        self.config = self.bert.config
        self.mask_kind = mask

    def forward(self, input_ids, token_type_ids, attention_mask):
        if self.mask_kind == "unilm":
            mask = unilm_mask(token_type_ids, attention_mask)
        else:
            mask = causal_mask(attention_mask)
        return self.cls(run_bert(self.bert, input_ids, token_type_ids, mask))


def lm_loss(logits, input_ids, loss_mask):
    """Cross-entropy of predicting token t+1 at position t, where loss_mask[t+1] is set
    (UniLM: the target tokens and their closing [SEP])."""
    target = input_ids[:, 1:]
    weight = loss_mask[:, 1:].float()
    ce = nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2).float(), target, reduction="none")
    return (ce * weight).sum() / weight.sum().clamp(min=1.0)


def sequence_logprob(logits, input_ids, loss_mask):
    """Per-sequence sum of log-probabilities of the masked tokens (for scoring/classification)."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1).gather(-1, input_ids[:, 1:, None])[..., 0]
    return (logp * loss_mask[:, 1:].float()).sum(-1)

"""The masked language model: the shared backbone (`.bert`) and BERT's MLM head (`.cls`, its decoder tied
to the word embeddings), saved under transformers' BertForMaskedLM names; and the masking itself.

Masking (Chinese-BERT-wwm / Google's whole-word masking): each unit -- a jieba word with wwm, else a
token -- is chosen with probability mask_prob (at least one per sequence); a chosen unit is replaced,
all its tokens together, by [MASK] (replace_mask), by random tokens (replace_random) or kept, and every
one of its tokens is predicted. Random draws come from `generator` (None: torch's global RNG, which the
trainer seeds per epoch and restores on resume, so masks are new every epoch and resume is exact).
"""
import torch
from torch import nn
from torch.nn import functional as F

from nlpkit.model import padding_mask, run_bert

IGNORE = -100


class MlmModel(nn.Module):
    @property
    def architecture(self):
        """The transformers class a run directory loads as (config.json "architectures"): BertForMaskedLM
        for a BERT backbone."""
        return type(self.bert).__name__.replace("Model", "ForMaskedLM")

    def __init__(self, bert, cls):
        super().__init__()
        self.bert, self.cls = bert, cls

    def forward(self, input_ids, attention_mask, positions=None):
        """-> logits (B, L, V), or (N, V) at the True entries of the boolean (B, L) `positions`."""
        states = run_bert(self.bert, input_ids, torch.zeros_like(input_ids), padding_mask(attention_mask))
        return self.cls(states if positions is None else states[positions])


def mlm_loss(model, batch):
    chosen = batch["labels"] != IGNORE
    logits = model(batch["input_ids"], batch["attention_mask"], chosen)
    return F.cross_entropy(logits.float(), batch["labels"][chosen])


def mask_units(ids, units, rates, mask_id, random_ids, generator=None):
    """(inputs, labels) for token ids (B, L) whose `units` (B, L) number each row's words from 0 (-1: a
    special or padding token, never chosen). rates: (mask_prob, replace_mask, replace_random)."""
    prob, to_mask, to_random = rates
    count = units.max(1).values + 1
    width = max(int(count.max()), 1)
    valid = torch.arange(width)[None] < count[:, None]
    chosen = (torch.rand(ids.shape[0], width, generator=generator) < prob) & valid
    empty = ~chosen.any(1) & (count > 0)  # every sequence predicts something
    pick = (torch.rand(ids.shape[0], width, generator=generator) * valid).argmax(1)
    chosen[empty, pick[empty]] = True
    how = torch.rand(ids.shape[0], width, generator=generator)
    index = units.clamp(min=0)
    picked = chosen.gather(1, index) & (units >= 0)
    decision = how.gather(1, index)
    labels = torch.where(picked, ids, torch.full_like(ids, IGNORE))
    inputs = ids.clone()
    inputs[picked & (decision < to_mask)] = mask_id
    shuffle = picked & (decision >= to_mask) & (decision < to_mask + to_random)
    drawn = torch.randint(len(random_ids), (int(shuffle.sum()),), generator=generator)
    inputs[shuffle] = random_ids[drawn]
    return inputs, labels

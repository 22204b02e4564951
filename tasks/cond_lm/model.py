"""The conditional language model: BERT with a causal mask whose LayerNorms all take the condition."""
import torch
from torch import nn

from nlpkit.model import apply_conditional_layernorm, causal_mask, run_bert


class CondLM(nn.Module):
    """`.bert` + `.cls` (MLM head as the LM head) + `.conditioner`; a label model also has
    `.label_embedding`, whose rows are the condition vectors of the labels."""

    def __init__(self, bert, cls, cond_dim, cond_hidden=None, num_labels=0):
        super().__init__()
        self.bert, self.cls, self.cond_dim = bert, cls, cond_dim
        self.label_embedding = nn.Embedding(num_labels, cond_dim) if num_labels else None
        # every LayerNorm of the backbone (embeddings and each layer) takes the condition
        self.conditioner = apply_conditional_layernorm(bert, cond_dim, cond_hidden)

    def condition(self, labels=None, cond=None):
        """The raw condition vectors (B, cond_dim) fed to the Conditioner: label rows or given vectors."""
        if labels is not None:
            return self.label_embedding(labels)
        return cond

    def forward(self, input_ids, attention_mask, labels=None, cond=None):
        """Next-token logits (B, L, V) of `[CLS] text [SEP]` under the condition."""
        with self.conditioner.condition(self.condition(labels, cond)):
            hidden = run_bert(self.bert, input_ids, torch.zeros_like(input_ids), causal_mask(attention_mask))
            return self.cls(hidden)


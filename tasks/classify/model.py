"""The classifier: the shared backbone (`.bert`), a pooled text vector ([CLS] or mean), dropout, a linear layer.

One logit per label: softmax + cross-entropy for single-label data, sigmoid + binary cross-entropy
for multi-label data.
"""
import torch
from torch import nn
from torch.nn import functional as F

from nlpkit.export import ENCODER_AXES
from nlpkit.model import padding_mask, run_bert


class ClassifyModel(nn.Module):
    #: nlpkit export: predict calls forward only (see nlpkit.export)
    onnx_graphs = {"forward": ENCODER_AXES}

    def __init__(self, bert, num_labels, pooling="cls"):
        super().__init__()
        self.bert, self.pooling = bert, pooling
        self.dropout = nn.Dropout(bert.config.hidden_dropout_prob)
        self.classifier = nn.Linear(bert.config.hidden_size, num_labels)
        nn.init.normal_(self.classifier.weight, std=bert.config.initializer_range)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, input_ids, token_type_ids, attention_mask):
        """-> (B, labels) logits."""
        states = run_bert(self.bert, input_ids, token_type_ids, padding_mask(attention_mask))
        if self.pooling == "cls":
            pooled = states[:, 0]
        else:
            weights = attention_mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1)
        return self.classifier(self.dropout(pooled))


def classify_loss(logits, targets, multi_label):
    """targets: label ids (B,) or, multi-label, 0/1 rows (B, labels)."""
    if multi_label:
        return F.binary_cross_entropy_with_logits(logits.float(), targets.float())
    return F.cross_entropy(logits.float(), targets)


def probabilities(logits, multi_label):
    return torch.sigmoid(logits.float()) if multi_label else torch.softmax(logits.float(), -1)

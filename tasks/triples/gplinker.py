"""The GPLinker model (Su Jianlin, https://kexue.fm/archives/8888): three Efficient GlobalPointers on
one BERT pass.

- entities: spans of 2 types, subjects (0) and objects (1), with RoPE (a span knows its length);
- heads: per predicate, a score for (subject start, object start);
- tails: per predicate, a score for (subject end, object end).

Efficient rather than plain GlobalPointers (one projection per type), as in Su's later GPLinker: on
the bundled sample with the tiny model the plain ones reached dev F1 0.85 in the tiny profile's 1800
steps, the efficient ones 0.913 (seed 42, README).

Heads and tails have no RoPE and no lower-triangle mask: an object may sit anywhere relative to its
subject. A triple is a subject span and an object span whose head pair and tail pair both score
above the threshold for the predicate. Every part is trained with the multilabel categorical
cross-entropy, summed over types and predicates and averaged over sentences, as in the original.
"""
import torch
from torch import nn

from nlpkit.data import pad
from nlpkit.export import ENCODER_AXES
from nlpkit.model import EfficientGlobalPointer, multilabel_categorical_crossentropy, padding_mask, run_bert

from .decoding import gplinker_triples

PARTS = ("entity", "head", "tail")


class GPLinkerModel(nn.Module):
    #: nlpkit export: decoding calls forward only (see nlpkit.export)
    onnx_graphs = {"forward": {**ENCODER_AXES, "valid": "BL"}}

    def __init__(self, bert, num_predicates, head_size):
        super().__init__()
        self.bert = bert
        hidden = bert.config.hidden_size
        self.entity = EfficientGlobalPointer(hidden, 2, head_size)
        self.head = EfficientGlobalPointer(hidden, num_predicates, head_size, rotary=False, spans_only=False)
        self.tail = EfficientGlobalPointer(hidden, num_predicates, head_size, rotary=False, spans_only=False)
        for pointer in (self.entity, self.head, self.tail):
            nn.init.normal_(pointer.dense.weight, std=bert.config.initializer_range)
            nn.init.zeros_(pointer.dense.bias)

    def forward(self, input_ids, token_type_ids, attention_mask, valid):
        """-> (entity (B, 2, L, L), head (B, P, L, L), tail (B, P, L, L)) scores, invalid pairs masked."""
        states = run_bert(self.bert, input_ids, token_type_ids, padding_mask(attention_mask))
        return self.entity(states, valid), self.head(states, valid), self.tail(states, valid)


def gplinker_targets(spo_lists, length, num_predicates):
    """[(ss, se, p, os, oe)] token spans per sentence -> bool targets {entity, head, tail} (B, types, L, L)."""
    b = len(spo_lists)
    targets = {"entity": torch.zeros(b, 2, length, length, dtype=torch.bool),
               "head": torch.zeros(b, num_predicates, length, length, dtype=torch.bool),
               "tail": torch.zeros(b, num_predicates, length, length, dtype=torch.bool)}
    for row, spo in enumerate(spo_lists):
        for ss, se, p, os_, oe in spo:
            targets["entity"][row, 0, ss, se] = targets["entity"][row, 1, os_, oe] = True
            targets["head"][row, p, ss, os_] = targets["tail"][row, p, se, oe] = True
    return targets


def gplinker_loss(scores, targets):
    """scores and targets: (entity, head, tail) tensors (B, types, L, L) -> sum of the three losses, each
    summed over its types and averaged over sentences."""
    total = 0
    for s, t in zip(scores, targets):
        # the shared loss averages over (sentence, type) rows; times the types: a sum over types
        total = total + multilabel_categorical_crossentropy(s.flatten(2), t.flatten(2).to(s.dtype)) * s.shape[1]
    return total


def sentence_tokens(lengths):
    """(B, L) bool: the sentence's own tokens of each encoding's length, not [CLS], [SEP] or padding."""
    return pad([[0] + [1] * (n - 2) + [0] for n in lengths], 0).bool()


class GPLinkerHead:
    """What the task does with the gplinker head: its targets, model, loss and decoding."""

    options = ("score_threshold",)

    @staticmethod
    def build(bert, num_predicates, cfg):
        return GPLinkerModel(bert, num_predicates, cfg.head_size)

    @staticmethod
    def labels(features, length, num_predicates):
        targets = gplinker_targets([f["spo"] for f in features], length, num_predicates)
        return {"valid": sentence_tokens([len(f["input_ids"]) for f in features]),
                **{f"{part}_targets": t for part, t in targets.items()}}

    @staticmethod
    def loss(model, batch):
        scores = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"], batch["valid"])
        return gplinker_loss(scores, [batch[f"{part}_targets"] for part in PARTS])

    @staticmethod
    def decode(model, inputs, encs, score_threshold):
        """Token triples [(ss, se, p, os, oe)] of each sentence, sorted."""
        valid = sentence_tokens([len(e) for e in encs]).to(inputs[0].device)
        entity, head, tail = model(*inputs, valid)  # decoded where they are: (B, P, L, L) is large
        return [gplinker_triples(entity[row], head[row], tail[row], score_threshold) for row in range(len(encs))]

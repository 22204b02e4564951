"""The three NER heads as objects (config `head` -> one of HEADS), as triples has its casrel and gplinker:
each says what it scores, builds its layers on the model, turns a training record's token spans into
its targets, and decodes the model's output into token spans.

- softmax: a linear layer gives each token a tag (token classification);
- crf: the same linear emissions scored by a CRF, decoded by Viterbi (bert4keras'
  task_sequence_labeling_ner_crf recipe);
- global_pointer: Su Jianlin's GlobalPointer (https://kexue.fm/archives/8373, in the core's
  nlpkit.model, shared with triples' GPLinker): a score for every (start, end) token pair and entity
  type, trained with the multilabel categorical cross-entropy; nested entities are allowed.

The tagging heads (softmax, crf) hold one entity per character: `tagging` is what the task asks.
"""
import torch
from torch import nn
from torch.nn import functional as F

from nlpkit.data import pad
from nlpkit.model import GlobalPointer, multilabel_categorical_crossentropy

from .crf import CRF
from .tags import spans_from_tags, tag_names, tags_from_spans


def sentence_mask(id_lists):
    """The sentence's own tokens: not [CLS], [SEP] or padding."""
    return pad([[0] + [1] * (len(ids) - 2) + [0] for ids in id_lists], 0).bool()


class SoftmaxHead:
    #: one entity per character (nested or crossing entities cannot be tagged)
    tagging = True

    @staticmethod
    def labels(types, scheme):
        """What the head scores: the tags of the types in the scheme."""
        return tag_names(types, scheme)

    def build(self, model, hidden, num_labels, **settings):
        """Add the head's layers to `model` (settings: head_size, crf_lr_multiplier); returns the linear
        layer to initialise like BERT's."""
        model.emissions = nn.Linear(hidden, num_labels)
        return model.emissions

    @staticmethod
    def forward(model, states, valid):
        return model.emissions(states)

    @staticmethod
    def loss(model, out, batch):
        return F.cross_entropy(out.float().flatten(0, 1), batch["labels"].flatten(), ignore_index=-100)

    @staticmethod
    def tag_ids(model, out, valid):
        tags = out.argmax(-1)
        return [tags[b][valid[b]].tolist() for b in range(tags.shape[0])]

    def decode(self, model, out, valid, labels):
        """forward()'s output -> inclusive token spans [(first, last, label)] of each sequence (the
        tags are those of tokens 1..n)."""
        return [[(s + 1, e, t) for s, e, t in spans_from_tags([labels[k] for k in found])]
                for found in self.tag_ids(model, out, valid)]

    @staticmethod
    def feature(enc, spans, labels, scheme):
        """A training record's token spans [(first, last, type)] -> the head's feature fields."""
        index = {t: i for i, t in enumerate(labels)}
        tags = tags_from_spans(len(enc), [(f, last + 1, t) for f, last, t in spans], scheme)
        return {"labels": [index.get(tag, 0) if seq == 0 else -100 for tag, seq in zip(tags, enc.sequence_ids)]}

    @staticmethod
    def targets(features, ids, num_labels):
        """The batch's targets (and the `valid` token mask) from the features."""
        labels = pad([f["labels"] for f in features], -100)
        return {"labels": labels, "valid": labels != -100}


class CrfHead(SoftmaxHead):
    def build(self, model, hidden, num_labels, **settings):
        linear = super().build(model, hidden, num_labels)
        model.crf = CRF(num_labels, settings.get("crf_lr_multiplier", 1.0))
        return linear

    @staticmethod
    def loss(model, out, batch):
        # the CRF runs over the sentence's tokens, which start right after [CLS]
        return -model.crf.log_likelihood(out[:, 1:], batch["labels"][:, 1:], batch["valid"][:, 1:]).mean()

    @staticmethod
    def tag_ids(model, out, valid):
        return model.crf.decode(out[:, 1:], valid[:, 1:])


class GlobalPointerHead:
    tagging = False

    @staticmethod
    def labels(types, scheme):
        """What the head scores: the entity types."""
        return list(types)

    @staticmethod
    def build(model, hidden, num_labels, **settings):
        model.pointer = GlobalPointer(hidden, num_labels, settings.get("head_size", 64))
        return model.pointer.dense

    @staticmethod
    def forward(model, states, valid):
        """Span scores (B, types, L, L)."""
        return model.pointer(states, valid)

    @staticmethod
    def loss(model, out, batch):
        return multilabel_categorical_crossentropy(out.flatten(2), batch["targets"].flatten(2).to(out.dtype))

    @staticmethod
    def decode(model, out, valid, labels):
        found = [[] for _ in range(out.shape[0])]
        for b, t, i, j in (out > 0).nonzero().tolist():
            found[b].append((i, j, labels[t]))
        return found

    @staticmethod
    def feature(enc, spans, labels, scheme):
        index = {t: i for i, t in enumerate(labels)}
        return {"spans": [[index[t], first, last] for first, last, t in spans if t in index]}

    @staticmethod
    def targets(features, ids, num_labels):
        b, length = ids.shape
        targets = torch.zeros(b, num_labels, length, length, dtype=torch.bool)  # (B, types, L, L)
        for row, f in enumerate(features):
            for t, first, last in f["spans"]:
                targets[row, t, first, last] = True
        return {"targets": targets, "valid": sentence_mask(f["input_ids"] for f in features)}


#: config `head` -> its object
HEADS = {"softmax": SoftmaxHead(), "crf": CrfHead(), "global_pointer": GlobalPointerHead()}

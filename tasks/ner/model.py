"""The NER model: the shared backbone (`.bert`) and one of three heads.

- softmax: a linear layer gives each token a tag (token classification);
- crf: the same linear emissions scored by a CRF, decoded by Viterbi (bert4keras'
  task_sequence_labeling_ner_crf recipe);
- global_pointer: Su Jianlin's GlobalPointer (https://kexue.fm/archives/8373, in the core's
  nlpkit.model, shared with triples' GPLinker): for each entity type, a score for every (start, end)
  token pair from RoPE-rotated start/end projections, trained with the multilabel categorical
  cross-entropy; overlapping and nested entities are allowed.
"""
from torch import nn
from torch.nn import functional as F

from nlpkit.model import GlobalPointer, multilabel_categorical_crossentropy, padding_mask, run_bert

from .crf import CRF


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

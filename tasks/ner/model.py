"""The NER model: the shared backbone (`.bert`) and one of three heads (heads.py: softmax, crf,
global_pointer), whose layers keep their names (`emissions`, `crf`, `pointer`) in the checkpoint."""
from torch import nn

from nlpkit.export import ENCODER_AXES
from nlpkit.model import GlobalPointer, multilabel_categorical_crossentropy, padding_mask, run_bert  # noqa: F401

from .heads import HEADS


class NerModel(nn.Module):
    #: nlpkit export: decode() runs forward as ONNX and the CRF's Viterbi in torch (see nlpkit.export)
    onnx_graphs = {"forward": {**ENCODER_AXES, "valid": "BL"}}
    onnx_keep = ("crf",)

    def __init__(self, bert, head, num_labels, head_size=64, crf_lr_multiplier=1.0):
        """num_labels: tags (crf, softmax) or entity types (global_pointer)."""
        super().__init__()
        self.bert, self.head = bert, head
        linear = self.kind.build(self, bert.config.hidden_size, num_labels, head_size=head_size,
                                 crf_lr_multiplier=crf_lr_multiplier)
        nn.init.normal_(linear.weight, std=bert.config.initializer_range)
        nn.init.zeros_(linear.bias)

    @property
    def kind(self):
        """The head object (heads.HEADS) of config `head`."""
        return HEADS[self.head]

    def forward(self, input_ids, token_type_ids, attention_mask, valid):
        """Tag logits (B, L, tags), or span scores (B, types, L, L) for global_pointer."""
        states = run_bert(self.bert, input_ids, token_type_ids, padding_mask(attention_mask))
        return self.kind.forward(self, states, valid)

    def loss(self, out, batch):
        """The loss of forward()'s output `out` (computed through the DDP wrapper, if any)."""
        return self.kind.loss(self, out, batch)

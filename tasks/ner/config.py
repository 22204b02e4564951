"""ner's typed config and its two profiles."""
from dataclasses import dataclass
from typing import Optional

from nlpkit.config import POSITIVE, BertRunConfig, Check, at_least, opt, section
from nlpkit.profiles import SMALL_LR_FACTOR, scaled
from nlpkit.windows import WindowConfig, check_stride

from .tags import SCHEMES

HEADS = ("crf", "softmax", "global_pointer")
EVEN = Check(lambda v: v >= 2 and v % 2 == 0, "even and >= 2 (RoPE rotates pairs)")


@dataclass
class NerConfig(BertRunConfig):
    #: the keys only some heads read; setting one for another head is an error, not silently ignored
    only_with = {"scheme": ("head", ("crf", "softmax")), "crf_lr_multiplier": ("head", ("crf",)),
                 "head_size": ("head", ("global_pointer",))}

    max_length: int = opt(256, "tokens per window, [CLS]/[SEP] included; a longer text is read in windows (window.*)",
                          at_least(3))
    head: str = opt("crf", "crf: linear + CRF (Viterbi); softmax: token classification; global_pointer: span "
                           "scores, nested entities", choices=HEADS)
    scheme: Optional[str] = opt(None, "tags of crf/softmax: bio or bioes; null: the training file's (BIO/BIOES "
                                      "files), else bio", choices=SCHEMES)
    crf_lr_multiplier: float = opt(1.0, "the CRF's parameters learn this many times faster (bert4keras' "
                                        "crf_lr_multiplier)", POSITIVE)
    head_size: int = opt(64, "global_pointer: size of its start/end projections per type", EVEN)
    window: WindowConfig = section(WindowConfig, "long texts: read in overlapping windows of max_length tokens")

    def __post_init__(self):
        check_stride(self.window.stride, self.max_length - 2)


#: the tiny random model on the bundled sample (measured in the README card)
TINY = {
    "max_length": 128,
    "crf_lr_multiplier": 100.0,
    "tiny": {"num_attention_heads": 4},
    "trainer": {"epochs": 3, "batch_size": 16, "lr": 2e-3, "warmup": 0.1},
}
#: bert4keras examples/task_sequence_labeling_ner_crf.py (People's Daily): maxlen 256, batch 32,
#: 10 epochs, crf_lr_multiplier 1000, Adam at a constant rate (1e-5 there for the 12-layer base;
#: bert4torch's port uses 2e-5), no gradient clipping
PRETRAINED = {
    "max_length": 256,
    "crf_lr_multiplier": 1000.0,
    "trainer": {"epochs": 10, "batch_size": 32, "lr": 2e-5, "warmup": 0.0, "schedule": "constant",
                "max_grad_norm": 0.0},
}
#: a small checkpoint (albert-tiny, m3e-small): the recipe above at SMALL_LR_FACTOR x its rate, but with
#: clipping at the trainer's 1.0: unclipped at 1e-4 the softmax head came apart on some seeds (People's
#: Daily, albert-tiny, 1,000 paragraphs, 2 epochs: test F1 0.53 / 0.38 / 0.10 over seeds 42 / 1 / 7;
#: clipped 0.66 / 0.64 / 0.65; the CRF head 0.66 -> 0.78). The base profile is bert4keras' as published.
_SCALED = scaled(PRETRAINED, SMALL_LR_FACTOR)
SMALL = {**_SCALED, "trainer": {**_SCALED["trainer"], "max_grad_norm": 1.0}}

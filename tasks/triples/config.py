"""triples' typed config and its two profiles."""
from dataclasses import dataclass
from typing import Optional

from nlpkit.config import BertRunConfig, Check, at_least, opt, section
from nlpkit.windows import WindowConfig, check_stride

HEADS = ("casrel", "gplinker")
#: a pointer threshold: 0 would mark every token, 1 none
OPEN_UNIT = Check(lambda v: 0 < v < 1, "in (0, 1)")
EVEN = Check(lambda v: v >= 2 and v % 2 == 0, "even and >= 2 (RoPE rotates pairs)")


@dataclass
class TriplesConfig(BertRunConfig):
    not_used = {"data.columns": 'triples reads DuIE JSON(L) records with "text" and "spo_list" as they are'}
    #: the keys only one head reads; setting one for the other head is an error, not silently ignored
    only_with = {"subject_threshold": ("head", ("casrel",)), "object_threshold": ("head", ("casrel",)),
                 "score_threshold": ("head", ("gplinker",)), "head_size": ("head", ("gplinker",))}

    max_length: int = opt(128, "tokens per window, [CLS]/[SEP] included; a longer text is read in windows "
                               "(window.*), a triple found where one window holds its subject and object",
                          at_least(8))
    schema: Optional[str] = opt(None, 'schema file ({"predicate",...} lines); null: the training data\'s '
                                      "predicates (the bundled schema with the bundled sample)")
    head: str = opt("casrel", "casrel: subject pointers, then object pointers per predicate conditioned on the "
                              "subject (Conditional LayerNorm); gplinker: GlobalPointer entity spans and per-predicate "
                              "subject-object head and tail pairs", choices=HEADS)
    subject_threshold: float = opt(0.5, "casrel: subject start/end pointers fire above this, on sigmoid(logit)**2 "
                                        "(also per call)", OPEN_UNIT)
    object_threshold: float = opt(0.5, "casrel: object start/end pointers fire above this, on sigmoid(logit)**4 "
                                       "(also per call)", OPEN_UNIT)
    score_threshold: float = opt(0.0, "gplinker: entity spans and head/tail pairs are kept when their score (a "
                                      "logit; 0 is probability 0.5) is above this (also per call)",
                                 Check(lambda v: abs(v) <= 100, "in [-100, 100]"))
    head_size: int = opt(64, "gplinker: size of each GlobalPointer start/end projection", EVEN)

    window: WindowConfig = section(WindowConfig, "long texts: read in overlapping windows of max_length tokens")

    def __post_init__(self):
        check_stride(self.window.stride, self.max_length - 2)


#: the tiny random model on the bundled 1200-sentence sample (measured in the README card)
TINY = {
    "tiny": {"num_attention_heads": 4},  # learns span boundaries much faster than 2 heads, same cost
    "trainer": {"epochs": 12, "batch_size": 8, "lr": 1.5e-3, "warmup": 0.1,
                # sample sentences of one length share a pattern: length-grouped batches learn far slower
                "group_by_length": False, "ema": 0.99},
}
#: bert4keras examples/task_relation_extraction.py (and bert4torch's CasRel port): maxlen 128,
#: batch 64, Adam 1e-5 at a constant rate, 20 epochs, EMA 0.999
PRETRAINED = {
    "max_length": 128,
    "trainer": {"epochs": 20, "batch_size": 64, "lr": 1e-5, "warmup": 0.0, "schedule": "constant", "ema": 0.999},
}
#: a small checkpoint (albert-tiny, m3e-small): the recipe above at 50x its rate, not the 5x of other
#: tasks. DuIE, albert-tiny, 4,000 records, 2 epochs, batch 8, scored on 500 dev records: at 5e-5
#: gplinker decoded no triple (its per-predicate pair scores stayed below 0), casrel F1 0.688; at 5e-4
#: gplinker 0.563, casrel 0.683. One rate serves both heads (a profile does not depend on head=).
SMALL = {**PRETRAINED, "trainer": {**PRETRAINED["trainer"], "lr": 5e-4}}

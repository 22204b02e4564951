"""triples' typed config and its two profiles."""
from dataclasses import dataclass
from typing import Optional

from nlpkit.config import BertRunConfig, Check, at_least, opt

#: a pointer threshold: 0 would mark every token, 1 none
OPEN_UNIT = Check(lambda v: 0 < v < 1, "in (0, 1)")


@dataclass
class TriplesConfig(BertRunConfig):
    max_length: int = opt(128, "tokens per sentence, [CLS]/[SEP] included; triples cut off are not learnt",
                          at_least(8))
    schema: Optional[str] = opt(None, 'schema file ({"predicate",...} lines); null: the training data\'s '
                                      "predicates (the bundled schema with the bundled sample)")
    subject_threshold: float = opt(0.5, "subject start/end pointers fire above this, on sigmoid(logit)**2",
                                   OPEN_UNIT)
    object_threshold: float = opt(0.5, "object start/end pointers fire above this, on sigmoid(logit)**4",
                                  OPEN_UNIT)


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

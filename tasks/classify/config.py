"""classify's typed config and its two profiles."""
from dataclasses import dataclass
from typing import List, Optional

from nlpkit.config import BertRunConfig, Check, at_least, opt, section
from nlpkit.errors import NlpkitError
from nlpkit.windows import WindowConfig, check_stride

#: a probability threshold: 0 would predict every label, 1 none
OPEN_UNIT = Check(lambda v: 0 < v < 1, "in (0, 1)")
NOT_EMPTY = Check(lambda v: len(v) > 0, "non-empty")


@dataclass
class ClassifyConfig(BertRunConfig):
    only_with = {"label_separator": ("multi_label", (True,)), "threshold": ("multi_label", (True,))}

    max_length: int = opt(128, "tokens per window, [CLS]/[SEP] included; a longer text or pair is read in windows "
                               "(window.*)",
                          at_least(4))
    labels: Optional[List[str]] = opt(None, "the label set, in this order, e.g. [negative, positive]; a label outside "
                                            "it is a data error; null: the training data's labels, sorted")
    multi_label: bool = opt(False, "each text has a list of labels (sigmoid + binary cross-entropy) instead of one "
                                   "(softmax)")
    label_separator: str = opt("|", 'multi_label: separates the labels of a TSV/CSV cell ("sports|politics")',
                               NOT_EMPTY)
    threshold: float = opt(0.5, "multi_label: a label is predicted when its probability exceeds this (also per call)",
                           OPEN_UNIT)
    pooling: str = opt("cls", "text vector: the [CLS] token's state (cls) or the mean of all tokens' (mean)",
                       choices=("cls", "mean"))

    window: WindowConfig = section(WindowConfig, "long texts: read in overlapping windows of max_length tokens, "
                                                 "their probabilities averaged (multi_label: the maximum)")

    def __post_init__(self):
        check_stride(self.window.stride, self.max_length - 2)
        twice = sorted({label for label in self.labels or [] if self.labels.count(label) > 1})
        if twice:  # a repeated label would be two classes with one name: predictions of one never score
            raise NlpkitError(f"labels={list(self.labels)}: {', '.join(twice)} given more than once; expected each "
                              "label once")


#: the tiny random model on the bundled sentiment sample (measured in the README card)
TINY = {
    "max_length": 64,
    "tiny": {"num_attention_heads": 4},
    "trainer": {"epochs": 8, "batch_size": 16, "lr": 1e-3, "warmup": 0.1},
}
#: bert4torch examples/sentence_classfication/task_sentiment_classification.py: Adam lr 2e-5, dropout
#: 0.1 on the pooled vector; bert4keras examples/task_sentiment_albert.py: maxlen 128, batch 32.
#: Epochs: 5 with the best dev epoch kept (bert4torch runs 10, HF run_glue defaults to 3).
PRETRAINED = {
    "max_length": 128,
    "trainer": {"epochs": 5, "batch_size": 32, "lr": 2e-5, "warmup": 0.1},
}

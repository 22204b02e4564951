"""nl2sql's typed config and its two profiles."""
from dataclasses import dataclass
from typing import Optional

from nlpkit.config import FRACTION, BertRunConfig, at_least, opt


@dataclass
class NL2SQLConfig(BertRunConfig):
    not_used = {"data.columns": "nl2sql reads TableQA / WikiSQL question files and their tables (tables=FILE) "
                                "as they are"}

    tables: Optional[str] = opt(None, "tables file (TableQA tables.json) or SQLite database for every questions "
                                      "file (default: next to the questions, train.json -> train.tables.json)")
    max_question_length: int = opt(64, "question tokens kept", at_least(1))
    max_header_length: int = opt(12, "tokens per column header (fewer when a wide table would not fit max_length)",
                                 at_least(1))
    max_length: int = opt(512, "question + all headers, specials included", at_least(8))
    snap_values: bool = opt(True, "predicted text values snap to the closest value of their column (also per call)")
    word_dropout: float = opt(0.1, "training: share of question/header tokens hidden, so unseen words are read "
                                   "through the match tags", FRACTION)


#: the tiny random model on the bundled 396-question sample (the former config.yaml; fewer epochs lose the
#: tests' thresholds, see the README card). The sample's sequences are at most 84 tokens, so max_length
#: changes nothing there.
TINY = {"trainer": {"epochs": 20, "batch_size": 16, "lr": 2e-3, "warmup": 0.1}}

#: bojone/nl2sql_baseline (the BERT baseline of the 2019 Zhuiyi TableQA challenge, kexue.fm/archives/6771):
#: maxlen 160, batch 32, 15 epochs, Adam lr 5e-5 warmed up over the first epoch, down to 1e-5 over the second,
#: then constant; no weight decay
PRETRAINED = {
    "max_length": 160,
    "trainer": {"epochs": 15, "batch_size": 32, "lr": 5e-5, "weight_decay": 0.0, "warmup": 0.067,
                "schedule": "piecewise", "schedule_points": [[0.067, 1.0], [0.133, 0.2], [1.0, 0.2]]},
}

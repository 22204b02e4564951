"""cond_lm's typed config and its two profiles."""
from dataclasses import dataclass
from typing import Dict, Optional

from nlpkit.config import BertRunConfig, DecodeConfig, at_least, opt, section
from nlpkit.errors import NlpkitError

#: texts generated at once for one request: each is a row of the KV cache (n=50000 took 2.9 GB)
MAX_SEQUENCES = 64


@dataclass
class CondLMConfig(BertRunConfig):
    max_length: int = opt(128, "tokens per training text, [CLS]/[SEP] included; longer texts are split "
                               "at sentence punctuation", at_least(8))
    label_names: Optional[Dict[str, str]] = opt({"0": "负面", "1": "正面"}, "display names of raw labels "
                                                "(the sentiment corpus writes 0/1); other labels stay as written")
    label_embedding_size: int = opt(128, "size of a label's condition vector", at_least(1))
    cond_hidden: Optional[int] = opt(None, "project the condition (tanh(Wc + b)) to this size before the "
                                           "LayerNorms; null = use it as is", at_least(1))
    eval_candidates: int = opt(32, "vector conditions: candidate vectors the conditioning accuracy ranks "
                                   "per text", at_least(2))
    decode: DecodeConfig = section(DecodeConfig, "generation for predict / pipeline (also per call and per "
                                   "request); max_new_tokens is also capped so prefix + text fit max_length",
                                   max_new_tokens=126, min_new_tokens=1, do_sample=True, top_p=0.95,
                                   num_return_sequences=5)

    def __post_init__(self):
        check_sequences(self.decode)


def check_sequences(decode):
    """The task's bound on the sequences decoded together (DecodeConfig itself has none)."""
    for key in ("num_return_sequences", "beam_size"):
        value = getattr(decode, key)
        if value > MAX_SEQUENCES:
            raise NlpkitError(f"decode.{key}={value}: expected <= {MAX_SEQUENCES} for cond_lm "
                              f"(sequences decoded at once for one request; ask again for more texts)")


#: the tiny random model on the bundled 410-review sample
TINY = {"trainer": {"epochs": 10, "batch_size": 32, "lr": 5e-3, "warmup": 0.05}}
#: bert4keras examples/task_conditional_language_model.py: Adam(1e-5) at a constant rate (no warmup,
#: no weight decay), batch 32, 20 epochs, maxlen 128, a 128-dim label embedding
PRETRAINED = {"max_length": 128, "label_embedding_size": 128,
              "trainer": {"epochs": 20, "batch_size": 32, "lr": 1e-5, "warmup": 0.0, "weight_decay": 0.0,
                          "schedule": "constant"}}

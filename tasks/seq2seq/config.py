"""seq2seq's typed config and its two profiles."""
from dataclasses import dataclass

from nlpkit.config import BertRunConfig, DecodeConfig, at_least, opt, section
from nlpkit.errors import NlpkitError

#: [CLS] + at least one source token + [SEP] + the closing [SEP] of the target
SPECIALS_AND_ONE_TOKEN = 4


@dataclass
class Seq2SeqConfig(BertRunConfig):
    max_length: int = opt(128, "source + target tokens, specials included", at_least(8))
    max_target_length: int = opt(32, "target tokens kept for training", at_least(1))
    decode: DecodeConfig = section(DecodeConfig, "decoding for evaluate / predict / pipeline (also per call)",
                                   min_new_tokens=1)

    def __post_init__(self):
        check_room(self.max_length, self.max_target_length, "max_target_length")
        check_room(self.max_length, self.decode.max_new_tokens, "decode.max_new_tokens")


def check_room(max_length, target, key):
    """The target (trained or generated) must leave room for at least one source token."""
    most = max_length - SPECIALS_AND_ONE_TOKEN
    if target > most:
        raise NlpkitError(f"{key}={target} leaves no room for the source within max_length={max_length}: "
                          f"expected <= max_length - {SPECIALS_AND_ONE_TOKEN} = {most} (lower it or raise max_length)")


#: the tiny random model on the bundled 300-pair sample
TINY = {"trainer": {"epochs": 30, "batch_size": 16, "lr": 2e-3, "warmup": 0.05}}
#: bert4keras examples/task_seq2seq_autotitle_csl.py: Adam(1e-5) at a constant rate (no warmup, no weight
#: decay), batch 16, 20 epochs, maxlen 256, titles of at most 32 tokens (decode.max_new_tokens' default)
PRETRAINED = {"max_length": 256,
              "trainer": {"epochs": 20, "batch_size": 16, "lr": 1e-5, "warmup": 0.0, "weight_decay": 0.0,
                          "schedule": "constant"}}

"""mlm's typed config and its two profiles."""
from dataclasses import dataclass
from nlpkit.config import PROBABILITY, BertRunConfig, Check, JiebaConfig, at_least, opt, section
from nlpkit.errors import NlpkitError

SHARE = Check(lambda v: 0 <= v <= 1, "in [0, 1]")


@dataclass
class MlmConfig(BertRunConfig):
    not_used = {"data.columns": "mlm reads plain text, one document a line"}
    renamed = {"hmm": "jieba.hmm", "user_dict": "jieba.user_dict"}
    only_with = {"jieba": ("wwm", (True,))}  # single-token masking segments nothing

    max_length: int = opt(128, "tokens per packed sequence, [CLS]/[SEP] included: lines are packed up to it",
                          at_least(8))
    wwm: bool = opt(True, "whole-word masking: choose jieba words and mask every token of a word together "
                          "(false: choose single tokens)")
    mask_prob: float = opt(0.15, "fraction of words (wwm) or tokens chosen for prediction", PROBABILITY)
    replace_mask: float = opt(0.8, "of the chosen words: share replaced by [MASK]", SHARE)
    replace_random: float = opt(0.1, "of the chosen words: share replaced by random tokens (the rest is kept)",
                                SHARE)
    top_k: int = opt(5, "fill-mask: candidates returned per [MASK] (also per call)", at_least(1))
    jieba: JiebaConfig = section(JiebaConfig, "the words of whole-word masking (wwm=true)")

    def __post_init__(self):
        if self.replace_mask + self.replace_random > 1:
            raise NlpkitError(f"replace_mask + replace_random = {self.replace_mask + self.replace_random:g}: "
                              "expected <= 1 (the rest of the chosen words is kept)")


#: the tiny random model (measured in the README card). lr 1e-3, not the 3e-3 the templated sample
#: liked: on People's Daily 3e-3 gave every token the same final state (issue 24; triples from it F1 0)
TINY = {
    "max_length": 64,
    "tiny": {"num_attention_heads": 4},
    "trainer": {"epochs": 10, "batch_size": 16, "lr": 1e-3, "warmup": 0.1},
}
#: continued pretraining of a checkpoint: transformers examples/pytorch/language-modeling/run_mlm_wwm.py
#: (the Chinese whole-word-masking script) with the Trainer's defaults -- AdamW lr 5e-5, linear decay,
#: 3 epochs, mlm_probability 0.15, sequences up to 512 tokens; warmup 6% as in RoBERTa / the
#: "Don't Stop Pretraining" (Gururangan et al. 2020) domain-adaptive recipe.
PRETRAINED = {
    "max_length": 512,
    "trainer": {"epochs": 3, "batch_size": 16, "lr": 5e-5, "warmup": 0.06},
}

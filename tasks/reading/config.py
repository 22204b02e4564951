"""reading's typed config and its two profiles."""
import dataclasses
from dataclasses import dataclass

from nlpkit.config import BertRunConfig, DecodeConfig, at_least, opt, section
from nlpkit.errors import NlpkitError
from nlpkit.windows import WindowConfig, check_stride

MODES = ("extractive", "abstractive")
VOTES = ("square", "mean")
#: the shared decode keys the voting decoder reads; the others must keep their defaults
DECODER_KEYS = ("max_new_tokens", "beam_size", "mode", "vote")
#: what a decode key outside DECODER_KEYS is told
DECODER_READS = f"the voting decoder reads decode.{', decode.'.join(DECODER_KEYS)}"


@dataclass
class ReadingDecode(DecodeConfig):
    """The shared decoding keys plus how the passages of a question are combined."""

    length_penalty: float = opt(0.0, "hypothesis score = logprob / length ** length_penalty (0: the voted "
                                     "probability of the whole answer)")
    mode: str = opt("extractive", "extractive: the answer is a substring of a passage; abstractive: any tokens",
                    choices=MODES)
    vote: str = opt("square", "mixing the passages' next-token distributions: square = sum(p^2) / (sum(p) + 1) "
                              "(confident passages weigh more), mean = their average", choices=VOTES)

    def __post_init__(self):
        super().__post_init__()
        for f in dataclasses.fields(self):
            if f.name not in DECODER_KEYS and getattr(self, f.name) != f.default:
                raise NlpkitError(f"decode.{f.name}={getattr(self, f.name)}: reading's voting decoder does not use "
                                  f"it; {DECODER_READS}")


@dataclass
class ReadingConfig(BertRunConfig):
    not_used = {"data.columns": "reading reads WebQA / SogouQA and SQuAD / CMRC2018 JSON(L) files as they are",
                **{f"decode.{f.name}": DECODER_READS for f in dataclasses.fields(ReadingDecode)
                   if f.name not in DECODER_KEYS}}
    renamed = {"max_answer_length": "max_target_length"}

    max_passage_length: int = opt(128, "passage tokens per window; a longer passage is read in windows (window.*), "
                                       "each voting as a passage", at_least(1))
    max_question_length: int = opt(32, "question tokens kept", at_least(1))
    max_target_length: int = opt(16, "answer tokens kept as the training target", at_least(1))
    answer_sep: str = opt("|", 'separates alternative gold answers inside one "answer" field ("" = no splitting)')
    decode: ReadingDecode = section(ReadingDecode, "decoding for evaluate / predict / pipeline (also per call); "
                                                   "max_new_tokens is the longest answer", max_new_tokens=16)

    window: WindowConfig = section(WindowConfig, "long passages: read in overlapping windows of max_passage_length "
                                                 "tokens (window.train: trained on every window, else on the first)")

    def __post_init__(self):
        check_stride(self.window.stride, self.max_passage_length)

    def longest_sequence(self):
        # [CLS] passage [SEP] question [SEP], then the answer (trained or generated) and its [SEP]
        answer = max(self.max_target_length, self.decode.max_new_tokens)
        return (self.max_passage_length + self.max_question_length + answer + 4,
                "max_passage_length + max_question_length + max_target_length (or decode.max_new_tokens) + 4")


#: the tiny random model on the bundled 1500-question sample (about 1200 steps; measured in the README card)
TINY = {
    "tiny": {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0},  # learns the sample faster
    "trainer": {"epochs": 25, "batch_size": 32, "lr": 1.5e-3, "warmup": 0.1},
}
#: bert4keras examples/task_reading_comprehension_by_seq2seq.py: max_p_len 256, max_q_len 64,
#: max_a_len 32, batch 32, 8 epochs, Adam 1e-5 at a constant rate; it decodes with topk=2
PRETRAINED = {
    "max_passage_length": 256, "max_question_length": 64, "max_target_length": 32,
    "decode": {"max_new_tokens": 32, "beam_size": 2},
    "trainer": {"epochs": 8, "batch_size": 32, "lr": 1e-5, "warmup": 0.0, "schedule": "constant"},
}

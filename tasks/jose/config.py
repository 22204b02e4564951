"""jose's typed config. Not a BERT fine-tune: no model, tiny.* or trainer.* keys (they are refused as
unknown), and of the shared data.* keys only data.train (the corpus) applies (the others are refused)."""
from dataclasses import dataclass
from typing import Optional

from nlpkit.config import NON_NEGATIVE, POSITIVE, Check, DataConfig, JiebaConfig, RunConfig, at_least, opt, section

SEGMENTERS = ("jieba", "rjieba", "char")
#: nlpkit.segmentation's kinds, or bert:DIR (a local checkpoint's WordPiece)
TOKENIZER = Check(lambda v: v in SEGMENTERS or (v.startswith("bert:") and len(v) > len("bert:")),
                  "(jieba, rjieba, char or bert:DIR)")
#: cos(u', t) - cos(u, t) is at most 2, so from margin 2 on every hinge is always active
MARGIN = Check(lambda v: 0 < v < 2, "in (0, 2)")


@dataclass
class CorpusConfig:
    segmented: bool = opt(False, "true: lines are words separated by whitespace already (no segmenter)")
    tokenizer: str = opt("jieba", "segmenter when segmented=false", TOKENIZER)
    stopwords: Optional[str] = opt(None, "file, one word per line: left out of the vocabulary")
    keep_punct: bool = opt(False, "keep tokens without a letter or digit")
    min_count: int = opt(5, "words seen fewer times are dropped", at_least(1))
    workers: Optional[int] = opt(None, "processes that segment and count (null: the CPUs, at most one per MiB of "
                                       "input)", at_least(1))


@dataclass
class JoseSettings:
    dim: int = opt(100, "vector size", at_least(1))
    window: int = opt(5, "largest window radius; each position draws its radius in 1..window", at_least(1))
    negative: int = opt(2, "negative words per position (unigram^0.75)", at_least(1))
    margin: float = opt(0.15, "hinge margin between the true and the negative word's cosine", MARGIN)
    alpha: float = opt(0.04, "learning rate, decayed linearly to 0", POSITIVE)
    epochs: int = opt(10, "passes over the corpus", at_least(1))
    sample: float = opt(0.001, "frequent-word subsampling threshold (0: off)", NON_NEGATIVE)
    threads: int = opt(2, "training threads (Hogwild: lock-free, on one shared table)", at_least(1))
    batch_words: int = opt(10000, "word positions a thread takes at a time (the learning rate decays between)",
                           at_least(1))
    refit_epochs: int = opt(5, "passes refitting the document vectors to the final words (0: off)", NON_NEGATIVE)
    save_text: bool = opt(True, "also write words.txt / contexts.txt / docs.txt (word2vec text format)")


@dataclass
class EvalConfig:
    labels: Optional[str] = opt(None, "the documents' labels, one per corpus line: k-NN accuracy and NMI in "
                                      "metrics.json (default: the sample's, when training on it)")
    word_pairs: Optional[str] = opt(None, 'a "word1 word2 score" file: word-similarity Spearman in metrics.json')
    knn_k: int = opt(3, "neighbours of the leave-one-out k-NN accuracy", at_least(1))
    infer_epochs: int = opt(50, "optimisation passes of infer_vector for new documents", at_least(1))
    topn: int = opt(5, "predict: nearest training documents listed per document (also per call)", NON_NEGATIVE)


@dataclass
class JoseData(DataConfig):
    train: Optional[str] = opt(None, "the corpus, one document per line (default: the bundled sample)")


@dataclass
class JoseConfig(RunConfig):
    not_used = {"data.dev": "give the documents' labels as eval.labels=FILE",
                "data.num_proc": "set corpus.workers (processes that segment the corpus)",
                "data.cache": "the encoded corpus is temporary, never cached",
                "data.columns": "the corpus is plain text, one document per line"}
    renamed = {"corpus.hmm": "jieba.hmm", "corpus.user_dict": "jieba.user_dict"}
    only_with = {"jieba": ("corpus.tokenizer", ("jieba", "rjieba"))}

    data: JoseData = section(JoseData, "the corpus (data.train); jose has no dev data")
    corpus: CorpusConfig = section(CorpusConfig, "reading the corpus: one document per line")
    jieba: JiebaConfig = section(JiebaConfig, "segmenting the corpus with corpus.tokenizer=jieba or rjieba")
    jose: JoseSettings = section(JoseSettings, "the embedding and its training")
    eval: EvalConfig = section(EvalConfig, "scores written to metrics.json after training; predict")
    progress: bool = opt(True, "show progress (bar and messages on stderr)")

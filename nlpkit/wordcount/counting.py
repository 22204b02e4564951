"""Counting one chunk: the function every worker runs (a local process, a Dask worker, or the parent
for -j 1), and the settings it needs, which travel with it so every worker counts the same way."""
import codecs
import hashlib
import importlib.util
import json
import os
import re
import threading
from collections import Counter
from dataclasses import dataclass

from ..data import iter_lines
from ..errors import NlpkitError
from ..segmentation import get_segmenter, resolve
from .sources import read_range

ENCODINGS = ("utf-8", "gb18030")  # both ASCII-compatible: b"\n" always ends a line

# A token is a word when it holds a letter or a digit; pure punctuation, symbols and whitespace are not.
_WORD = re.compile(r"[^\W_]")


def is_word(token):
    return _WORD.search(token) is not None


# Undecodable bytes become U+FFFD and are counted; the count is per thread (Dask runs tasks in threads).
_replaced = threading.local()


def _replace_and_count(exc):
    _replaced.n += exc.end - exc.start
    return "\ufffd", exc.end


codecs.register_error("nlpkit-wordcount", _replace_and_count)


def decode(data, encoding):
    """(text, number of undecodable bytes replaced)."""
    _replaced.n = 0
    return data.decode(encoding, "nlpkit-wordcount"), _replaced.n


def read_stopwords(path):
    """The words of a UTF-8 file, one per line."""
    return frozenset(w for w in (line.strip() for _, line in iter_lines(path)) if w)


@dataclass(frozen=True)
class Settings:
    """Everything that decides the counts. Small and picklable: user-dictionary entries and stopwords are
    carried as data, so a worker on another machine needs neither file."""

    tokenizer: str = "jieba"
    hmm: bool = True
    user_dict: tuple = ()
    stopwords: frozenset = frozenset()
    keep_punct: bool = False
    encoding: str = "utf-8"

    @classmethod
    def create(cls, tokenizer="jieba", hmm=True, user_dict=None, stopwords=None, keep_punct=False, encoding="utf-8"):
        tokenizer, hmm, user_dict = resolve(tokenizer, hmm, user_dict)
        if tokenizer == "rjieba" and importlib.util.find_spec("rjieba") is None:
            raise NlpkitError("tokenizer rjieba needs the optional extra: pip install 'nlpkit[rjieba]'")
        if tokenizer.startswith("bert:"):
            folder = tokenizer[len("bert:"):]
            if not any(os.path.exists(os.path.join(folder, f)) for f in ("vocab.txt", "tokenizer.json")):
                raise NlpkitError(f"{folder}: no vocab.txt or tokenizer.json, not a BERT checkpoint folder")
        if stopwords is None:
            stopwords = frozenset()
        elif isinstance(stopwords, (str, os.PathLike)):
            stopwords = read_stopwords(stopwords)
        else:
            stopwords = frozenset(stopwords)
        try:
            enc = codecs.lookup(encoding).name
        except LookupError:
            enc = None
        if enc not in ENCODINGS:
            raise NlpkitError(f"encoding {encoding!r} is not supported: use one of {', '.join(ENCODINGS)}")
        return cls(tokenizer, hmm, user_dict, stopwords, bool(keep_punct), enc)

    def describe(self):
        """JSON-able summary, stored with partial counts so --resume never mixes settings."""

        def digest(obj):
            return hashlib.sha1(json.dumps(obj, ensure_ascii=False).encode()).hexdigest()[:16] if obj else None

        return {
            "tokenizer": self.tokenizer,
            "hmm": self.hmm,
            "user_dict": digest(list(self.user_dict)),
            "stopwords": digest(sorted(self.stopwords)),
            "keep_punct": self.keep_punct,
            "encoding": self.encoding,
        }

    def segmenter(self):
        return get_segmenter(self.tokenizer, self.hmm, self.user_dict)

    def keep(self, token):
        return bool(
            token
            and not token.isspace()
            and token not in self.stopwords
            and (self.keep_punct or is_word(token))
        )


def count_text(text, settings):
    """Counter of the kept tokens of a text. Count first, filter the distinct tokens after: the filter
    runs once per type instead of once per token."""
    seg = settings.segmenter()
    fast = None
    if seg.kind == "jieba":
        from .fastjieba import fast_jieba  # here: importing nlpkit.wordcount needs no jieba

        fast = fast_jieba(seg)
    counts = fast.count(text) if fast else Counter(seg.cut(text))
    for w in [w for w in counts if not settings.keep(w)]:
        del counts[w]
    return counts


def count_chunk(spec, settings):
    """Count one chunk: ("range", path, start, end) read here, or ("bytes", data, is_first_chunk).

    Returns (counts, lines, bytes, tokens, replaced_bytes). An unreadable file raises OSError."""
    if spec[0] == "range":
        data, first = read_range(*spec[1:]), spec[2] == 0
    else:
        data, first = spec[1], spec[2]
    text, replaced = decode(data, settings.encoding)
    if first and text.startswith("\ufeff"):
        text = text[1:]
    counts = count_text(text, settings)
    lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    return counts, lines, len(data), sum(counts.values()), replaced

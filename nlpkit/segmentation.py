"""Word segmentation shared by wordcount and jose.

`get_segmenter(kind, hmm, user_dict)` returns an object whose `.cut(text)` gives the list of tokens the
engine produces (whitespace and punctuation tokens included, as jieba.lcut does; callers filter).

Segmenters are cached per process and pickle as their settings, user-dictionary *entries* included
(never a path), so a worker process or a Dask worker on another machine rebuilds exactly the same
segmenter once. jieba.enable_parallel forks its pool up front and never sees dictionary changes made
afterwards; this design cannot drift that way.

Each jieba segmenter owns a private `jieba.Tokenizer`, so words added to the global `jieba.dt` by other
code do not change counts, and our user words do not leak into it.
"""
import logging
import os
import re
import threading

from .data import iter_lines
from .errors import NlpkitError

KINDS = "jieba, rjieba, char or bert:DIR"

# jieba's own user-dictionary grammar: "word [freq] [tag]"
_USERDICT_LINE = re.compile(r"^(.+?)( [0-9]+)?( [a-z]+)?$")

_cache = {}
_lock = threading.Lock()


def read_user_dict(path):
    """Entries (word, freq or None, tag or None) of a jieba user dictionary file (UTF-8)."""
    return tuple(_parse_entry(line.strip()) for _, line in iter_lines(path) if line.strip())


def _parse_entry(line):
    word, freq, tag = _USERDICT_LINE.match(line).groups()
    return (word, int(freq) if freq else None, tag.strip() if tag else None)


def normalize_user_dict(user_dict):
    """None, a file path, or an iterable of lines / (word, freq, tag) tuples -> tuple of entries."""
    if user_dict is None:
        return ()
    if isinstance(user_dict, (str, os.PathLike)):
        return read_user_dict(user_dict)
    entries = []
    for e in user_dict:
        if isinstance(e, str):
            entries.append(_parse_entry(e.strip()))
        else:
            word, freq, tag = (tuple(e) + (None, None))[:3]
            entries.append((word, None if freq is None else int(freq), tag))
    return tuple(entries)


class Segmenter:
    """Base: remembers its settings so pickling ships settings, not the loaded dictionary."""

    kind = None

    def __init__(self, hmm=True, user_dict=()):
        self.hmm, self.user_dict = hmm, user_dict

    def __reduce__(self):
        return _rebuild, (self.kind, self.hmm, self.user_dict)

    def __repr__(self):
        return f"<{type(self).__name__} kind={self.kind!r} hmm={self.hmm} user_words={len(self.user_dict)}>"

    def cut(self, text):
        raise NotImplementedError


class JiebaSegmenter(Segmenter):
    kind = "jieba"

    def __init__(self, hmm=True, user_dict=()):
        super().__init__(hmm, user_dict)
        import jieba

        jieba.setLogLevel(logging.WARNING)  # "Building prefix dict..." on every worker is noise
        self._tk = jieba.Tokenizer()
        self._tk.initialize()
        for word, freq, tag in user_dict:
            self._tk.add_word(word, freq, tag)
        self._fast = None

    def cut(self, text):
        # jieba's own HMM Viterbi copies a path per character (a long run of unknown characters costs
        # quadratic time: minutes for a 1M-character line); FastJieba gives the same tokens in linear time
        if self._fast is None:
            from .wordcount.fastjieba import fast_jieba

            self._fast = fast_jieba(self) or False  # False: a jieba other than 0.42, used as it is
        return self._fast.tokens(text) if self._fast else self._tk.lcut(text, HMM=self.hmm)


class RjiebaSegmenter(Segmenter):
    kind = "rjieba"

    def __init__(self, hmm=True, user_dict=()):
        super().__init__(hmm, user_dict)
        try:
            import rjieba
        except ImportError:
            raise NlpkitError("tokenizer rjieba needs the optional extra: pip install 'nlpkit[rjieba]'") from None
        self._jb = rjieba.Jieba()
        for word, freq, tag in user_dict:
            self._jb.add_word(word, freq, tag)

    def cut(self, text):
        return self._jb.cut(text, self.hmm)


class CharSegmenter(Segmenter):
    kind = "char"

    def cut(self, text):
        return list(text)


class BertSegmenter(Segmenter):
    """WordPiece tokens ("##" continuation pieces kept) of a local BERT checkpoint's tokenizer."""

    def __init__(self, kind, hmm=True, user_dict=()):
        super().__init__(hmm, user_dict)
        self.kind = kind
        from .tokenizer import Tokenizer

        self._tok = Tokenizer.from_dir(kind[len("bert:"):])

    def cut(self, text):
        return self._tok.tokenize(text)


def resolve(kind, hmm=True, user_dict=None):
    """Canonical (kind, hmm, user-dict entries): the cache key, and what a pickled segmenter carries."""
    if not isinstance(kind, str):
        raise NlpkitError(f"tokenizer must be a string ({KINDS}), got {type(kind).__name__}")
    if kind.startswith("bert:"):
        folder = kind[len("bert:"):]
        if not folder:
            raise NlpkitError("tokenizer bert:DIR needs a checkpoint folder, e.g. bert:runs/seq2seq")
        kind = "bert:" + os.path.abspath(folder)  # workers may run in another directory
    elif kind not in ("jieba", "rjieba", "char"):
        raise NlpkitError(f"unknown tokenizer {kind!r}: expected {KINDS}")
    user_dict = normalize_user_dict(user_dict)
    if kind not in ("jieba", "rjieba"):
        if user_dict:
            raise NlpkitError(f"a user dictionary only applies to the jieba and rjieba tokenizers, not {kind}")
        hmm = True  # meaningless here; one cache entry per kind
    return kind, bool(hmm), user_dict


def _build(kind, hmm, user_dict):
    if kind == "jieba":
        return JiebaSegmenter(hmm, user_dict)
    if kind == "rjieba":
        return RjiebaSegmenter(hmm, user_dict)
    if kind == "char":
        return CharSegmenter(hmm, user_dict)
    return BertSegmenter(kind, hmm, user_dict)


def _rebuild(kind, hmm, user_dict):
    return get_segmenter(kind, hmm, user_dict)


def get_segmenter(kind="jieba", hmm=True, user_dict=None):
    """The process-wide segmenter for these settings, built on first use.

    kind: "jieba" (precise mode), "rjieba" (Rust jieba, optional extra), "char", or "bert:DIR".
    hmm: jieba/rjieba new-word discovery with the HMM.
    user_dict: a jieba user-dictionary file, or an iterable of "word [freq] [tag]" lines / tuples.
    """
    key = resolve(kind, hmm, user_dict)
    seg = _cache.get(key)
    if seg is None:
        with _lock:  # Dask workers may run tasks in threads: build once
            seg = _cache.get(key)
            if seg is None:
                seg = _cache[key] = _build(*key)
    return seg

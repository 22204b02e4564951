"""Documents in, word ids out.

One document per line: segmented with the shared jieba segmenter (or split on whitespace when the
corpus is already segmented), a vocabulary of words seen at least min_count times, then the corpus
encoded once into a flat int32 id file (in a temporary folder of the nlpkit cache, never in the run
directory), which every epoch streams back in chunks of whole documents. Nothing holds the whole
corpus in memory; lines that are empty, or become empty once rare words are dropped, are simply
documents without a vector.
"""
import os
from collections import Counter, deque
from pathlib import Path

import numpy as np

from nlpkit.data import check_file, iter_lines
from nlpkit.errors import NlpkitError

from .segment import split_batch

SEGMENT_BATCH = 2000  # lines per job when segmenting with worker processes
PARALLEL_BYTES = 1 << 20  # at most one segmenting process per MiB: starting one costs more than a small input


def iter_documents(path, splitter, workers=1):
    """Yield the word list of every line of `path`, in order (empty lines give []). workers: segmenting
    processes (None: the CPUs, at most one per MiB of input, as the word counter does)."""
    lines = (line for _, line in iter_lines(path))
    size = os.path.getsize(path)
    workers = min(workers or os.cpu_count() or 1, -(-size // PARALLEL_BYTES))
    if splitter.segmented or workers <= 1:
        for line in lines:
            yield splitter(line)
        return
    import multiprocessing as mp

    def batches():
        batch = []
        for line in lines:
            batch.append(line)
            if len(batch) == SEGMENT_BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    # a bounded number of batches in flight, so a large corpus is never read ahead whole
    with mp.get_context("spawn").Pool(workers) as pool:
        pending = deque()
        for batch in batches():
            pending.append(pool.apply_async(split_batch, ((splitter, batch),)))
            if len(pending) >= 4 * workers:
                yield from pending.popleft().get()
        while pending:
            yield from pending.popleft().get()


class Vocab:
    """Words sorted by count (descending, then by word), with their counts."""

    def __init__(self, words, counts):
        self.words = list(words)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def from_counts(cls, counts, min_count=1):
        kept = sorted(((w, c) for w, c in counts.items() if c >= min_count), key=lambda wc: (-wc[1], wc[0]))
        return cls([w for w, _ in kept], [c for _, c in kept])

    def __len__(self):
        return len(self.words)

    def ids(self, words):
        get = self.index.get
        return [i for i in (get(w) for w in words) if i is not None]

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            for w, c in zip(self.words, self.counts.tolist()):
                f.write(f"{w}\t{c}\n")

    @classmethod
    def load(cls, path):
        words, counts = [], []
        for no, line in iter_lines(path):
            word, _, count = line.rpartition("\t")
            if not word or not count.isdigit():
                raise NlpkitError(f"{path}:{no}: expected 'word<TAB>count'")
            words.append(word)
            counts.append(int(count))
        return cls(words, counts)


def count_words(path, splitter, min_count=1, workers=None, stopwords=None, keep_punct=False):
    """Word counts (>= min_count) through the shared word counter, which segments in worker processes.
    An already segmented corpus is split on whitespace here and filtered by the counter's rules."""
    from nlpkit.wordcount import count
    from nlpkit.wordcount.counting import Settings

    if not splitter.segmented:
        return count([path], tokenizer=splitter.tokenizer, hmm=splitter.hmm, user_dict=splitter.user_dict,
                     min_count=min_count, workers=workers, stopwords=stopwords, keep_punct=keep_punct)
    keep = Settings.create(stopwords=stopwords, keep_punct=keep_punct).keep
    counts = Counter()
    for words in iter_documents(path, splitter):
        counts.update(words)
    return Counter({w: c for w, c in counts.items() if c >= min_count and keep(w)})


class EncodedCorpus:
    """The corpus as word ids: ids.bin (int32, all documents back to back) and per-line lengths.

    rows: documents that kept at least one word get a row 0..n_docs-1 (their vector's row);
    keys[row] is the document's 0-based line index."""

    def __init__(self, folder, lengths):
        self.folder = Path(folder)
        self.lengths = np.asarray(lengths, dtype=np.int64)  # in-vocabulary words per line
        self.keys = np.flatnonzero(self.lengths)
        self.doc_lengths = self.lengths[self.keys]
        self.offsets = np.concatenate([[0], np.cumsum(self.doc_lengths)])
        self.n_words = int(self.offsets[-1])
        self.n_lines = len(self.lengths)
        self.n_docs = len(self.keys)
        self.ids = (np.memmap(self.folder / "ids.bin", dtype=np.int32, mode="r", shape=(self.n_words,))
                    if self.n_words else np.zeros(0, dtype=np.int32))

    @classmethod
    def encode(cls, path, vocab, splitter, folder, workers=None):
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        lengths, buffer, pending = [], [], 0
        with open(folder / "ids.bin", "wb") as f:
            for words in iter_documents(path, splitter, workers):
                ids = vocab.ids(words)
                lengths.append(len(ids))
                buffer.extend(ids)
                if len(buffer) >= 1 << 20:
                    f.write(np.asarray(buffer, dtype=np.int32).tobytes())
                    buffer = []
            f.write(np.asarray(buffer, dtype=np.int32).tobytes())
        return cls(folder, lengths)

    def chunks(self, max_words):
        """Yield (ids, rows): int32 word ids of whole documents (about max_words of them) and each
        word's document row."""
        d, n = 0, self.n_docs
        while d < n:
            end = int(np.searchsorted(self.offsets, self.offsets[d] + max_words, side="right")) - 1
            end = min(max(end, d + 1), n)
            lo, hi = self.offsets[d], self.offsets[end]
            rows = np.repeat(np.arange(d, end, dtype=np.int64), self.doc_lengths[d:end])
            yield np.array(self.ids[lo:hi]), rows
            d = end

    def close(self):
        if isinstance(self.ids, np.memmap):
            self.ids._mmap.close()
        self.ids = None


def check_corpus(path):
    p = check_file(path)
    if p.stat().st_size == 0:
        raise NlpkitError(f"{path}: the corpus is empty (expected one document per line)")
    return os.fspath(p)


def count_lines(path, chunk=1 << 24):
    """Lines of a file as iter_lines numbers them (a last line without a newline counts), by counting
    newline bytes: labels are checked against the corpus before its slow segmentation."""
    n, last = 0, b"\n"
    with open(path, "rb") as f:
        while block := f.read(chunk):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (last != b"\n")

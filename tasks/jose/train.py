"""JoSE training: Riemannian SGD on the unit sphere.

Model (Meng et al., "Spherical Text Embedding", NeurIPS 2019): word vectors u, context vectors v and
document vectors d on the unit sphere. For a word u at some position, every word v in its window and
its document d should be nearer to u than a negative word u' drawn from unigram^0.75:
    max(0, m - cos(u, v) + cos(u', v))   for every (word, context word) pair
    max(0, m - cos(u, d) + cos(u', d))   for every word of a document
These two hinges are the paper's max(0, m - cos(u,v) - cos(u,d) + cos(u',v) + cos(u',d)) split the
way the authors' C program trains it, so every word updates its document even when its window is
empty (one-word documents still get a vector; the joint hinge also gave worse document vectors).

Update of a parameter x with Euclidean gradient e (the paper's Riemannian SGD):
    x <- normalise(x - alpha * (1 + cos(x, e)) * (I - x x^T) e)
the gradient projected on the sphere's tangent space at x, scaled up when x points away from where it
should go (1 + cos(x, e) = 1 - cos(x, -e), in [0, 2]), then retracted onto the sphere.

A block is a word u, its K negatives and the targets that share them (the context words of its
window, or its document). Training runs block after block in a compiled loop (kernel.py): a tight
loop over rows that stay in cache, where the vectorised torch version of this step (small batched
matmuls over blocks, ~100 torch ops per batch) ran at 0.6x gensim's speed (see the task card).

After the epochs, every document vector is refit against the final word vectors (refit_epochs passes
of the document hinge with the words frozen, the same optimisation infer_vector runs for new
documents): during training a document meets each of its words once per epoch while the words are
still moving, and stops moving as soon as each word's margin is met.
"""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

from . import kernel


def random_unit(n, dim, generator):
    return F.normalize(torch.randn(n, dim, generator=generator), dim=1)


class NegativeSampler:
    """Words drawn with probability count^0.75 through word2vec's unigram table: word i fills a share
    of the table proportional to its probability, and a draw reads one random entry. At most 1M
    entries (4 MB, which stays in cache: 10M made training 8-15% slower; a coarser table only
    changes how often the rarest words are drawn)."""

    def __init__(self, counts, power=0.75, size=None):
        p = np.asarray(counts, dtype=np.float64) ** power
        size = size or int(min(1e6, max(1e5, 100 * len(p))))
        ends = np.rint(np.cumsum(p) / p.sum() * size).astype(np.int64)
        ends[-1] = size
        self.table = torch.from_numpy(np.repeat(np.arange(len(p), dtype=np.int32), np.diff(ends, prepend=0)))

    def __call__(self, shape, generator):
        return self.table[torch.randint(len(self.table), shape, generator=generator)].long()


def keep_probabilities(counts, sample):
    """word2vec's frequent-word subsampling: P(keep w) = (sqrt(c/(s*T)) + 1) * s*T / c, capped at 1."""
    counts = torch.as_tensor(np.asarray(counts, dtype=np.float64)).clamp(min=1)
    if sample <= 0:
        return torch.ones(len(counts))
    st = sample * counts.sum()
    return ((torch.sqrt(counts / st) + 1) * st / counts).clamp(max=1.0).float()


class JoseTrainer:
    """Word, context and document vectors trained over an EncodedCorpus (see corpus.py).

    Each chunk of the corpus is subsampled, then cut into spans of batch_words positions; `threads`
    Python threads take the next span in turn and run the compiled loop (kernel.train_span) on it,
    all on the same table without locks ("Hogwild", as the C program's pthreads). The learning rate
    decays linearly from span to span."""

    def __init__(self, counts, n_docs, dim=100, window=5, negative=2, margin=0.15, alpha=0.04, epochs=10,
                 sample=1e-3, batch_words=10000, chunk_words=1 << 20, threads=1, seed=1, refit_epochs=5):
        if negative < 1 or window < 1 or dim < 1 or epochs < 0 or batch_words < 1:
            raise ValueError("negative, window, dim and batch_words must be at least 1, epochs at least 0")
        self.window, self.negative, self.margin, self.alpha, self.epochs = window, negative, margin, alpha, epochs
        self.refit_epochs = refit_epochs
        self.batch_words, self.chunk_words, self.threads = batch_words, chunk_words, max(1, int(threads or 1))
        self.n_words = len(counts)
        self.generators = [torch.Generator().manual_seed(seed + 7919 * i) for i in range(self.threads)]
        self.sampler = NegativeSampler(counts)
        self.keep = keep_probabilities(counts, sample)
        # one table: words [0, V), contexts [V, 2V), documents [2V, 2V + n_docs)
        self.table = random_unit(2 * self.n_words + n_docs, dim, self.generators[0])

    @property
    def words(self):
        return self.table[: self.n_words]

    @property
    def contexts(self):
        return self.table[self.n_words : 2 * self.n_words]

    @property
    def docs(self):
        return self.table[2 * self.n_words :]

    def span(self, tokens, docs, start, end, alpha, generator):
        """Train positions [start, end) of a subsampled chunk (numpy int64 word ids and document rows):
        each position draws its window radius in 1..window (word2vec's dynamic window) and 2K
        negatives. Returns (summed hinge, hinge terms)."""
        radius = self.window - torch.randint(0, self.window, (end - start,), generator=generator)
        negatives = self.sampler((end - start, 2 * self.negative), generator)
        return kernel.train_span(self.table.numpy(), tokens, docs, start, end, radius.numpy(), negatives.numpy(),
                                 self.n_words, self.margin, alpha)

    def train(self, corpus, progress=None, start_epoch=0, on_epoch_end=None):
        """Epochs start_epoch..epochs-1 over the corpus. progress: optional callable(words_done,
        total_words, mean_loss); on_epoch_end: optional callable(epochs_done) (resume checkpoints).
        Returns run statistics."""
        total = corpus.n_words * self.epochs
        state = {"done": float(corpus.n_words * start_epoch), "loss": 0.0, "terms": 0}
        lock = threading.Lock()

        def work(worker, tokens, docs, raw, cursor):
            n = len(tokens)
            while True:
                with lock:
                    s = cursor[0]
                    cursor[0] += self.batch_words
                    alpha = self.alpha * max(1 - state["done"] / (total + 1), 1e-4)  # linear decay
                if s >= n:
                    return
                e = min(s + self.batch_words, n)
                loss, terms = self.span(tokens, docs, s, e, alpha, self.generators[worker])
                with lock:
                    state["done"] += raw * (e - s) / n
                    state["loss"] += loss
                    state["terms"] += terms
                    if progress:
                        progress(state["done"], total, state["loss"] / max(state["terms"], 1))

        start = time.perf_counter()
        previous = torch.get_num_threads()
        torch.set_num_threads(1)  # torch only draws random numbers here; idle OpenMP workers would spin
        try:
            with ThreadPoolExecutor(self.threads) as pool:
                for epoch in range(start_epoch, self.epochs):
                    for ids, rows in corpus.chunks(self.chunk_words):
                        raw = len(ids)
                        keep = self.keep[torch.from_numpy(ids).long()]
                        kept = (torch.rand(raw, generator=self.generators[0]) < keep).numpy()
                        tokens, docs = ids[kept].astype(np.int64), rows[kept]
                        if not len(tokens):
                            state["done"] += raw
                        elif self.threads == 1:
                            work(0, tokens, docs, raw, [0])
                        else:
                            cursor = [0]
                            for job in [pool.submit(work, i, tokens, docs, raw, cursor) for i in range(self.threads)]:
                                job.result()
                    if on_epoch_end:
                        on_epoch_end(epoch + 1)
                fit_documents(self.table.numpy(), 2 * self.n_words, lambda: corpus.chunks(self.chunk_words), self.keep,
                              self.sampler, self.negative, self.margin, self.alpha, self.refit_epochs,
                              self.generators[0], pool, self.threads)
        finally:
            torch.set_num_threads(previous)
        seconds = time.perf_counter() - start
        trained = corpus.n_words * (self.epochs - start_epoch)
        return {"train_seconds": round(seconds, 3), "words_per_s": round(trained / max(seconds, 1e-9)),
                "mean_loss": round(state["loss"] / max(state["terms"], 1), 6)}


def fit_documents(table, first, chunks, keep, sampler, negative, margin, alpha, epochs, generator, pool=None,
                  threads=1):
    """`epochs` passes of the document hinge with the word rows of `table` frozen (kernel.fit_docs),
    the learning rate decaying linearly from alpha. chunks(): iterable of (word ids, document index
    of each word, ascending), document i being row first + i. Each word's step is weighted by its
    subsampling keep probability (what training sees on average), so frequent words do not swamp a
    document. pool (of `threads` threads): shares each chunk's documents out; documents are
    independent once the words are frozen, so the result is the same with or without it."""
    workers = threads if pool else 1
    for epoch in range(epochs):
        lr = alpha * max(1 - epoch / epochs, 1e-4)
        for ids, rows in chunks():
            if not len(ids):
                continue
            tokens = ids.astype(np.int64)
            weights = keep[torch.from_numpy(tokens)].numpy()
            negatives = sampler((len(tokens), negative), generator).numpy()
            lo, hi = int(rows[0]), int(rows[-1]) + 1
            offsets = np.concatenate([[0], np.cumsum(np.bincount(rows - lo, minlength=hi - lo))])
            # contiguous groups of documents with about the same number of words, one per thread
            cuts = np.searchsorted(offsets, np.arange(1, workers) * len(tokens) / workers).clip(1, hi - lo)
            bounds = [0, *sorted(set(cuts.tolist())), hi - lo]

            def run(a, b):
                kernel.fit_docs(table, tokens, offsets[a : b + 1], first + lo + a, weights, negatives, margin, lr)

            list((pool.map if workers > 1 else map)(run, bounds[:-1], bounds[1:]))


def infer_vectors(words, docs, counts, negative=2, margin=0.15, alpha=0.04, epochs=50, sample=1e-3, seed=1):
    """Vectors for new documents (lists of word ids), the word vectors frozen: the word-document hinge
    of training minimised over the new document vectors only (fit_documents). A document without
    words keeps a random direction."""
    g = torch.Generator().manual_seed(seed)
    V = len(words)
    table = np.concatenate([words.numpy(), random_unit(len(docs), words.shape[1], g).numpy()])
    ids = np.array([w for d in docs for w in d], dtype=np.int64)
    rows = np.repeat(np.arange(len(docs)), [len(d) for d in docs])
    fit_documents(table, V, lambda: [(ids, rows)], keep_probabilities(counts, sample), NegativeSampler(counts),
                  negative, margin, alpha, epochs, g)
    return torch.from_numpy(table[V:])

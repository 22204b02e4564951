"""JoSE training: Riemannian SGD on the unit sphere, vectorised over large batches.

Model (Meng et al., "Spherical Text Embedding", NeurIPS 2019): word vectors u, context vectors v and
document vectors d on the unit sphere. For a word u at some position, every word v in its window and
its document d should be nearer to u than a negative word u' drawn from unigram^0.75:
    max(0, m - cos(u, v) + cos(u', v))   for every (word, context word) pair
    max(0, m - cos(u, d) + cos(u', d))   for every word of a document
These two hinges are the paper's max(0, m - cos(u,v) - cos(u,d) + cos(u',v) + cos(u',d)) split the
way the authors' C program trains it, so every word updates its document even when its window is
empty (one-word documents still get a vector).

Update of a parameter x with Euclidean gradient e (the paper's Riemannian SGD):
    x <- normalise(x - alpha * (1 + cos(x, e)) * (I - x x^T) e)
the gradient projected on the sphere's tangent space at x, scaled up when x points away from where it
should go (1 + cos(x, e) = 1 - cos(x, -e), in [0, 2]), then retracted onto the sphere.

Vectorisation. Word, context and document vectors live in one table. Each word position draws its
window radius r in 1..window (word2vec's dynamic window); positions of equal radius are trained
together, position i as one block of rows [u, u'_1..u'_K, t_1..t_2r+1]: its 2r context slots (masked
where they leave the document) and its document. The K negatives are shared by all targets of a
position (as HogBatch, Ji et al. 2016, does for word2vec), which turns the work into small batched
matmuls: the cosines [u; u'] t^T, then every step, a linear combination of the block's own rows.
One index_add_ writes the steps back (a row seen several times in a batch gets the sum of its
steps, where the C program applies them one after the other from many threads).

Rows are normalised lazily: a row's step is scaled by the row's norm, so the stored direction is
exactly normalise(x + alpha * steps), and norms only grow slowly. The rows touched in nearly every
batch (the most frequent words and contexts, the documents of the span just trained) are
renormalised after each span, the whole table after each chunk of the corpus.
"""
import functools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F


def random_unit(n, dim, generator):
    return F.normalize(torch.randn(n, dim, generator=generator), dim=1)


class NegativeSampler:
    """Words drawn with probability count^0.75 through word2vec's unigram table: word i fills a share
    of the table proportional to its probability, and a draw reads one random entry."""

    def __init__(self, counts, power=0.75, size=None):
        p = np.asarray(counts, dtype=np.float64) ** power
        size = size or int(min(1e7, max(1e5, 1000 * len(p))))
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


@functools.lru_cache(maxsize=None)
def _offsets(radius):
    return torch.cat([torch.arange(-radius, 0), torch.arange(1, radius + 1)])


def window_slots(docs, pos, radius):
    """Context slots of positions `pos` at distance 1..radius on both sides: (B, 2*radius) positions
    and a mask of those inside the chunk and the same document."""
    ctx = pos[:, None] + _offsets(radius)
    valid = (ctx >= 0) & (ctx < len(docs))
    ctx.clamp_(0, len(docs) - 1)
    valid &= docs[ctx] == docs[pos][:, None]
    return ctx, valid


def hinge_updates(G, K, valid, neg_is_u, margin, alpha, update_words=True):
    """Riemannian SGD steps for blocks G (B, R = 1+K+T, dim) of rows [u, u'_1..u'_K, t_1..t_T] (any
    norm: a row stands for its direction) with loss sum over valid targets t and negatives k of
    max(0, m - cos(u, t) + cos(u'_k, t)).

    valid (B, T) masks target slots; neg_is_u (B, K) masks negatives equal to the word itself.
    Every step is a combination of the block's own rows, so the result is coef @ G for a (B, R, R)
    coefficient matrix. A row's step is scaled by its norm, so adding delta to the rows and
    normalising gives exactly normalise(x + alpha * step) for the unit vectors.
    Returns (delta (B, R, dim), summed hinge). update_words=False leaves u and the negatives
    unchanged (only the targets move)."""
    B, R, _ = G.shape
    r = torch.linalg.vector_norm(G, dim=2).clamp_(min=1e-12)  # (B, R)
    A, Tg = G[:, : 1 + K], G[:, 1 + K :]
    cos = torch.bmm(A, Tg.transpose(1, 2)) / (r[:, : 1 + K, None] * r[:, None, 1 + K :])
    f, h = cos[:, :1], cos[:, 1:]  # (B, 1, T) cos(u, t_j); (B, K, T) cos(u'_k, t_j)
    score = margin - f + h  # (B, K, T)
    w = ((score > 0) & valid[:, None, :] & ~neg_is_u[:, :, None]).to(G.dtype)
    loss = (score * w).sum()

    coef = G.new_zeros(B, R, R)
    diag = coef.diagonal(dim1=1, dim2=2)
    # target t_j: e = -(u - u'_k) per active k; |u - u'_k| = sqrt(2 - 2 cos(u, u'_k));
    # step (I - t t^T)(u - u'_k) = u - u'_k - gap t
    hu = torch.bmm(A[:, 1:], A[:, :1].transpose(1, 2)) / (r[:, 1 : 1 + K, None] * r[:, :1, None])  # cos(u'_k, u)
    gap = f - h  # t . (u - u'_k)
    wt = w * (1 - gap / torch.sqrt((2 - 2 * hu).clamp(min=1e-12)))
    coef[:, 1 + K :, 0] = wt.sum(1)
    coef[:, 1 + K :, 1 : 1 + K] = -wt.transpose(1, 2)
    diag[:, 1 + K :] = -(wt * gap).sum(1)
    if update_words:
        # u: e = -t per active (k, t), scale 1 - cos(u, t); step t - cos(u, t) u
        a = w.sum(1) * (1 - f[:, 0])  # (B, T)
        coef[:, 0, 1 + K :] = a
        diag[:, 0] = -(a * f[:, 0]).sum(1)
        # u'_k: e = t, scale 1 + cos(u'_k, t); step cos(u'_k, t) u'_k - t
        c = w * (1 + h)  # (B, K, T)
        coef[:, 1 : 1 + K, 1 + K :] = -c
        diag[:, 1 : 1 + K] = (c * h).sum(2)
    coef *= (alpha * r)[:, :, None] / r[:, None, :]  # unit rows are g_j / r_j; row i moves by r_i * step
    return torch.bmm(coef, G), loss


HOT_ROWS = 1024  # most frequent words (and contexts): renormalised after every span


def normalise_(rows):
    rows.div_(torch.linalg.vector_norm(rows, dim=1, keepdim=True).clamp_(min=1e-12))


class JoseTrainer:
    """Word, context and document vectors trained over an EncodedCorpus (see corpus.py).

    threads > 1 runs that many Python threads on the same table, each taking the next span of the
    current chunk (lock-free "Hogwild" updates, as the C program's pthreads); torch ops release the
    GIL and run single-threaded inside each worker, so the cores never wait on one another.
    A span is batch_words * window positions, so each radius group is about batch_words positions."""

    def __init__(self, counts, n_docs, dim=100, window=5, negative=2, margin=0.15, alpha=0.04, epochs=10,
                 sample=1e-3, batch_words=512, chunk_words=1 << 20, threads=1, seed=1):
        if negative < 1 or window < 1 or dim < 1 or epochs < 0 or batch_words < 1:
            raise ValueError("negative, window, dim and batch_words must be at least 1, epochs at least 0")
        self.window, self.negative, self.margin, self.alpha, self.epochs = window, negative, margin, alpha, epochs
        self.batch_words, self.chunk_words, self.threads = batch_words, chunk_words, max(1, int(threads or 1))
        self.n_words = len(counts)
        self.generators = [torch.Generator().manual_seed(seed + 7919 * i) for i in range(self.threads)]
        self.sampler = NegativeSampler(counts)
        self.keep = keep_probabilities(counts, sample)
        # one table: words [0, V), contexts [V, 2V), documents [2V, 2V + n_docs)
        self.table = random_unit(2 * self.n_words + n_docs, dim, self.generators[0])
        self.hot = min(self.n_words, HOT_ROWS)

    @property
    def words(self):
        return self.table[: self.n_words]

    @property
    def contexts(self):
        return self.table[self.n_words : 2 * self.n_words]

    @property
    def docs(self):
        return self.table[2 * self.n_words :]

    def step(self, tokens, docs, pos, radius, alpha, generator):
        """Train on the word positions `pos` (ascending) of a chunk, all with the same window radius;
        returns (summed hinge, hinge terms)."""
        V, K = self.n_words, self.negative
        ctx, valid = window_slots(docs, pos, radius)
        word = tokens[pos]
        doc = docs[pos] + 2 * V
        neg = self.sampler((len(pos), K), generator)
        # invalid slots point at the document row: they get a zero step
        targets = torch.where(valid, tokens[ctx] + V, doc[:, None])
        rows = torch.cat([word[:, None], neg, targets, doc[:, None]], 1)
        valid = torch.cat([valid, valid.new_ones(len(word), 1)], 1)
        G = self.table.index_select(0, rows.view(-1)).view(rows.shape[0], rows.shape[1], -1)
        delta, loss = hinge_updates(G, K, valid, neg == word[:, None], self.margin, alpha)
        self.table.index_add_(0, rows.view(-1), delta.view(-1, G.shape[2]))
        return float(loss), int(valid.sum()) * K

    def span(self, tokens, docs, start, end, alpha, generator):
        """Train on positions [start, end): each draws its window radius in 1..window (word2vec's
        dynamic window), and the positions are trained in groups of equal radius, so a block holds
        only the 2*radius context slots it can use."""
        radius = self.window - torch.randint(0, self.window, (end - start,), generator=generator)
        loss, terms = 0.0, 0
        for r in range(1, self.window + 1):
            pos = (radius == r).nonzero().view(-1) + start
            if len(pos):
                lo, te = self.step(tokens, docs, pos, r, alpha, generator)
                loss, terms = loss + lo, terms + te
        # rows are normalised lazily (see hinge_updates); the rows updated in almost every span, the
        # most frequent words and contexts and this span's documents, are put back on the sphere now
        # so their norms never grow far, the rest once per chunk
        V = self.n_words
        normalise_(self.table[: self.hot])
        normalise_(self.table[V : V + self.hot])
        normalise_(self.table[2 * V + int(docs[start]) : 2 * V + int(docs[end - 1]) + 1])
        return loss, terms

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
                    cursor[0] += self.batch_words * self.window
                    alpha = self.alpha * max(1 - state["done"] / (total + 1), 1e-4)  # linear decay
                if s >= n:
                    return
                e = min(s + self.batch_words * self.window, n)
                loss, terms = self.span(tokens, docs, s, e, alpha, self.generators[worker])
                with lock:
                    state["done"] += raw * (e - s) / n
                    state["loss"] += loss
                    state["terms"] += terms
                    if progress:
                        progress(state["done"], total, state["loss"] / max(state["terms"], 1))

        start = time.perf_counter()
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(self.threads) as pool:
                for epoch in range(start_epoch, self.epochs):
                    for ids, rows in corpus.chunks(self.chunk_words):
                        tokens, docs = torch.from_numpy(ids).long(), torch.from_numpy(rows)
                        raw = len(tokens)
                        kept = torch.rand(raw, generator=self.generators[0]) < self.keep[tokens]
                        tokens, docs = tokens[kept], docs[kept]
                        if len(tokens) and self.threads == 1:
                            work(0, tokens, docs, raw, [0])
                        elif len(tokens):
                            cursor = [0]
                            jobs = [pool.submit(work, i, tokens, docs, raw, cursor) for i in range(self.threads)]
                            for job in jobs:
                                job.result()
                        else:
                            state["done"] += raw
                        normalise_(self.table)
                    if on_epoch_end:
                        on_epoch_end(epoch + 1)
        finally:
            torch.set_num_threads(previous)
        seconds = time.perf_counter() - start
        trained = corpus.n_words * (self.epochs - start_epoch)
        return {"train_seconds": round(seconds, 3), "words_per_s": round(trained / max(seconds, 1e-9)),
                "mean_loss": round(state["loss"] / max(state["terms"], 1), 6)}


def infer_vectors(words, docs, counts, negative=2, margin=0.15, alpha=0.04, epochs=50, sample=1e-3, seed=1):
    """Vectors for new documents (lists of word ids), the word vectors frozen: the word-document hinge
    of training minimised over the new document vectors only. Each word's step is weighted by its
    subsampling keep probability (what training sees on average), so frequent words do not swamp the
    document. A document without words keeps a random direction."""
    g = torch.Generator().manual_seed(seed)
    sampler = NegativeSampler(counts)
    keep = keep_probabilities(counts, sample)
    D = random_unit(len(docs), words.shape[1], g)
    tokens = torch.tensor([w for d in docs for w in d], dtype=torch.long)
    rows = torch.repeat_interleave(torch.arange(len(docs)), torch.tensor([len(d) for d in docs], dtype=torch.long))
    if not len(tokens):
        return D
    valid = torch.ones(len(tokens), 1, dtype=torch.bool)
    weight = keep[tokens][:, None]
    previous = torch.get_num_threads()
    if len(tokens) < 1 << 14:
        torch.set_num_threads(1)  # small tensors: thread hand-offs cost more than they save
    try:
        for epoch in range(epochs):
            lr = alpha * max(1 - epoch / epochs, 1e-4)
            neg = sampler((len(tokens), negative), g)
            G = torch.cat([words[tokens][:, None], words[neg], D[rows][:, None]], 1)
            delta, _ = hinge_updates(G, negative, valid, neg == tokens[:, None], margin, lr, update_words=False)
            D = F.normalize(D.index_add(0, rows, delta[:, -1] * weight), dim=1)
    finally:
        torch.set_num_threads(previous)
    return D

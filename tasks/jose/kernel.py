"""The compiled loops of JoSE (numba): training over a span of word positions, and fitting document
vectors with the words frozen.

Every position trains two blocks, as the authors' C program does: the word u against the context words
t_j of its window, and u against its document d, each block with its own K negative words u'_k drawn
from unigram^0.75 (shared by the targets of a block, as HogBatch does for word2vec). A block's loss is
    sum_{k,j} max(0, m - cos(u, t_j) + cos(u'_k, t_j)),
its cosines are all taken first, then every row of the block steps by the paper's Riemannian SGD rule
    x <- normalise(x - alpha (1 + cos(x, e)) (I - x x^T) e)
for its Euclidean gradient e (tests/test_jose.py checks every row against a term-by-term version of
the rule). Rows stay on the unit sphere, so cosines are dot products.

The loop runs without the GIL, so several Python threads train different spans of the same table at
once, without locks ("Hogwild", as the C program's pthreads do).
"""
import numpy as np
from numba import njit

_JIT = dict(nogil=True, fastmath=True, cache=True)


@njit(**_JIT)
def _dot(table, a, b):
    s = np.float32(0.0)
    for c in range(table.shape[1]):
        s += table[a, c] * table[b, c]
    return s


@njit(**_JIT)
def _step(table, x, keep, step, alpha):
    """Row x <- normalise(keep * x + alpha * step)."""
    s = np.float32(0.0)
    for c in range(table.shape[1]):
        v = keep * table[x, c] + alpha * step[c]
        table[x, c] = v
        s += v * v
    if s > 0:
        inv = np.float32(1.0) / np.sqrt(s)
        for c in range(table.shape[1]):
            table[x, c] *= inv


@njit(**_JIT)
def _block(table, rows, targets, nt, margin, alpha, cos, coef, tcoef, tself, rself, inv_dist, acc, step):
    """One block: rows = [u, u'_1..u'_K] (word rows), targets[:nt] (context or document rows).
    The other arguments are scratch buffers. Returns the block's summed hinge."""
    one, zero = np.float32(1.0), np.float32(0.0)
    K, dim = len(rows) - 1, table.shape[1]
    word = rows[0]
    for j in range(nt):
        for a in range(K + 1):
            cos[a, j] = _dot(table, rows[a], targets[j])
    for k in range(K):
        inv_dist[k] = zero  # taken when a hinge of u'_k is first active
    loss = 0.0
    for a in range(K + 1):
        rself[a] = zero
        for j in range(nt):
            coef[a, j] = zero
            tcoef[a, j] = zero
    for j in range(nt):
        tself[j] = zero
    for j in range(nt):
        f = cos[0, j]
        for k in range(K):
            h = cos[k + 1, j]
            s = margin - f + h
            if s <= 0 or rows[k + 1] == word:
                continue
            loss += s
            # u: e = -t, scale 1 - f; step t - f u
            coef[0, j] += one - f
            rself[0] -= (one - f) * f
            # u'_k: e = t, scale 1 + h; step h u'_k - t
            coef[k + 1, j] -= one + h
            rself[k + 1] += (one + h) * h
            # t: e = -(u - u'_k), scale 1 - (f - h) / |u - u'_k|; step u - u'_k - (f - h) t
            if inv_dist[k] == 0:  # |u - u'_k| = sqrt(2 - 2 cos(u, u'_k))
                inv_dist[k] = one / np.sqrt(max(2 * (one - _dot(table, word, rows[k + 1])), np.float32(1e-12)))
            b = one - (f - h) * inv_dist[k]
            tcoef[0, j] += b
            tcoef[k + 1, j] -= b
            tself[j] -= b * (f - h)
    if loss == 0:
        return loss
    # every step is taken from the block's values before any of them moves
    for a in range(K + 1):
        for c in range(dim):
            acc[a, c] = zero
    for j in range(nt):
        for a in range(K + 1):
            ca = coef[a, j]
            if ca != 0:
                t = targets[j]
                for c in range(dim):
                    acc[a, c] += ca * table[t, c]
    for j in range(nt):
        if tcoef[0, j] == 0:
            continue
        for c in range(dim):
            step[c] = zero
        for a in range(K + 1):
            ca, x = tcoef[a, j], rows[a]
            for c in range(dim):
                step[c] += ca * table[x, c]
        _step(table, targets[j], one + alpha * tself[j], step, alpha)
    for a in range(K + 1):
        if a == 0 or rows[a] != word:
            _step(table, rows[a], one + alpha * rself[a], acc[a], alpha)
    return loss


@njit(**_JIT)
def _scratch(K, T, dim):
    f4 = np.float32
    return (np.empty((K + 1, T), f4), np.empty((K + 1, T), f4), np.empty((K + 1, T), f4), np.empty(T, f4),
            np.empty(K + 1, f4), np.empty(K, f4), np.empty((K + 1, dim), f4), np.empty(dim, f4))


@njit(**_JIT)
def fit_docs(table, tokens, offsets, first, weights, negatives, margin, alpha):
    """One pass of the document hinge over documents first, first+1, ... with the word rows frozen:
    document d (rows offsets[d]..offsets[d+1]-1 of tokens, negatives, weights) takes the summed step
    of all its words, each taken from the same d and scaled by alpha * weights[i]; then d is
    renormalised. Summing over the whole document (one full-batch step per pass) moves d towards the
    middle of its words; one step per word would stop wherever each word's margin is first met.
    Used by infer_vector and to refit the training documents. Returns the summed hinge."""
    dim, K = table.shape[1], negatives.shape[1]
    one, zero = np.float32(1.0), np.float32(0.0)
    alpha, margin = np.float32(alpha), np.float32(margin)
    step = np.empty(dim, np.float32)
    loss = 0.0
    for doc in range(len(offsets) - 1):
        d = first + doc
        for c in range(dim):
            step[c] = zero
        own = zero  # the coefficient of d in its own step
        for i in range(offsets[doc], offsets[doc + 1]):
            u = tokens[i]
            f = _dot(table, u, d)
            for k in range(K):
                n = negatives[i, k]
                h = _dot(table, n, d)
                s = margin - f + h
                if s <= 0 or n == u:
                    continue
                loss += s
                # d: e = -(u - u'_k), scale 1 - (f - h) / |u - u'_k|; step u - u'_k - (f - h) d
                b = weights[i] * (one - (f - h) / np.sqrt(max(2 * (one - _dot(table, u, n)), np.float32(1e-12))))
                own += b * (f - h)
                for c in range(dim):
                    step[c] += b * (table[u, c] - table[n, c])
        _step(table, d, one - alpha * own, step, alpha)
    return loss


@njit(**_JIT)
def train_span(table, tokens, docs, start, end, radius, negatives, n_words, margin, alpha):
    """Train positions [start, end) of a chunk; returns (summed hinge, hinge terms).

    tokens: word ids of the chunk (after subsampling); docs: each position's document row, positions
    of a document being contiguous; radius: the window radius of each position of the span;
    negatives: (end - start, 2K) word ids, K for the context block and K for the document block.
    table rows: words [0, V), contexts [V, 2V), documents from 2V (V = n_words)."""
    n, dim = len(tokens), table.shape[1]
    K = negatives.shape[1] // 2
    T = 2 * (np.max(radius) if end > start else 0) + 1
    alpha, margin = np.float32(alpha), np.float32(margin)
    targets, rows = np.empty(T, np.int64), np.empty(K + 1, np.int64)
    cos, coef, tcoef, tself, rself, inv_dist, acc, step = _scratch(K, T, dim)
    loss, terms = 0.0, 0
    for i in range(start, end):
        word, doc, r = tokens[i], docs[i], radius[i - start]
        nt = 0
        for j in range(max(i - r, 0), min(i + r + 1, n)):
            if j != i and docs[j] == doc:
                targets[nt] = n_words + tokens[j]
                nt += 1
        rows[0] = word
        if nt:
            for k in range(K):
                rows[k + 1] = negatives[i - start, k]
            loss += _block(table, rows, targets, nt, margin, alpha, cos, coef, tcoef, tself, rself,
                           inv_dist, acc, step)
        for k in range(K):
            rows[k + 1] = negatives[i - start, K + k]
        targets[0] = 2 * n_words + doc
        loss += _block(table, rows, targets, 1, margin, alpha, cos, coef, tcoef, tself, rself,
                           inv_dist, acc, step)
        terms += (nt + 1) * K
    return loss, terms


def compile_kernel():
    """Compile the loops for the argument types the trainer passes (numba caches the machine code on
    disk, so only the first call after an install compiles)."""
    table = np.zeros((5, 2), np.float32)
    table[:, 0] = 1
    ints = np.zeros(2, np.int64)
    train_span(table, ints, ints, 0, 2, np.ones(2, np.int64), np.zeros((2, 2), np.int64), 2, 0.15, 0.04)
    fit_docs(table, ints, ints, 4, np.ones(2, np.float32), np.zeros((2, 2), np.int64), 0.15, 0.04)

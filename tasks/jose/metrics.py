"""Evaluation helpers for embeddings: word-similarity Spearman, k-NN document classification and
spherical k-means clustering NMI. Plain torch/numpy, so no scikit-learn or scipy is needed."""
import math
from collections import Counter

import numpy as np
import torch
import torch.nn.functional as F


def rankdata(x):
    """Ranks 1..n, ties get their average rank (as scipy.stats.rankdata)."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    sx = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sx[j + 1] == sx[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(a, b):
    """Spearman rank correlation (Pearson correlation of the ranks); nan with fewer than 2 pairs."""
    if len(a) < 2:
        return float("nan")
    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = math.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / den) if den else float("nan")


def word_cosines(model, pairs):
    """The model's cosine of each (w1, w2, gold score) pair; None when a word is not in the vocabulary."""
    return [model.similarity(w1, w2) if w1 in model.index and w2 in model.index else None
            for w1, w2, _ in pairs]


def word_similarity(pairs, cosines):
    """Spearman of the model cosines (word_cosines) vs the gold scores over the pairs with a cosine;
    returns {"spearman", "pairs" (used), "pairs_skipped"}."""
    used = [(c, score) for c, (_, _, score) in zip(cosines, pairs) if c is not None]
    rho = spearman([c for c, _ in used], [score for _, score in used])
    return {"spearman": rho, "pairs": len(used), "pairs_skipped": len(pairs) - len(used)}


def knn_predict(vectors, labels, k=3, batch=1024):
    """Leave-one-out k-NN classification by cosine: each document takes the majority label of its k
    nearest other documents (ties go to the label of the nearest among the tied). None when k < 1."""
    X = F.normalize(torch.as_tensor(np.asarray(vectors), dtype=torch.float32), dim=1)
    labels = list(labels)
    n = len(labels)
    if n != len(X):
        raise ValueError(f"{len(X)} vectors but {n} labels")
    k = min(k, n - 1)
    if k < 1:
        return [None] * n
    predictions = []
    for s in range(0, n, batch):
        sims = X[s : s + batch] @ X.T
        sims[torch.arange(len(sims)), torch.arange(s, s + len(sims))] = -float("inf")
        for idx in sims.topk(k, dim=1).indices.tolist():
            votes = Counter(labels[j] for j in idx)
            best = max(votes.values())
            predictions.append(next(labels[j] for j in idx if votes[labels[j]] == best))
    return predictions


def knn_accuracy(vectors, labels, k=3, batch=1024):
    """Share of documents whose leave-one-out k-NN label (knn_predict) is their own; nan when k < 1."""
    labels = list(labels)
    predictions = knn_predict(vectors, labels, k, batch)
    if predictions and predictions[0] is None:
        return float("nan")
    return sum(p == y for p, y in zip(predictions, labels)) / len(labels)


def spherical_kmeans(vectors, k, iters=50, seed=0, restarts=10):
    """Cluster unit vectors by cosine (k-means++ seeding, centroids renormalised); of `restarts` runs,
    the one with the largest total cosine to its centroids (one run can stop in a poor local
    optimum). Returns labels."""
    X = F.normalize(torch.as_tensor(np.asarray(vectors), dtype=torch.float32), dim=1)
    g = torch.Generator().manual_seed(seed)
    best, best_score = None, -float("inf")
    for _ in range(restarts):
        assign, score = _kmeans_once(X, min(k, len(X)), iters, g)
        if score > best_score:
            best, best_score = assign, score
    return best.tolist()


def _kmeans_once(X, k, iters, g):
    n = len(X)
    centres = [int(torch.randint(n, (1,), generator=g))]
    dist = 1 - X @ X[centres[0]]
    for _ in range(1, k):
        p = dist.clamp(min=0) ** 2
        nxt = int(torch.multinomial(p, 1, generator=g)) if p.sum() > 0 else int(torch.randint(n, (1,), generator=g))
        centres.append(nxt)
        dist = torch.minimum(dist, 1 - X @ X[nxt])
    C = X[centres].clone()
    assign = None
    for _ in range(iters):
        sims = X @ C.T
        new = sims.argmax(1)
        if assign is not None and torch.equal(new, assign):
            break
        assign = new
        sums = torch.zeros_like(C).index_add_(0, assign, X)
        empty = sums.norm(dim=1) == 0
        C = torch.where(empty[:, None], C, F.normalize(sums, dim=1))
    return assign, float(sims.gather(1, assign[:, None]).sum())


def nmi(a, b):
    """Normalised mutual information with the arithmetic-mean normaliser (scikit-learn's default)."""
    n = len(a)
    if n == 0:
        return float("nan")
    ca, cb, cab = Counter(a), Counter(b), Counter(zip(a, b))
    mi = sum(c / n * math.log(c * n / (ca[x] * cb[y])) for (x, y), c in cab.items())
    ha = -sum(c / n * math.log(c / n) for c in ca.values())
    hb = -sum(c / n * math.log(c / n) for c in cb.values())
    if ha == 0 and hb == 0:
        return 1.0
    return mi / ((ha + hb) / 2) if ha + hb else 0.0


def cluster(vectors, labels, seed=0):
    """The spherical k-means cluster of each vector, with as many clusters as distinct labels."""
    return spherical_kmeans(vectors, len(set(labels)), seed=seed)

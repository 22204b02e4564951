"""Metrics shared by tasks: character ROUGE/BLEU (as in the CSL benchmark), P/R/F1 from counts."""
import math
from collections import Counter


def _ngrams(seq, n):
    return Counter(tuple(seq[i : i + n]) for i in range(len(seq) - n + 1))


def prf(overlap, n_pred, n_gold):
    """Precision, recall and F1 from counts: `overlap` of the `n_pred` predicted items are among the
    `n_gold` gold ones (an empty side scores 0)."""
    precision = overlap / n_pred if n_pred else 0.0
    recall = overlap / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def rouge_n(pred, ref, n):
    a, b = _ngrams(pred, n), _ngrams(ref, n)
    return prf(sum((a & b).values()), sum(a.values()), sum(b.values()))["f1"]


def lcs(a, b):
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(pred, ref):
    return prf(lcs(pred, ref), len(pred), len(ref))["f1"]


def sentence_bleu(pred, ref, max_n=4):
    """Character BLEU-4 with smoothing for empty higher-order matches and the brevity penalty."""
    if not pred:
        return 0.0
    logs = []
    for n in range(1, max_n + 1):
        a, b = _ngrams(pred, n), _ngrams(ref, n)
        hit, total = sum((a & b).values()), max(sum(a.values()), 1)
        if hit == 0:
            if n == 1:
                return 0.0
            hit = 0.1  # NLTK's smoothing method1: a small count for empty higher-order matches
        logs.append(math.log(hit / total))
    bp = 1.0 if len(pred) > len(ref) else math.exp(1 - len(ref) / len(pred))
    return bp * math.exp(sum(logs) / max_n)


def text_generation_scores(predictions, references):
    """Mean character-level ROUGE-1/2/L (F1) and BLEU over pairs of strings."""
    n = max(len(references), 1)
    scores = {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0, "bleu": 0.0}
    for p, r in zip(predictions, references):
        p, r = list(p.replace(" ", "")), list(r.replace(" ", ""))
        scores["rouge-1"] += rouge_n(p, r, 1)
        scores["rouge-2"] += rouge_n(p, r, 2)
        scores["rouge-l"] += rouge_l(p, r)
        scores["bleu"] += sentence_bleu(p, r)
    return {k: v / n for k, v in scores.items()}

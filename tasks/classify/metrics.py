"""Accuracy, micro- and macro-F1, per-label precision / recall / F1; for multi-label data also micro
precision / recall and the exact-match (subset) accuracy.

Runs keep the checkpoint with the best micro-F1: every (text, label) decision counts once, so a rare
label cannot swing it the way it swings macro-F1 on a small dev set; macro-F1 is reported beside it.
With one gold and one predicted label per text (single-label data) micro precision, recall and F1 all
equal the accuracy, so single-label runs are kept by their accuracy, reported under both names.
"""
from collections import Counter

from nlpkit.metrics import prf


def _per_label(correct, predicted, gold, labels):
    return {label: {**prf(correct[label], predicted[label], gold[label]), "support": gold[label]}
            for label in labels}


def _macro(per_label):
    return sum(v["f1"] for v in per_label.values()) / len(per_label) if per_label else 0.0


def single_label_scores(golds, preds, labels):
    """golds, preds: label strings. Macro-F1 averages over the model's labels and any other gold label."""
    correct, predicted, gold = Counter(), Counter(preds), Counter(golds)
    correct.update(g for g, p in zip(golds, preds) if g == p)
    per_label = _per_label(correct, predicted, gold, list(labels) + sorted(set(golds) - set(labels)))
    accuracy = sum(correct.values()) / len(golds) if golds else 0.0
    return {"accuracy": accuracy, "micro_f1": accuracy, "macro_f1": _macro(per_label), "per_label": per_label}


def multi_label_scores(golds, preds, labels):
    """golds, preds: lists of label strings per text."""
    correct, predicted, gold = Counter(), Counter(), Counter()
    for g, p in zip(golds, preds):
        g, p = set(g), set(p)
        gold.update(g)
        predicted.update(p)
        correct.update(g & p)
    per_label = _per_label(correct, predicted, gold, list(labels) + sorted(set(gold) - set(labels)))
    micro = prf(sum(correct.values()), sum(predicted.values()), sum(gold.values()))
    exact = sum(set(g) == set(p) for g, p in zip(golds, preds))
    return {"micro_f1": micro["f1"], "macro_f1": _macro(per_label), "precision": micro["precision"],
            "recall": micro["recall"], "subset_accuracy": exact / len(golds) if golds else 0.0,
            "per_label": per_label}

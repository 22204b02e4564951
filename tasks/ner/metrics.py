"""Entity-level precision / recall / F1, overall (micro) and per type, and the error-analysis rows.

Tagging heads (crf, softmax) are scored by seqeval in strict mode (IOB2 or IOBES) on the character
tags of the gold and the predicted entities; global_pointer, whose entities may nest, by exact
(start, end, type) matches. On flat entities the two agree.
"""
from collections import Counter

from seqeval.metrics import classification_report
from seqeval.scheme import IOB2, IOBES

from nlpkit.metrics import prf

from .tags import tags_from_spans

SEQEVAL_SCHEMES = {"bio": IOB2, "bioes": IOBES}
_AVERAGES = ("micro avg", "macro avg", "weighted avg")


def _spans(entities):
    return {(e["start"], e["end"], e["type"]) for e in entities}


def span_scores(golds, preds):
    """Exact-match scores over lists of entity lists."""
    correct, predicted, gold = Counter(), Counter(), Counter()
    for g, p in zip(golds, preds):
        g, p = _spans(g), _spans(p)
        for spans, counter in ((g, gold), (p, predicted), (g & p, correct)):
            counter.update(kind for _, _, kind in spans)
    metrics = prf(sum(correct.values()), sum(predicted.values()), sum(gold.values()))
    metrics["per_type"] = {t: {**prf(correct[t], predicted[t], gold[t]), "support": gold[t]}
                           for t in sorted(set(gold) | set(predicted))}
    return metrics


def seqeval_scores(texts, golds, preds, scheme):
    """seqeval's strict entity scores on character tags."""
    y_true = [tags_from_spans(len(t), _spans(g), scheme) for t, g in zip(texts, golds)]
    y_pred = [tags_from_spans(len(t), _spans(p), scheme) for t, p in zip(texts, preds)]
    report = classification_report(y_true, y_pred, mode="strict", scheme=SEQEVAL_SCHEMES[scheme],
                                   output_dict=True, zero_division=0)
    micro = report.get("micro avg", {})
    metrics = {"precision": float(micro.get("precision", 0.0)), "recall": float(micro.get("recall", 0.0)),
               "f1": float(micro.get("f1-score", 0.0))}
    metrics["per_type"] = {t: {"precision": float(r["precision"]), "recall": float(r["recall"]),
                               "f1": float(r["f1-score"]), "support": int(r["support"])}
                           for t, r in sorted(report.items()) if t not in _AVERAGES}
    return metrics


def score(records, predictions, tagging, scheme):
    """-> (metrics, rows) of a tagging head (seqeval, strict) or not (exact spans): rows hold text, gold
    `entities`, `entities_pred`, `new` (predicted, not gold)
    and `lack` (gold, not predicted)."""
    golds = [r["entities"] for r in records]
    if not tagging:  # nested spans: scored as exact spans, not as tags
        metrics = span_scores(golds, predictions)
    else:
        metrics = seqeval_scores([r["text"] for r in records], golds, predictions, scheme)
    rows = []
    for record, gold, pred in zip(records, golds, predictions):
        g, p = _spans(gold), _spans(pred)
        rows.append({"text": record["text"], "entities": gold, "entities_pred": pred,
                     "new": [e for e in pred if (e["start"], e["end"], e["type"]) not in g],
                     "lack": [e for e in gold if (e["start"], e["end"], e["type"]) not in p]})
    return metrics, rows

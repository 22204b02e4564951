"""Micro precision / recall / F1 over exact triple sets, per predicate too, and the error-analysis rows."""
from collections import Counter

from nlpkit.metrics import prf


def triple_key(t):
    return (t["subject"], t["predicate"], t["object"])


def _as_dict(key):
    return {"subject": key[0], "predicate": key[1], "object": key[2]}


def score(records, predictions):
    """-> (metrics, rows): rows hold text, gold `spo_list`, `spo_list_pred`, `new` and `lack` per record."""
    correct, predicted, gold = Counter(), Counter(), Counter()
    rows = []
    for record, pred in zip(records, predictions):
        gold_keys = {triple_key(t) for t in record["spo_list"]}
        pred_keys = {triple_key(t) for t in pred}
        for keys, counter in ((gold_keys, gold), (pred_keys, predicted), (gold_keys & pred_keys, correct)):
            counter.update(k[1] for k in keys)
        rows.append({
            "text": record["text"],
            "spo_list": [_as_dict(k) for k in sorted(gold_keys)],
            "spo_list_pred": [_as_dict(k) for k in sorted(pred_keys)],
            "new": [_as_dict(k) for k in sorted(pred_keys - gold_keys)],
            "lack": [_as_dict(k) for k in sorted(gold_keys - pred_keys)],
        })
    metrics = prf(sum(correct.values()), sum(predicted.values()), sum(gold.values()))
    metrics["per_predicate"] = {
        p: {**prf(correct[p], predicted[p], gold[p]), "support": gold[p]}
        for p in sorted(set(gold) | set(predicted))
    }
    return metrics, rows

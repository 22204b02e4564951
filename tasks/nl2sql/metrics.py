"""nl2sql metrics: logic-form accuracy (the TableQA competition's), execution accuracy, per-component
accuracies, and the value-tagging head scored span by span (micro P/R/F1 over BIO chunks, as seqeval's
default mode counts them; done here because importing seqeval pulls in scikit-learn, seconds per run)."""
from nlpkit.metrics import prf

from .sql import SQLError, normalize_value


def _conds(sql, table):
    return [(c, o, normalize_value(v, table.types[c])) for c, o, v in sql["conds"]]


def _conn(sql):
    # with fewer than two conditions the connector means nothing
    return sql["cond_conn_op"] if len(sql["conds"]) > 1 else 0


def components(pred, gold, table):
    """Which parts of the predicted query equal the gold one (sets: order does not matter)."""
    pc, gc = _conds(pred, table), _conds(gold, table)
    parts = {
        "sel": set(pred["sel"]) == set(gold["sel"]),
        "agg": sorted(pred["agg"]) == sorted(gold["agg"]),
        "conn": _conn(pred) == _conn(gold),
        "cond_col": {c for c, _, _ in pc} == {c for c, _, _ in gc},
        "cond_op": {(c, o) for c, o, _ in pc} == {(c, o) for c, o, _ in gc},
        "cond_val": {(c, v) for c, _, v in pc} == {(c, v) for c, _, v in gc},
    }
    same_sel = set(zip(pred["sel"], pred["agg"])) == set(zip(gold["sel"], gold["agg"]))
    parts["logic_form"] = parts["conn"] and same_sel and set(pc) == set(gc)
    return parts


def result_rows(db, query, table_id):
    """Execution result as a sorted list (floats rounded), or None when the query cannot run."""
    try:
        rows = db.run(query, table_id)
    except SQLError:
        return None
    norm = [tuple(round(v, 6) if isinstance(v, float) else v for v in row) for row in rows]
    return sorted(norm, key=repr)


def score(items):
    """items: dicts with pred, gold, table, db, table_id, pred_tags, gold_tags -> metrics."""
    n = max(len(items), 1)
    totals = {}
    executed = correct_exec = 0
    for it in items:
        for k, ok in components(it["pred"], it["gold"], it["table"]).items():
            totals[k] = totals.get(k, 0) + int(ok)
        gold_rows = result_rows(it["db"], it["gold"], it["table_id"])
        if gold_rows is not None:
            executed += 1
            correct_exec += int(result_rows(it["db"], it["pred"], it["table_id"]) == gold_rows)
    metrics = {"logic_form_acc": totals.get("logic_form", 0) / n,
               "exec_acc": correct_exec / max(executed, 1)}
    for k in ("sel", "agg", "conn", "cond_col", "cond_op", "cond_val"):
        metrics[f"{k}_acc"] = totals.get(k, 0) / n
    gold = {(i, *c) for i, it in enumerate(items) for c in chunks(it["gold_tags"])}
    pred = {(i, *c) for i, it in enumerate(items) for c in chunks(it["pred_tags"])}
    tags = prf(len(gold & pred), len(pred), len(gold))
    metrics.update({f"value_tag_{k}": v for k, v in tags.items()})
    metrics["n"] = len(items)
    return metrics


def chunks(tags):
    """(type, start, end) of each span of BIO tags: it starts at B-X, or at an I-X that does not continue
    an X span (conlleval's reading), and runs over the I-X after it."""
    out, start, kind = [], None, None
    for t, tag in enumerate(list(tags) + ["O"]):
        prefix, _, name = tag.partition("-")
        if kind is not None and (prefix != "I" or name != kind):
            out.append((kind, start, t))
            kind = None
        if prefix in ("B", "I") and kind is None:
            start, kind = t, name
    return out

"""Head outputs -> a structured TableQA query, with character offsets kept for condition values."""
from .matching import snap
from .model import NO_OP, NOT_SELECTED
from .sql import NUMBER, OPS, cell_text


def decode(out, b, offsets, question, table, values, snap_values=True):
    """The query for example b of a batch. `offsets` are the question tokens' character spans;
    `values(j)` gives column j's cell values for snapping text values."""
    ncols = len(table.header)
    sel_p = out["sel"][b, :ncols].float().softmax(-1)
    chosen = sel_p.argmax(-1)
    sel = [j for j in range(ncols) if chosen[j] != NOT_SELECTED]
    if not sel:  # a query selects something: the column least likely to be unselected
        sel = [int(sel_p[:, NOT_SELECTED].argmin())]
    agg = [int(sel_p[j, :NOT_SELECTED].argmax()) for j in sel]

    nq = len(offsets)
    op_p = out["op"][b, 1:1 + nq].float().softmax(-1)
    link = out["link"][b, 1:1 + nq, :ncols].float()
    conds, spans = [], []
    for first, last in _value_runs(op_p.argmax(-1).tolist(), link.argmax(-1).tolist(), offsets, question):
        # one operator and one column per value: the tokens vote with their probabilities
        op = int(op_p[first:last + 1, :NO_OP].sum(0).argmax())
        col = int(link[first:last + 1].softmax(-1).sum(0).argmax())
        start_char, end_char = offsets[first][0], offsets[last][1]
        value = _value(question[start_char:end_char], table.types[col], values(col) if snap_values else None)
        if value is not None and [col, op, value] not in conds:
            conds.append([col, op, value])
            spans.append([start_char, end_char])
    conn = 0 if len(conds) < 2 else 1 + int(out["conn"][b, 1:].argmax())
    return {"sel": sel, "agg": agg, "cond_conn_op": conn, "conds": conds}, spans


def _value_runs(ops, cols, offsets, question):
    """(first, last) token indexes of each condition value: maximal runs of tagged tokens, split where
    the linked column changes (two values side by side, 师范中大), widened to whole numbers ('-0.9' is
    one value even if its '-' or '.' was left untagged), overlapping runs merged."""
    runs, t = [], 0
    while t < len(ops):
        if ops[t] == NO_OP:
            t += 1
            continue
        end = t
        while end + 1 < len(ops) and ops[end + 1] != NO_OP:
            end += 1
        runs += _split(t, end, cols)
        t = end + 1
    numbers = [m.span() for m in NUMBER.finditer(question)]
    for run in runs:
        for s, e in numbers:
            if s < offsets[run[1]][1] and e > offsets[run[0]][0]:
                while run[0] > 0 and offsets[run[0] - 1][1] > s:
                    run[0] -= 1
                while run[1] + 1 < len(offsets) and offsets[run[1] + 1][0] < e:
                    run[1] += 1
    merged = []
    for run in runs:
        if merged and run[0] <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], run[1])
        else:
            merged.append(run)
    return merged


def _split(first, last, cols, min_len=2):
    """Split a run where the per-token column changes and both sides keep at least min_len tokens."""
    for cut in range(first + min_len, last - min_len + 2):
        if cols[cut] != cols[cut - 1] and len(set(cols[first:cut])) == 1:
            return [[first, cut - 1]] + _split(cut, last, cols, min_len)
    return [[first, last]]


def _value(text, kind, candidates):
    text = text.strip()
    if kind == "real":
        m = NUMBER.search(text.replace(",", ""))
        return cell_text(float(m.group())) if m else None
    if not text:
        return None
    return snap(text, candidates) if candidates else text


def value_tags(out, b, nq):
    """BIO tags (seqeval) of the value-tagging head for example b's question tokens."""
    return bio(out["op"][b, 1:1 + nq].argmax(-1).tolist())


def bio(ops):
    """Operator per token (NO_OP outside values) -> BIO tags; a new span starts when the op changes."""
    tags, prev = [], NO_OP
    for op in ops:
        if op == NO_OP:
            tags.append("O")
        else:
            tags.append(("I-" if op == prev else "B-") + OPS[op])
        prev = op
    return tags

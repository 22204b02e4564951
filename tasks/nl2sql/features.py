"""Record <-> tensors: the token layout, string-match features and training labels."""
import torch

from nlpkit.data import pad
from nlpkit.errors import NlpkitError

from .matching import LINK_FEATURES, char_features, header_coverage, is_number_token, locate
from .model import N_LINK, N_TAGS, NO_OP, NOT_SELECTED
from .sql import OPS as OP_NAMES


def encode(record, table, values, tokenizer, cfg, with_labels=True):
    """One question on one table -> plain lists (for the Arrow cache).

    `values(j)` gives column j's distinct cell values; `with_labels` needs record["sql"]."""
    question = record["question"]
    enc = tokenizer.encode(question, maxlen=cfg.max_question_len + 2)
    ids, types = list(enc.input_ids), [0] * len(enc.input_ids)
    offsets = [tuple(o) for o in enc.offsets[1:-1]]
    is_number = [int(is_number_token(question[s:e])) for s, e in offsets]
    for t, num in enumerate(is_number):
        # the digits never change the query's shape (values are read back from the text), and a
        # number unseen in training would otherwise reach the model as an untrained embedding
        if num:
            ids[t + 1] = tokenizer.mask_id
    headers = _fit_headers([tokenizer.token_ids(h) for h in table.header], len(ids), cfg, table)
    col_pos = []
    for h in headers:
        col_pos.append(len(ids))
        ids += [tokenizer.cls_id] + h + [tokenizer.sep_id]
    types += [1] * (len(ids) - len(types))
    marks = char_features(question, table.header, table.types, values)
    links = []  # sparse (token, column, feature) triples: dense ones would bloat the Arrow cache
    for t, (s, e) in enumerate(offsets):
        for j in range(len(table.header)):
            for k in range(LINK_FEATURES):
                if any(marks[c][j][k] for c in range(s, e)):
                    links.append([t, j, k])
    feature = {
        "input_ids": ids,
        "token_type_ids": types,
        "col_pos": col_pos,
        "col_real": [int(k == "real") for k in table.types],
        "col_cover": header_coverage(question, table.header),
        "tok_num": is_number,
        "links": links,
        "offsets": [list(o) for o in offsets],  # question token -> character span, for decoding
    }
    if with_labels:
        feature.update(labels(record["sql"], question, offsets, table))
    return feature


def _fit_headers(headers, used, cfg, table):
    """Truncate header tokens so that every column fits within maxlen."""
    budget = cfg.maxlen - used - 2 * len(headers)
    if budget < len(headers):
        raise NlpkitError(f"table '{table.id}' has {len(headers)} columns: too many for maxlen={cfg.maxlen}")
    limit = min(cfg.max_header_len, budget // len(headers)) if headers else 0
    return [h[:limit] for h in headers]


def value_spans(sql, question, table):
    """[(start, end), op, col] for each condition whose value can be placed in the question."""
    out, taken = [], []
    for col, op, value in sql["conds"]:
        span = locate(question, value, table.types[col], taken)
        if span is not None:  # nothing in the question resembles the value: the condition is not taught
            taken.append(span)
            out.append((span, op, col))
    return out


def labels(sql, question, offsets, table):
    sel_label = [NOT_SELECTED] * len(table.header)
    for col, agg in zip(sql["sel"], sql["agg"]):
        if sel_label[col] == NOT_SELECTED:  # one class per column: a repeated column keeps its first agg
            sel_label[col] = agg
    op_label, link_label = [NO_OP] * len(offsets), [-100] * len(offsets)
    for (start, end), op, col in value_spans(sql, question, table):
        for t, (s, e) in enumerate(offsets):
            if s < end and e > start:
                op_label[t], link_label[t] = op, col
    return {"sel_label": sel_label, "conn": sql["cond_conn_op"], "op_label": op_label, "link_label": link_label}


def gold_tags(sql, question, offsets, table):
    """BIO tags of the gold condition values over the question tokens (for seqeval)."""
    tags = ["O"] * len(offsets)
    for (start, end), op, _ in value_spans(sql, question, table):
        inside = [t for t, (s, e) in enumerate(offsets) if s < end and e > start]
        for i, t in enumerate(inside):
            tags[t] = ("B-" if i == 0 else "I-") + OP_NAMES[op]
    return tags


def collate(features, tokenizer, word_dropout=0.0):
    """Dynamic padding; question token t sits at position t + 1 (after [CLS]).

    word_dropout (training): that share of header tokens and of question tokens that match a header
    or a value becomes [PAD], whose embedding stays zero, as a token the model never trained on nearly
    is: the model learns to read unseen values and headers through the match tags."""
    B = len(features)
    L = max(len(f["input_ids"]) for f in features)
    C = max(len(f["col_pos"]) for f in features)
    ids = pad([f["input_ids"] for f in features], tokenizer.pad_id, length=L)
    batch = {
        "token_type_ids": pad([f["token_type_ids"] for f in features], 0, length=L),
        "attention_mask": pad([[1] * len(f["input_ids"]) for f in features], 0, length=L),
        "col_pos": pad([f["col_pos"] for f in features], 0, length=C),
        "col_mask": pad([[1] * len(f["col_pos"]) for f in features], 0, length=C),
        "col_real": pad([f["col_real"] for f in features], 0, length=C),
        "col_cover": pad([f["col_cover"] for f in features], 0, dtype=torch.float, length=C),
    }
    if word_dropout:  # only words the match tags also describe (headers, values), never 平均 or 大于
        tagged = torch.zeros_like(ids, dtype=torch.bool)
        for b, f in enumerate(features):
            for t, _, _ in f["links"]:
                tagged[b, t + 1] = True
            tagged[b, f["col_pos"][0]:len(f["input_ids"])] = True  # every header token
        plain = tagged & (ids != tokenizer.cls_id) & (ids != tokenizer.sep_id)
        ids = ids.masked_fill(plain & (torch.rand(ids.shape) < word_dropout), tokenizer.pad_id)
    batch["input_ids"] = ids
    feats = torch.zeros(B, L, C, N_LINK)
    tok_num = pad([[0] + f["tok_num"] for f in features], 0, length=L)
    for b, f in enumerate(features):
        if f["links"]:
            t, j, k = torch.tensor(f["links"]).T
            feats[b, t + 1, j, k] = 1.0
    feats[..., LINK_FEATURES] = tok_num[:, :, None] * batch["col_real"][:, None, :]
    batch["link_feats"] = feats
    # input tags: a question token gets its features against any column (the last one: a number while
    # the table has a real column); every token of column j gets column j's features against any
    # question token, its type and its header coverage
    tags = torch.zeros(B, L, N_TAGS)
    tags[..., :N_LINK] = feats.amax(2)
    col_tags = feats.amax(1)  # (B, C, N_LINK)
    col_tags[..., LINK_FEATURES] = batch["col_real"].float()
    for b, f in enumerate(features):
        bounds = f["col_pos"] + [len(f["input_ids"])]
        for j in range(len(f["col_pos"])):
            tags[b, bounds[j]:bounds[j + 1], N_LINK:-1] = col_tags[b, j]
            tags[b, bounds[j]:bounds[j + 1], -1] = batch["col_cover"][b, j]
    batch["tags"] = tags
    if "sel_label" in features[0]:
        batch["sel_label"] = pad([f["sel_label"] for f in features], -100, length=C)
        batch["conn"] = torch.tensor([f["conn"] for f in features])
        batch["op_label"] = pad([[-100] + f["op_label"] for f in features], -100, length=L)
        batch["link_label"] = pad([[-100] + f["link_label"] for f in features], -100, length=L)
    return batch

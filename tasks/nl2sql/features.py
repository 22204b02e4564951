"""Record <-> tensors: the token layout, string-match features and training labels."""
from typing import NamedTuple

import torch

from nlpkit.data import pad
from nlpkit.errors import NlpkitError

from .matching import LINK_FEATURES, char_features, header_coverage, is_number_token, locate
from .model import N_LINK, N_TAGS, NO_OP, NOT_SELECTED
from .sql import OPS as OP_NAMES


class Lengths(NamedTuple):
    """The config's length limits, read once (an OmegaConf lookup per record costs more than the rest)."""

    question: int  # max_question_length
    header: int  # max_header_length
    total: int  # max_length

    @classmethod
    def of(cls, cfg):
        return cls(cfg.max_question_length, cfg.max_header_length, cfg.max_length)


def encode(record, table, values, header_ids, tokenizer, lengths, with_labels=True):
    """One question on one table -> plain lists (for the Arrow cache).

    `values(j)` gives column j's distinct cell values, `header_ids` the token ids of each header;
    `with_labels` needs record["sql"]."""
    question = record["question"]
    enc = tokenizer.encode(question, maxlen=lengths.question + 2)
    ids, types = list(enc.input_ids), [0] * len(enc.input_ids)
    offsets = [tuple(o) for o in enc.offsets[1:-1]]
    is_number = [int(is_number_token(question[s:e])) for s, e in offsets]
    for t, num in enumerate(is_number):
        # the digits never change the query's shape (values are read back from the text), and a
        # number unseen in training would otherwise reach the model as an untrained embedding
        if num:
            ids[t + 1] = tokenizer.mask_id
    headers = _fit_headers(header_ids, len(ids), lengths, table)
    col_pos = []
    for h in headers:
        col_pos.append(len(ids))
        ids += [tokenizer.cls_id] + h + [tokenizer.sep_id]
    types += [1] * (len(ids) - len(types))
    marks = char_features(question, table.header, table.types, values)
    # sparse (token, column, feature) triples: dense ones would bloat the Arrow cache
    links = [[t, j, k] for t, (s, e) in enumerate(offsets) for j, flags in enumerate(marks)
             for k in range(LINK_FEATURES) if flags[k].find(1, s, e) >= 0]
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


def _fit_headers(headers, used, lengths, table):
    """Truncate header tokens so that every column fits within max_length."""
    if lengths.total - used - 2 * len(headers) < len(headers):
        raise NlpkitError(f"table '{table.id}' has {len(headers)} columns: too many for max_length={lengths.total}")
    limit = _header_limit(headers, used, lengths)
    return [h[:limit] for h in headers]


def _header_limit(headers, used, lengths):
    """Tokens each header keeps: max_header_length, fewer when the columns would not fit max_length."""
    budget = lengths.total - used - 2 * len(headers)
    return max(0, min(lengths.header, budget // len(headers))) if headers else 0


def cuts(question_tokens, headers, lengths):
    """(the question is cut, a header is cut) when a question of `question_tokens` tokens is encoded
    with a table whose headers have the token ids `headers`."""
    used = min(question_tokens, lengths.question) + 2
    limit = _header_limit(headers, used, lengths)
    return question_tokens > lengths.question, any(len(h) > limit for h in headers)


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
    """Dynamic padding; question token t sits at position t + 1 (after [CLS]). Link features and the
    token labels cover the question's positions only ([CLS] question [SEP]).

    word_dropout (training): that share of header tokens and of question tokens that match a header
    or a value becomes [PAD], whose embedding stays zero, as a token the model never trained on nearly
    is: the model learns to read unseen values and headers through the match tags."""
    L = max(len(f["input_ids"]) for f in features)
    Lq = max(len(f["offsets"]) for f in features) + 2
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
    feats = _link_features(features, Lq, C, batch["col_real"])
    if word_dropout:  # only words the match tags also describe (headers, values), never 平均 or 大于
        tagged = batch["token_type_ids"].bool()  # every header token
        tagged[:, :Lq] |= feats[..., :LINK_FEATURES].flatten(2).amax(-1) > 0
        plain = tagged & (ids != tokenizer.cls_id) & (ids != tokenizer.sep_id)
        ids = ids.masked_fill(plain & (torch.rand(ids.shape) < word_dropout), tokenizer.pad_id)
    batch["input_ids"] = ids
    batch["link_feats"] = feats
    batch["tags"] = _tags(features, feats, batch, L)
    if "sel_label" in features[0]:
        batch["sel_label"] = pad([f["sel_label"] for f in features], -100, length=C)
        batch["conn"] = torch.tensor([f["conn"] for f in features])
        batch["op_label"] = pad([[-100] + f["op_label"] for f in features], -100, length=Lq)
        batch["link_label"] = pad([[-100] + f["link_label"] for f in features], -100, length=Lq)
    return batch


def _link_features(features, Lq, C, col_real):
    """(B, Lq, C, N_LINK): the sparse string-match triples, plus "a number against a real column"."""
    feats = torch.zeros(len(features), Lq, C, N_LINK)
    for b, f in enumerate(features):
        if f["links"]:
            t, j, k = torch.tensor(f["links"]).T
            feats[b, t + 1, j, k] = 1.0
    tok_num = pad([[0] + f["tok_num"] for f in features], 0, length=Lq)
    feats[..., LINK_FEATURES] = tok_num[:, :, None] * col_real[:, None, :]
    return feats


def _tags(features, feats, batch, L):
    """Input tags: a question token gets its features against any column (the last one: a number while
    the table has a real column); every token of column j gets column j's features against any question
    token, its type and its header coverage."""
    tags = torch.zeros(len(features), L, N_TAGS)
    tags[:, :feats.shape[1], :N_LINK] = feats.amax(2)
    col_tags = feats.amax(1)  # (B, C, N_LINK)
    col_tags[..., LINK_FEATURES] = batch["col_real"].float()
    per_col = torch.cat([col_tags, batch["col_cover"][..., None]], -1)  # (B, C, N_LINK + 1)
    owner = []  # per position: the column whose header it belongs to, -1 outside headers
    for f in features:
        bounds = f["col_pos"] + [len(f["input_ids"])]
        owner.append([-1] * bounds[0] + [j for j in range(len(f["col_pos"])) for _ in range(bounds[j], bounds[j + 1])])
    owner = pad(owner, -1, length=L)
    spread = per_col.gather(1, owner.clamp(min=0)[..., None].expand(-1, -1, per_col.shape[-1]))
    tags[..., N_LINK:] = spread * (owner >= 0)[..., None]
    return tags

"""The nl2sql model: `[CLS] question [SEP] [CLS] col1 [SEP] [CLS] col2 [SEP] ...` through the shared
BERT, with four heads (the bert4keras NL2SQL design):

- connector: 3 classes (none / and / or) from the whole question;
- per column, from its [CLS]: selected with aggregation 0..5, or not selected (class 6);
- per question token: inside a condition value with operator 0..3, or not (class 4);
- per question token: which column its condition is on (scores over the columns).

String-match features (a question token names header j, or a cell value of column j; a header was
named just before it; a number against a real column) enter twice: as tags added to the token
embeddings, so attention can use them, and directly in the column and linking scores. A table
never seen in training is thus read through its headers and values rather than memorised.
"""
import torch
from torch import nn
from torch.nn import functional as F

from nlpkit.export import ENCODER_AXES
from nlpkit.model import load_backbone, padding_mask, run_bert

from .matching import LINK_FEATURES
from .sql import AGGS, CONNS, OPS

NOT_SELECTED = len(AGGS)  # class index of "column not selected"
NO_OP = len(OPS)  # class index of "token is not part of a condition value"
#: link features: the string matches plus "number token x real column"
N_LINK = LINK_FEATURES + 1
#: input tags added to the token embeddings: a question token's link features (any column) and
#: whether it is a number; a column token's link features (any question token), its type and how
#: much of its header the question spells out
N_TAGS = 2 * N_LINK + 1


class NL2SQLModel(nn.Module):
    #: nlpkit export: predict calls forward on one batch dict (B questions, L tokens, C columns, Q
    #: question positions); decoding and SQL run in Python (see nlpkit.export)
    onnx_graphs = {"forward": {"batch": {**ENCODER_AXES, "tags": "BL.", "col_pos": "BC", "col_mask": "BC",
                                          "col_real": "BC", "col_cover": "BC", "link_feats": "BQC."}}}

    def __init__(self, source, tokenizer, tiny=None):
        super().__init__()
        self.bert, _ = load_backbone(source, tokenizer, tiny=tiny)
        hidden = self.bert.config.hidden_size
        # added to the word embeddings, whose width is embedding_size in albert/electra
        self.tags = nn.Linear(N_TAGS, self.bert.get_input_embeddings().embedding_dim, bias=False)
        nn.init.normal_(self.tags.weight, std=self.bert.config.initializer_range)
        # local context (about +-4 tokens): operator words sit right next to values and headers
        self.context = nn.Sequential(nn.Conv1d(hidden, hidden, 5, padding=2), nn.GELU(),
                                     nn.Conv1d(hidden, hidden, 5, padding=2))
        # the question as a whole: its [CLS] and a max-pool of its local contexts (does 或 occur?)
        self.conn = _mlp(2 * hidden, hidden, len(CONNS))
        # per column: its [CLS], the context around its mentions in the question, the whole question,
        # the max over question tokens of each link feature, its type, its header coverage, whether it
        # is the first column
        self.sel = _mlp(4 * hidden + N_LINK + 3, hidden, len(AGGS) + 1)
        self.op = _mlp(hidden + N_LINK, hidden, len(OPS) + 1)
        self.link_q = nn.Linear(hidden, hidden)
        self.link_c = nn.Linear(hidden, hidden, bias=False)
        self.link_e = nn.Linear(N_LINK, hidden, bias=False)
        self.link_v = nn.Linear(hidden, 1)
        # a prior that string matches point at their column (learnt from there)
        self.link_f = nn.Linear(N_LINK, 1, bias=False)
        nn.init.ones_(self.link_f.weight)

    def encode(self, batch):
        """BERT over token embeddings plus the match tags (so attention can use them)."""
        embeds = self.bert.get_input_embeddings()(batch["input_ids"])
        embeds = embeds + self.tags(batch["tags"].to(embeds.dtype))
        return run_bert(self.bert, None, batch["token_type_ids"], padding_mask(batch["attention_mask"]),
                        inputs_embeds=embeds)

    def forward(self, batch):
        h = self.encode(batch)
        ctx = h + self.context(h.transpose(1, 2)).transpose(1, 2)
        cols = h.gather(1, batch["col_pos"][..., None].expand(-1, -1, h.shape[-1]))  # (B, C, H)
        # link features exist for the question's positions only ([CLS] question [SEP]: Lq of them), and
        # the token heads read only those: the (token, column) pair scores skip every header token
        feats = batch["link_feats"].to(h.dtype)  # (B, Lq, C, N_LINK)
        q = ctx[:, :feats.shape[1]]
        col_mask = batch["col_mask"].bool()
        mention = feats[..., 0]  # (B, Lq, C): token t mentions header c
        mentioned = torch.einsum("blc,blh->bch", mention, q) / mention.sum(1).clamp(min=1)[..., None]
        first = torch.zeros_like(batch["col_real"], dtype=h.dtype)
        first[:, 0] = 1
        in_question = (batch["token_type_ids"] == 0) & batch["attention_mask"].bool()
        pooled = ctx.masked_fill(~in_question[..., None], torch.finfo(h.dtype).min).amax(1)
        question = torch.cat([h[:, 0], pooled], -1)  # (B, 2H)
        col_in = [cols, mentioned, question[:, None].expand(-1, cols.shape[1], -1), feats.amax(1),
                  batch["col_real"][..., None].to(h.dtype), batch["col_cover"][..., None].to(h.dtype),
                  first[..., None]]
        tok_feats = feats.masked_fill(~col_mask[:, None, :, None], 0).amax(2)
        pair = self.link_q(q)[:, :, None] + self.link_c(cols)[:, None] + self.link_e(feats)
        link = self.link_v(torch.tanh(pair)).squeeze(-1) + self.link_f(feats).squeeze(-1)
        return {
            "conn": self.conn(question),
            "sel": self.sel(torch.cat(col_in, -1)),
            "op": self.op(torch.cat([q, tok_feats], -1)),  # (B, Lq, ops + 1)
            "link": link.masked_fill(~col_mask[:, None, :], torch.finfo(h.dtype).min),  # (B, Lq, C)
        }


def _mlp(inp, hidden, out):
    return nn.Sequential(nn.Linear(inp, hidden), nn.GELU(), nn.Linear(hidden, out))


def nl2sql_loss(out, batch):
    """Sum of the four heads' cross-entropies (padding and untagged tokens carry label -100)."""
    loss = F.cross_entropy(out["conn"], batch["conn"])
    loss = loss + F.cross_entropy(out["sel"].flatten(0, 1), batch["sel_label"].flatten(), ignore_index=-100)
    loss = loss + F.cross_entropy(out["op"].flatten(0, 1), batch["op_label"].flatten(), ignore_index=-100)
    link_label = batch["link_label"]
    if (link_label >= 0).any():
        loss = loss + F.cross_entropy(out["link"].flatten(0, 1), link_label.flatten(), ignore_index=-100)
    return loss

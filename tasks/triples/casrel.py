"""The casrel model (CasRel, as in bert4keras task_relation_extraction): subject start/end pointers, then
object start/end pointers per predicate, conditioned on one subject through a Conditional LayerNorm.

The sentence is encoded once; the object branch re-normalises those states with a LayerNorm whose
gain and bias depend on the subject (its start and end vectors), so decoding k subjects costs one
BERT pass plus k cheap heads. Probabilities are raised to a power (2 for subjects, 4 for objects) as
in the original design: with mostly-zero labels this lets the sigmoid sit higher before the
product crosses the threshold, which speeds up learning of the rare positives.
"""
import torch
from torch import nn
from torch.nn import functional as F

from nlpkit.export import ENCODER_AXES
from nlpkit.model import apply_conditional_layernorm, padding_mask, run_bert

from .decoding import object_spans, subject_spans, valid_positions

SUBJECT_POWER, OBJECT_POWER = 2, 4


class ObjectHead(nn.Module):
    """LayerNorm (made conditional) + a start/end pointer pair for every predicate."""

    def __init__(self, hidden, num_predicates, eps):
        super().__init__()
        self.norm = nn.LayerNorm(hidden, eps=eps)
        self.pointers = nn.Linear(hidden, num_predicates * 2)
        self.num_predicates = num_predicates

    def forward(self, states):
        logits = self.pointers(self.norm(states))
        return logits.view(*states.shape[:2], self.num_predicates, 2)


class CasRelModel(nn.Module):
    #: nlpkit export: two graphs, the sentence's encoding and the objects of given subjects; the
    #: subject pointers (one linear layer) stay in torch (see nlpkit.export)
    onnx_graphs = {"encode": ENCODER_AXES, "object_logits": {"states": "NL.", "subject_spans": "N."}}
    onnx_keep = ("subject_pointers",)

    def __init__(self, bert, num_predicates):
        super().__init__()
        self.bert = bert
        hidden = bert.config.hidden_size
        self.subject_pointers = nn.Linear(hidden, 2)
        self.object_head = ObjectHead(hidden, num_predicates, bert.config.layer_norm_eps)
        self.conditioner = apply_conditional_layernorm(self.object_head, 2 * hidden)
        std = bert.config.initializer_range
        for linear in (self.subject_pointers, self.object_head.pointers):
            nn.init.normal_(linear.weight, std=std)
            nn.init.zeros_(linear.bias)

    def encode(self, input_ids, token_type_ids, attention_mask):
        return run_bert(self.bert, input_ids, token_type_ids, padding_mask(attention_mask))

    def subject_logits(self, states):
        """(B, L, 2) start/end logits."""
        return self.subject_pointers(states)

    def object_logits(self, states, subject_spans):
        """states (N, L, H), subject_spans (N, 2) token indices -> (N, L, P, 2) object logits."""
        rows = torch.arange(states.shape[0], device=states.device)
        cond = torch.cat([states[rows, subject_spans[:, 0]], states[rows, subject_spans[:, 1]]], dim=-1)
        with self.conditioner.condition(cond):
            return self.object_head(states)

    def forward(self, input_ids, token_type_ids, attention_mask, subject_spans):
        """Training pass: subject logits and the object logits of one given subject per sentence."""
        states = self.encode(input_ids, token_type_ids, attention_mask)
        return self.subject_logits(states), self.object_logits(states, subject_spans)


def powered_bce(logits, labels, power):
    """Binary cross-entropy of p = sigmoid(logits) ** power, computed in log space for stability."""
    log_p = power * F.logsigmoid(logits)
    log_not_p = torch.log((-torch.expm1(log_p)).clamp(min=1e-7))
    return -(labels * log_p + (1 - labels) * log_not_p)


def probabilities(logits, power):
    return torch.sigmoid(logits) ** power


def pointer_loss(subject_logits, object_logits, batch):
    """Masked mean over tokens: subject loss averages its two pointers, object loss sums predicates
    (as in the original design, so a sentence with many predicates is not drowned out)."""
    mask = batch["attention_mask"].float()
    sub = powered_bce(subject_logits, batch["subject_labels"], SUBJECT_POWER).mean(-1)
    obj = powered_bce(object_logits, batch["object_labels"], OBJECT_POWER).mean(-1).sum(-1)
    obj_mask = mask * batch["has_subject"].float()[:, None]
    subject_loss = (sub * mask).sum() / mask.sum()
    object_loss = (obj * obj_mask).sum() / obj_mask.sum().clamp(min=1)
    return subject_loss + object_loss


class CasRelHead:
    """What the task does with the casrel head: its labels, model, loss and decoding."""

    options = ("subject_threshold", "object_threshold")

    @staticmethod
    def build(bert, num_predicates, cfg):
        return CasRelModel(bert, num_predicates)

    @staticmethod
    def labels(features, length, num_predicates):
        """Pointer labels of all subjects, and of the objects of one subject drawn per sentence."""
        batch_size = len(features)
        subject_labels = torch.zeros(batch_size, length, 2)
        object_labels = torch.zeros(batch_size, length, num_predicates, 2)
        spans = torch.zeros(batch_size, 2, dtype=torch.long)
        has_subject = torch.zeros(batch_size, dtype=torch.bool)
        for row, f in enumerate(features):
            subjects = sorted({(ss, se) for ss, se, *_ in f["spo"]})
            for ss, se in subjects:
                subject_labels[row, ss, 0] = subject_labels[row, se, 1] = 1
            if not subjects:
                continue
            # one subject per sentence per step, drawn with torch's RNG so a resumed run draws the same
            chosen = subjects[int(torch.randint(len(subjects), (1,)))]
            spans[row] = torch.tensor(chosen)
            has_subject[row] = True
            for ss, se, p, os_, oe in f["spo"]:
                if (ss, se) == chosen:
                    object_labels[row, os_, p, 0] = object_labels[row, oe, p, 1] = 1
        return {"subject_labels": subject_labels, "object_labels": object_labels, "subject_spans": spans,
                "has_subject": has_subject}

    @staticmethod
    def loss(model, batch):
        subject_logits, object_logits = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"],
                                              batch["subject_spans"])
        return pointer_loss(subject_logits, object_logits, batch)

    @staticmethod
    def decode(model, inputs, encs, subject_threshold, object_threshold):
        """Token triples [(ss, se, p, os, oe)] of each sentence: subjects in order of their start, and per
        subject its objects by predicate, then start."""
        ids = inputs[0]
        states = model.encode(*inputs)
        sub_probs = probabilities(model.subject_logits(states), SUBJECT_POWER).float().cpu()
        valid = [valid_positions(e.sequence_ids, ids.shape[1]) for e in encs]
        # every subject of every sentence in the batch goes through the object head in one pass
        rows, spans = [], []
        for row in range(len(encs)):
            for span in subject_spans(sub_probs[row], valid[row], subject_threshold):
                rows.append(row)
                spans.append(span)
        found = [[] for _ in encs]
        if not rows:
            return found
        obj_logits = model.object_logits(states[torch.tensor(rows, device=ids.device)],
                                         torch.tensor(spans, device=ids.device))
        obj_probs = probabilities(obj_logits, OBJECT_POWER).float().cpu()
        for k, (row, (ss, se)) in enumerate(zip(rows, spans)):
            objects = object_spans(obj_probs[k], valid[row], object_threshold)
            found[row] += [(ss, se, p, os_, oe) for p, os_, oe in objects]
        return found

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

from nlpkit.model import apply_conditional_layernorm, padding_mask, run_bert

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

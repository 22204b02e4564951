"""triples' gplinker head without training: its targets, loss, decoding of overlapping triples, masks,
and the head-specific keys and options. (Trained end to end with the casrel head in test_triples.py.)"""
import math

import pytest
import torch

from nlpkit.config import build_config
from nlpkit.errors import NlpkitError
from nlpkit.model import MASKED
from nlpkit.registry import get_task_class
from nlpkit.tokenizer import Tokenizer

Triples = get_task_class("triples")
from nlpkit.tasks.triples.decoding import gplinker_triples  # noqa: E402  (after the registry import)
from nlpkit.tasks.triples.gplinker import gplinker_loss  # noqa: E402


def spo(s, p, o):
    return {"subject": s, "predicate": p, "object": o}


@pytest.fixture
def task():
    t = Triples(build_config(Triples, ["data.train=unused.json", "head=gplinker"]))
    train = t.read(Triples.sample_path("train"))
    t.tokenizer = Tokenizer.build(t.texts(train), vocab_size=3000)
    t.prepare(train)
    return t


def test_targets_cover_every_triple(task):
    record = {"text": "《夜曲》由方文山作词，周杰伦的妻子是昆凌。", "spo_list": [
        spo("夜曲", "作词", "方文山"), spo("周杰伦", "妻子", "昆凌")]}
    batch = task.collate([task.encode(record)])
    pi = {p: i for i, p in enumerate(task.state["predicates"])}
    # token i covers character i - 1: 夜曲 2-3, 方文山 6-8, 周杰伦 12-14, 昆凌 19-20
    assert batch["entity_targets"][0].nonzero().tolist() == [[0, 2, 3], [0, 12, 14], [1, 6, 8], [1, 19, 20]]
    assert batch["head_targets"][0].nonzero().tolist() == sorted([[pi["作词"], 2, 6], [pi["妻子"], 12, 19]])
    assert batch["tail_targets"][0].nonzero().tolist() == sorted([[pi["作词"], 3, 8], [pi["妻子"], 14, 20]])
    assert batch["valid"][0].tolist() == [False] + [True] * 21 + [False]


def test_loss_equals_a_hand_computation():
    """Per row: log(1 + sum over negatives of e^s) + log(1 + sum over positives of e^-s); summed over the
    types of a part, averaged over sentences, summed over the three parts."""
    entity = torch.tensor([[[[1.0, 2.0], [MASKED, -1.0]], [[0.5, MASKED], [MASKED, MASKED]]],
                           [[[-2.0, 0.0], [MASKED, 3.0]], [[MASKED, MASKED], [MASKED, MASKED]]]])  # (2, 2, 2, 2)
    targets = torch.zeros(2, 2, 2, 2, dtype=torch.bool)
    targets[0, 0, 0, 1] = targets[1, 0, 1, 1] = True
    pair = torch.tensor([[[[0.0, -1.0], [2.0, 0.0]]], [[[1.0, 1.0], [1.0, 1.0]]]])  # (2, 1, 2, 2)
    pair_targets = torch.zeros(2, 1, 2, 2, dtype=torch.bool)
    pair_targets[0, 0, 1, 0] = True
    e, log = math.exp, math.log
    sentence_0 = (log(1 + e(1) + e(-1)) + log(1 + e(-2))) + log(1 + e(0.5))  # subjects, objects
    sentence_1 = (log(1 + e(-2) + e(0)) + log(1 + e(-3))) + log(1)
    pairs_0, pairs_1 = log(1 + e(0) + e(-1) + e(0)) + log(1 + e(-2)), log(1 + 4 * e(1))
    expected = (sentence_0 + sentence_1) / 2 + 2 * (pairs_0 + pairs_1) / 2  # head and tail alike
    loss = gplinker_loss((entity, pair, pair), (targets, pair_targets, pair_targets))
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def scores(length, predicates):
    """All-negative entity (2, L, L) and head/tail (P, L, L) scores."""
    return torch.full((2, length, length), -5.0), torch.full((predicates, length, length), -5.0), \
        torch.full((predicates, length, length), -5.0)


def test_decoding_overlapping_triples():
    entity, head, tail = scores(12, 3)
    entity[0, 1, 2] = entity[0, 5, 6] = 2.0  # subjects A (1-2) and B (5-6)
    entity[1, 5, 6] = entity[1, 8, 9] = entity[1, 10, 10] = 2.0  # objects B, C (8-9), D (10)
    # A -p0-> B, A -p0-> C (a shared subject), A -p2-> C (a pair under two predicates), B -p1-> D (B is the
    # object of one triple and the subject of another)
    for p, (ss, se), (os_, oe) in [(0, (1, 2), (5, 6)), (0, (1, 2), (8, 9)), (2, (1, 2), (8, 9)), (1, (5, 6), (10, 10))]:
        head[p, ss, os_] = tail[p, se, oe] = 1.0
    head[1, 1, 8] = 1.0  # a head pair without its tail pair is no triple
    tail[2, 6, 9] = 1.0  # nor a tail pair without its head pair
    expected = [(1, 2, 0, 5, 6), (1, 2, 0, 8, 9), (1, 2, 2, 8, 9), (5, 6, 1, 10, 10)]
    assert gplinker_triples(entity, head, tail, 0.0) == expected
    assert gplinker_triples(entity, head, tail, 1.5) == []  # the pairs score 1.0
    entity[1] = -5.0
    assert gplinker_triples(entity, head, tail, 0.0) == []  # no objects, no triples


def test_decoding_an_object_before_its_subject():
    entity, head, tail = scores(8, 1)
    entity[0, 5, 6] = entity[1, 1, 3] = 1.0
    head[0, 5, 1] = tail[0, 6, 3] = 1.0
    assert gplinker_triples(entity, head, tail, 0.0) == [(5, 6, 0, 1, 3)]


def test_model_masks_spans_but_not_pairs(task):
    torch.manual_seed(0)
    model = task.build_model("tiny").eval()
    batch = task.collate([task.encode({"text": "《夜曲》由方文山作词", "spo_list": [spo("夜曲", "作词", "方文山")]})])
    inputs = (batch["input_ids"], batch["token_type_ids"], batch["attention_mask"], batch["valid"])
    with torch.no_grad():
        entity, head, tail = model(*inputs)
    length = batch["input_ids"].shape[1]
    assert entity.shape == (1, 2, length, length) and head.shape == tail.shape == (1, len(task.state["predicates"]), length, length)
    allowed = lambda s: s[0, 0] > MASKED / 2  # noqa: E731
    assert allowed(entity)[2, 3] and not allowed(entity)[3, 2]  # a span ends at or after its start
    assert allowed(head)[6, 2] and allowed(head)[2, 6]  # an object may come before its subject
    for s in (entity, head, tail):  # [CLS] and [SEP] take part in nothing
        assert not allowed(s)[0].any() and not allowed(s)[:, length - 1].any()
    assert task.loss(model.train(), batch).item() > 0


# ---- config and per-call options -------------------------------------------------------------------
def test_head_keys_and_options():
    with pytest.raises(NlpkitError, match=r"^head=pointer: expected one of: casrel, gplinker"):
        build_config(Triples, ["head=pointer"])
    with pytest.raises(NlpkitError, match=r"^subject_threshold=0.7: only head=casrel reads it; this run's head is "
                                          r"gplinker \(its keys: score_threshold, head_size\)$"):
        build_config(Triples, ["head=gplinker", "subject_threshold=0.7"])
    with pytest.raises(NlpkitError, match=r"^score_threshold=1.0: only head=gplinker reads it; this run's head is casrel"):
        build_config(Triples, ["score_threshold=1"])
    with pytest.raises(NlpkitError, match=r"^head_size=7: expected an integer even and >= 2"):
        build_config(Triples, ["head=gplinker", "head_size=7"])
    gplinker = Triples(build_config(Triples, ["head=gplinker"]))
    assert gplinker.pipeline(None, score_threshold=1.5).defaults == {"score_threshold": 1.5}
    with pytest.raises(NlpkitError, match=r"^unknown option 'subject_threshold' for task triples; .*valid options: "
                                          r"score_threshold, stride, batch_size, stream$"):
        gplinker.pipeline(None)("句子", subject_threshold=0.6)
    with pytest.raises(NlpkitError, match=r"^triples head=gplinker: unknown option\(s\) object_threshold; "
                                          r"valid: score_threshold$"):
        gplinker.predict(None, [{"text": "句子"}], object_threshold=0.6)
    with pytest.raises(NlpkitError, match=r"^unknown option 'score_threshold' for task triples"):
        Triples(build_config(Triples)).pipeline(None, score_threshold=1.0)

"""triples without training: the DuIE reader, labels and subject sampling, the conditioned object
head, pointer decoding of overlapping triples, metrics."""
import json

import pytest
import torch

from nlpkit.config import build_config
from nlpkit.errors import DataError, NlpkitError
from nlpkit.registry import get_task_class
from nlpkit.tasks.triples.decoding import object_spans, subject_spans
from nlpkit.tasks.triples.metrics import score
from nlpkit.tokenizer import Tokenizer

Triples = get_task_class("triples")


def jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def spo(s, p, o, **kw):
    return {"subject": s, "predicate": p, "object": o, **kw}


@pytest.fixture
def task():
    t = Triples(build_config(Triples, ["data.train=unused.json"]))
    train = t.read(Triples.sample_path("train"))
    t.tokenizer = Tokenizer.build(t.texts(train) + ["Jay Chou主演了Secret"], vocab_size=3000)
    t.prepare(train)
    return t


def test_reader_forms_errors_and_skips(tmp_path):
    task = Triples(build_config(Triples))
    path = jsonl(tmp_path / "d.json", [
        {"text": "《晴天》由周杰伦作词作曲", "postag": [], "spo_list": [
            spo("晴天", "作词", "周杰伦", subject_type="歌曲", object_type="人物"),
            spo("晴天", "作曲", {"@value": "周杰伦"}, object_type={"@value": "人物"}),
            spo("晴天", "作曲", "周杰伦"),  # duplicate
            spo("晴天", "歌手", "蔡依林")]},  # object not in the text: skipped
        {"text": "没有三元组的句子", "spo_list": []},
    ])
    with pytest.warns(UserWarning, match=r"d.json: skipped 1 triple\(s\).*first at line 1"):
        records = task.read(path)
    assert [(t["subject"], t["predicate"], t["object"]) for t in records[0]["spo_list"]] == [
        ("晴天", "作词", "周杰伦"), ("晴天", "作曲", "周杰伦")]
    assert records[0]["spo_list"][1]["object_type"] == "人物" and records[1]["spo_list"] == []
    cases = [
        ({"spo_list": []}, r"bad.json:2: field 'text': missing"),
        ({"text": "句子", "spo_list": [{"subject": "句", "object": "子"}]}, r"bad.json:2: field 'spo_list\[0\].predicate'"),
        ({"text": "句子", "spo_list": [spo("句", "p", {"value": "子"})]}, r"field 'spo_list\[0\].object': a dict needs"),
        ({"text": "句子", "spo_list": [spo("", "p", "子")]}, r"field 'spo_list\[0\].subject': is empty"),
        ({"text": "句子", "spo_list": {}}, r"field 'spo_list': expected list"),
        ('{"text": "句子", ', r"bad.json:2: invalid JSON"),
    ]
    for row, message in cases:
        with pytest.raises(DataError, match=message):
            task.read(jsonl(tmp_path / "bad.json", [{"text": "好", "spo_list": []}, row]))
    inputs = task.read_inputs(jsonl(tmp_path / "in.json", [{"text": "只有文本"}]))
    assert inputs == [{"text": "只有文本", "spo_list": []}]


def test_predicates_from_schema_or_training_data(tmp_path):
    records = [{"text": "甲的妻子是乙", "spo_list": [spo("甲", "妻子", "乙")]},
               {"text": "乙的丈夫是甲", "spo_list": [spo("乙", "丈夫", "甲")]}]
    own = Triples(build_config(Triples, ["data.train=x.json"]))
    own.prepare(records)
    assert own.state["predicates"] == ["丈夫", "妻子"]
    bundled = Triples(build_config(Triples))  # the bundled sample comes with its schema
    bundled.prepare(records)
    assert bundled.state["predicates"][:3] == ["歌手", "作词", "作曲"] and len(bundled.state["predicates"]) == 21
    schema = jsonl(tmp_path / "schema.json", [{"predicate": "妻子", "subject_type": "人物", "object_type": "人物"}])
    strict = Triples(build_config(Triples, ["data.train=x.json", f"schema={schema}"]))
    with pytest.warns(UserWarning, match="1 training triple.*not in the schema.*丈夫"):
        strict.prepare(records)
    assert strict.state["predicates"] == ["妻子"]


def test_labels_and_one_subject_per_sentence(task):
    record = {"text": "《夜曲》由方文山作词，周杰伦作曲并演唱，周杰伦的妻子是昆凌。", "spo_list": [
        spo("夜曲", "作词", "方文山"), spo("夜曲", "作曲", "周杰伦"), spo("夜曲", "歌手", "周杰伦"),
        spo("周杰伦", "妻子", "昆凌")]}
    f = task.encode(record)
    text, pi = record["text"], {p: i for i, p in enumerate(task.state["predicates"])}
    # every occurrence of 周杰伦 is a subject of 妻子 (DuIE does not say which one was meant)
    assert sorted({(s, e) for s, e, p, *_ in f["spo"] if p == pi["妻子"]}) == [(12, 14), (21, 23)]
    assert text[11:14] == "周杰伦" and text[20:23] == "周杰伦"  # token i covers character i - 1
    torch.manual_seed(0)
    first = [task.collate([f, f]) for _ in range(8)]
    torch.manual_seed(0)
    again = [task.collate([f, f]) for _ in range(8)]
    assert all(torch.equal(a["subject_spans"], b["subject_spans"]) for a, b in zip(first, again))
    chosen = {tuple(b["subject_spans"][0].tolist()) for b in first}
    assert chosen == {(2, 3), (12, 14), (21, 23)}  # 夜曲 and both occurrences of 周杰伦
    for batch in first:
        sub = batch["subject_labels"][0]
        assert sub[:, 0].nonzero().flatten().tolist() == [2, 12, 21]
        assert sub[:, 1].nonzero().flatten().tolist() == [3, 14, 23]
        objects = batch["object_labels"][0].nonzero().tolist()
        if tuple(batch["subject_spans"][0].tolist()) == (2, 3):  # 夜曲: 方文山 作词, 周杰伦 作曲 + 歌手 (twice)
            assert {(p, k) for _, p, k in objects} == {(pi["作词"], 0), (pi["作词"], 1), (pi["作曲"], 0),
                                                      (pi["作曲"], 1), (pi["歌手"], 0), (pi["歌手"], 1)}
        else:  # 周杰伦: only 昆凌 as 妻子
            assert objects == [[28, pi["妻子"], 0], [29, pi["妻子"], 1]]
    empty = task.collate([task.encode({"text": "没有关系", "spo_list": []})])
    assert not empty["has_subject"].any() and empty["subject_labels"].sum() == 0


def test_subject_conditions_the_object_head_in_one_pass(task):
    torch.manual_seed(0)
    model = task.build_model("tiny").eval()
    for cln in model.conditioner.layers:  # trained weights are not zero; make the condition matter
        torch.nn.init.normal_(cln.cond_gamma.weight, std=0.05)
    batch = task.collate([task.encode({"text": "《夜曲》由方文山作词", "spo_list": [spo("夜曲", "作词", "方文山")]})])
    with torch.no_grad():
        states = model.encode(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
        two = model.object_logits(states.expand(2, -1, -1), torch.tensor([[2, 3], [6, 8]]))
        one = model.object_logits(states, torch.tensor([[6, 8]]))
    assert two.shape == (2, states.shape[1], len(task.state["predicates"]), 2)
    assert not torch.allclose(two[0], two[1])  # the subject changes the object pointers
    assert torch.allclose(two[1], one[0], atol=1e-5)
    assert task.loss(model.train(), batch).item() > 0


def test_decoding_nearest_end_and_overlaps():
    valid = torch.tensor([False] + [True] * 10 + [False])
    sub = torch.zeros(12, 2)
    sub[[1, 5], 0] = 0.9
    sub[[3, 6, 8], 1] = 0.9
    sub[0] = 0.99  # [CLS] is never a span
    assert subject_spans(sub, valid, 0.5) == [(1, 3), (5, 6)]
    obj = torch.zeros(12, 3, 2)
    obj[[2, 7], 0, 0] = obj[[4, 9], 0, 1] = 0.8  # one subject, two objects of predicate 0
    obj[2, 2, 0] = obj[4, 2, 1] = 0.8  # same pair under predicate 2 too
    obj[10, 1, 0] = 0.8  # a start with no end after it
    obj[5, 1, 1] = 0.8
    assert object_spans(obj, valid, 0.5) == [(0, 2, 4), (0, 7, 9), (2, 2, 4)]


def test_metrics():
    gold = [{"text": "t", "spo_list": [spo("a", "p", "b"), spo("a", "q", "b")]},
            {"text": "u", "spo_list": [spo("c", "p", "d")]}]
    pred = [[spo("a", "p", "b"), spo("a", "p", "x")], [spo("c", "p", "d")]]
    metrics, rows = score(gold, pred)
    assert (metrics["precision"], metrics["recall"]) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert metrics["per_predicate"]["q"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert rows[0]["new"] == [spo("a", "p", "x")] and rows[0]["lack"] == [spo("a", "q", "b")]


def test_character_spans_with_word_pieces(task):
    from nlpkit.tasks.triples.decoding import char_span
    from nlpkit.tasks.triples.task import token_spans

    text = "Jay Chou主演了Secret"
    enc = task.tokenizer.encode(text)
    for part in ("Jay Chou", "Secret"):
        (s, e), = token_spans(enc.offsets, enc.sequence_ids, text, part)
        start, end = char_span(enc.offsets, s, e)
        assert text[start:end] == part


# ---- config and per-call options -------------------------------------------------------------------
@pytest.mark.parametrize("key", ["subject_threshold", "object_threshold"])
@pytest.mark.parametrize("value", ["0", "1", "-0.2", "1.5"])
def test_thresholds_are_checked_in_the_config(key, value):
    with pytest.raises(NlpkitError, match=rf"^{key}={float(value)}: expected a number in \(0, 1\)$"):
        build_config(Triples, [f"{key}={value}"])
    assert build_config(Triples, [f"{key}=0.7"])[key] == 0.7


def test_unknown_pipeline_option_lists_the_valid_ones():
    ie = Triples(build_config(Triples)).pipeline(None)  # options are checked before the model is used
    with pytest.raises(NlpkitError, match=r"^unknown option 'threshold' for task triples; did you mean "
                                          r"object_threshold or subject_threshold\? valid options: "
                                          r"object_threshold, stride, subject_threshold, batch_size, stream$"):
        ie("句子", threshold=0.3)


@pytest.mark.parametrize("option, message", [
    ({"subject_threshold": 1.5}, "subject_threshold=1.5: expected a number in (0, 1)"),
    ({"object_threshold": 0}, "object_threshold=0.0: expected a number in (0, 1)"),
    ({"subject_threshold": "high"}, "subject_threshold=high: expected a number"),
])
def test_a_bad_option_value_is_one_clear_error(option, message):
    task = Triples(build_config(Triples))
    for call in (lambda: task.pipeline(None)("句子", **option), lambda: task.pipeline(None, **option)):
        with pytest.raises(NlpkitError) as e:
            call()
        assert str(e.value) == message


def test_pipeline_inputs_and_output_rows():
    task = Triples(build_config(Triples))
    assert task.as_record("句子") == {"text": "句子"}
    assert task.as_record({"text": "句子", "id": 3}) == {"text": "句子", "id": 3}  # a record keeps its other fields
    for bad in ({"sentence": "句子"}, 7, {"text": None}):
        with pytest.raises(NlpkitError, match='triples: expected a string or a record with a "text" string'):
            task.as_record(bad)
    records = [{"text": "甲", "spo_list": []}, {"text": "乙", "spo_list": []}]
    found = [[spo("甲", "p", "甲")], []]
    assert task.output_rows(records, found) == [{"text": "甲", "spo_list": found[0]}, {"text": "乙", "spo_list": []}]

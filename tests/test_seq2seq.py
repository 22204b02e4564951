"""seq2seq end to end: train the tiny model on the bundled CSL sample, then evaluate/predict/pipeline."""
import json

import pytest

from nlpkit import pipeline
from nlpkit.cli import main
from nlpkit.errors import DataError
from nlpkit.metrics import rouge_l
from nlpkit.registry import get_task_class

Seq2Seq = get_task_class("seq2seq")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("seq2seq") / "run"
    assert main(["train", "task=seq2seq", f"output_dir={out}", "trainer.progress=false"]) == 0
    return out


def test_learns_to_title_held_out_abstracts(run, capsys):
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["rouge-l"] >= 0.9
    assert main(["evaluate", f"model={run}", f"data={Seq2Seq.sample_path('dev')}"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["rouge-l"] >= 0.9 and set(printed) >= {"rouge-1", "rouge-2", "rouge-l", "bleu"}


def test_predict_jsonl(run, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"src": "本文提出一种基于随机森林的电池寿命估计方法。首先清洗了原始数据，实验表明该方法优于传统方法。"},
                              ensure_ascii=False) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["predict", "task=seq2seq", f"model={run}", f"input={src}", f"output={out}"]) == 0
    pred = json.loads(out.read_text(encoding="utf-8"))
    assert rouge_l(list(pred["text"]), list("基于随机森林的电池寿命估计方法")) >= 0.8


def test_pipeline_batches_equal_one_by_one(run):
    titler = pipeline("seq2seq", model=str(run))
    texts = [line.split("\t")[1] for line in open(Seq2Seq.sample_path("dev"), encoding="utf-8")][:6]
    one_by_one = [titler(t) for t in texts]
    batched = titler(texts, batch_size=4)
    assert [b["text"] for b in batched] == [o["text"] for o in one_by_one]
    assert [b["score"] for b in batched] == pytest.approx([o["score"] for o in one_by_one], abs=1e-4)
    beams = titler(texts[0], beam_size=3, num_return_sequences=3, early_stopping="all")
    assert len(beams["candidates"]) == 3 and beams["text"] == beams["candidates"][0]["text"]
    streamed = "".join(titler(texts[0], stream=True))
    assert streamed == one_by_one[0]["text"]


def test_wrong_task_for_run_dir(run):
    with pytest.raises(Exception, match="holds a 'seq2seq' model, not 'triples'"):
        pipeline("triples", model=str(run))


def test_readers(tmp_path):
    task = Seq2Seq(None)
    jl = tmp_path / "a.jsonl"
    jl.write_text('{"title": "标题", "abst": "摘要内容"}\n{"src": "源", "tgt": "目标"}\n', encoding="utf-8")
    assert task.read(jl) == [{"src": "摘要内容", "tgt": "标题"}, {"src": "源", "tgt": "目标"}]
    news = tmp_path / "THUCNews" / "体育"
    news.mkdir(parents=True)
    (news / "1.txt").write_text("主队三比一获胜\n　　昨晚的比赛中，\n主队以三比一获胜。\n", encoding="utf-8")
    assert task.read(tmp_path / "THUCNews") == [{"src": "昨晚的比赛中，主队以三比一获胜。", "tgt": "主队三比一获胜"}]
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"title": "标题", "abst": "摘要"}\n{"title": "", "abst": "摘要"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"b.jsonl:2: field 'title': empty target"):
        task.read(bad)
    broken = tmp_path / "c.jsonl"
    broken.write_text('{"title": "标题", "abst": "摘要"}\n{"title": \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"c.jsonl:2: invalid JSON"):
        task.read(broken)

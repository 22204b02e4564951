"""seq2seq end to end: train the tiny model on the bundled CSL sample, then evaluate/predict/pipeline."""
import json

import pytest

from nlpkit import pipeline
from nlpkit.cli import main
from nlpkit.config import build_config
from nlpkit.errors import DataError, NlpkitError
from nlpkit.generation import decode_config
from nlpkit.metrics import rouge_l
from nlpkit.registry import get_task_class

SLOW_FIXTURES = {"run"}  # they train the task's full tiny profile (conftest marks their users slow)

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


def test_call_options_are_checked_in_one_place(run):
    titler = pipeline("seq2seq", model=str(run))
    text = "本文提出一种基于随机森林的电池寿命估计方法。"
    with pytest.raises(NlpkitError, match=r"unknown option 'beam_sizee' for task seq2seq; did you mean beam_size.*"
                                          r"valid options: beam_size, do_sample, early_stopping"):
        titler(text, beam_sizee=4)
    assert titler(text, num_beams=2) == titler(text, beam_size=2)
    for bad, message in [({"beam_size": "abc"}, "decode.beam_size=abc: expected an integer"),
                         ({"beam_size": 0}, r"decode.beam_size=0: expected an integer >= 1"),
                         ({"max_new_tokens": 125}, r"decode.max_new_tokens=125 leaves no room for the source "
                                                   r"within max_length=128: expected <= max_length - 4 = 124")]:
        with pytest.raises(NlpkitError, match=message):
            titler(text, **bad)
    for bad in (123, {"title": "只有标题"}, {"src": ""}):
        with pytest.raises(NlpkitError, match="expected"):
            titler(bad)


def test_pipeline_takes_a_list_tuple_or_generator(run):
    titler = pipeline("seq2seq", model=str(run))
    texts = [line.split("\t")[1] for line in open(Seq2Seq.sample_path("dev"), encoding="utf-8")][:3]
    as_list = [r["text"] for r in titler(texts)]
    assert [r["text"] for r in titler(tuple(texts))] == as_list
    assert [r["text"] for r in titler(t for t in texts)] == as_list
    assert [r["text"] for r in titler([{"text": t} for t in texts])] == as_list


def test_prompt_leaves_room_for_the_calls_max_new_tokens(run):
    titler = pipeline("seq2seq", model=str(run))
    task, long_source = titler.task, {"src": "电池寿命估计" * 100}
    for new in (32, 100):
        prompt = task._prompt(long_source, decode_config(task.cfg.decode, {"max_new_tokens": new}))
        assert len(prompt) == task.cfg.max_length - new - 1


@pytest.mark.parametrize("overrides,message", [
    (["max_length=3"], r"max_length=3: expected an integer >= 8"),
    (["maxlen=64"], r"unknown config key 'maxlen'; did you mean max_length\?"),
    (["max_length=16", "max_target_length=8"], r"decode.max_new_tokens=32 leaves no room for the source within "
                                                r"max_length=16: expected <= max_length - 4 = 12"),
    (["max_target_length=200"], r"max_target_length=200 leaves no room for the source within max_length=128"),
])
def test_lengths_that_leave_no_room_name_the_key(overrides, message):
    with pytest.raises(NlpkitError, match=message):
        build_config(Seq2Seq, overrides)


def test_predict_inputs_are_files(run, tmp_path, capsys):
    folder = tmp_path / "THUCNews"
    folder.mkdir()
    (folder / "1.txt").write_text("标题\n正文。\n", encoding="utf-8")
    with pytest.raises(NlpkitError, match="is a folder; predict reads a file"):
        Seq2Seq(None).read_inputs(str(folder))
    assert main(["predict", f"model={run}", f"input={folder}"]) == 2
    assert "is a folder" in capsys.readouterr().err
    bad = tmp_path / "in.jsonl"
    for line, message in [('{"text": 123}', "in.jsonl:1: expected a non-empty string in one of the fields src, text"),
                          ('["摘要"]', "in.jsonl:1: expected a JSON object or a string, got list")]:
        bad.write_text(line + "\n", encoding="utf-8")
        assert main(["predict", f"model={run}", f"input={bad}"]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1


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


def test_cut_sources_and_targets_are_said_once_per_run():
    """No silent truncation: training says how many targets (max_target_length) and sources it cuts,
    predicting how many sources it cuts to what max_length leaves beside decode.max_new_tokens."""
    from nlpkit.tokenizer import Tokenizer

    task = Seq2Seq(build_config(Seq2Seq, ["max_length=24", "max_target_length=4", "decode.max_new_tokens=4"]))
    long, short = {"src": "电池寿命估计" * 5, "tgt": "电池寿命估计"}, {"src": "电池", "tgt": "寿命"}
    task.tokenizer = Tokenizer.build([long["src"]])
    with pytest.warns(UserWarning) as seen:
        assert task.training_records([long, short]) == [long, short]
        predicted = task.predict(task.build_model("tiny"), [long, short, long])
        task.predict(task.build_model("tiny"), [long])
    assert len(predicted) == 3
    assert [str(w.message) for w in seen] == [
        "seq2seq: 1 of 2 training targets were cut to 4 tokens (raise max_target_length to keep more; "
        "said once per run)",
        "seq2seq: 1 of 2 training sources were cut to 24 - 3 - their target's tokens (raise max_length to keep "
        "more; said once per run)",
        "seq2seq: 2 of 3 sources were cut to 17 tokens (max_length - decode.max_new_tokens - 3; raise max_length "
        "or lower decode.max_new_tokens to keep more; said once per run)"]

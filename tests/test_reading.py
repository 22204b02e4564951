"""reading end to end: train the tiny model on the bundled WebQA-format sample (once per module),
then answer held-out questions through evaluate / predict / the pipeline."""
import json

import pytest

from nlpkit import pipeline
from nlpkit.cli import main
from nlpkit.config import build_config
from nlpkit.registry import get_task_class
from nlpkit.tasks.reading.reader import gold_answers

Reading = get_task_class("reading")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reading") / "run"
    # data.train without data.dev: no per-epoch selection on the questions scored below
    assert main(["train", "task=reading", f"data.train={Reading.sample_path('train')}", f"output_dir={out}",
                 "trainer.progress=false"]) == 0
    return out


@pytest.fixture(scope="module")
def dev():
    return Reading(build_config(Reading)).read(Reading.sample_path("dev"))


def test_answers_held_out_questions(run, capsys):
    assert main(["evaluate", f"model={run}", f"data={Reading.sample_path('dev')}"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["final"] >= 0.8
    assert metrics["no_answer_recall"] >= 0.6 and metrics["no_answer_precision"] >= 0.6
    assert metrics["questions"] == len(json.loads(open(Reading.sample_path("dev"), encoding="utf-8").read()))


def test_pipeline_answers_and_says_no_answer(run, dev):
    reader = pipeline("reading", model=str(run))
    answerable = [r for r in dev if gold_answers(r) and len(r["passages"]) > 1][:8]
    unanswerable = [r for r in dev if not gold_answers(r)][:8]
    hits = 0
    for r in answerable:
        out = reader(r["question"], passages=[p["passage"] for p in r["passages"]])
        assert set(out) == {"answer", "score", "votes"} and 0.0 <= out["score"] <= 1.0
        hits += out["answer"] in gold_answers(r)
        if out["answer"]:  # extractive: copied from a passage, and at least one passage voted
            assert out["votes"] >= 1 and any(out["answer"] in p["passage"] for p in r["passages"])
    assert hits >= 6
    empty = [reader(r["question"], passages=[p["passage"] for p in r["passages"]]) for r in unanswerable]
    assert sum(e["answer"] == "" and e["votes"] == 0 for e in empty) >= 5
    # a list is predicted in batches with the same results as one by one
    records = [{"question": r["question"], "passages": [p["passage"] for p in r["passages"]]}
               for r in answerable[:4] + unanswerable[:4]]
    batched = reader(records, batch_size=3)
    single = [reader(r["question"], passages=r["passages"]) for r in records]
    assert [b["answer"] for b in batched] == [s["answer"] for s in single]
    assert [b["score"] for b in batched] == pytest.approx([s["score"] for s in single], abs=1e-4)


def test_modes_and_votes_are_options(run, dev):
    reader = pipeline("reading", model=str(run))
    r = next(r for r in dev if gold_answers(r) and len(r["passages"]) > 2)
    passages = [p["passage"] for p in r["passages"]]
    for options in ({"vote": "mean"}, {"mode": "abstractive"}, {"beam_size": 3}):
        out = reader(r["question"], passages=passages, **options)
        assert isinstance(out["answer"], str) and out["votes"] >= 0
    tuned = pipeline("reading", model=str(run), **{"decode.vote": "mean"})
    assert tuned.task.cfg.decode.vote == "mean"
    with pytest.raises(Exception, match="decode.mode=fuzzy"):
        reader(r["question"], passages=passages, mode="fuzzy")


def test_predict_jsonl_and_cmrc_style_file(run, tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    dev_records = json.loads(open(Reading.sample_path("dev"), encoding="utf-8").read())[:5]
    src.write_text("".join(json.dumps({"id": d["id"], "question": d["question"],
                                       "passages": [p["passage"] for p in d["passages"]]}, ensure_ascii=False) + "\n"
                           for d in dev_records), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["predict", "task=reading", f"model={run}", f"input={src}", f"output={out}"]) == 0
    preds = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [p["id"] for p in preds] == [d["id"] for d in dev_records]
    assert all(set(p) == {"id", "answer", "score", "votes"} for p in preds)
    # the SQuAD / CMRC2018 layout goes through the same evaluation (text unlike the sample: no threshold)
    cmrc = Reading.folder() / "sample" / "cmrc2018_style.json"
    assert main(["evaluate", f"model={run}", f"data={cmrc}", f"output={tmp_path / 'cmrc.jsonl'}"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["questions"] == 11 and 0.0 <= metrics["final"] <= 1.0
    rows = [json.loads(line) for line in (tmp_path / "cmrc.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows[0]["gold"] == ["福建省"] and {"answer", "score", "votes"} <= set(rows[0])

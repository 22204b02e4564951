"""reading end to end: train the tiny model on the bundled WebQA-format sample (once per module),
then answer held-out questions through evaluate / predict / the pipeline."""
import json

import pytest
import torch

from nlpkit import pipeline
from nlpkit.cli import main
from nlpkit.config import build_config
from nlpkit.registry import get_task_class
from nlpkit.tasks.reading.metrics import reading_scores
from nlpkit.tasks.reading.reader import gold_answers

SLOW_FIXTURES = {"run"}  # they train the task's full tiny profile (conftest marks their users slow)

Reading = get_task_class("reading")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reading") / "run"
    # one thread: the tiny model gains little from a second one, and loses several-fold to thread
    # contention when other work shares the two cores
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # data.train without data.dev: no per-epoch selection on the questions scored below
        assert main(["train", "task=reading", f"data.train={Reading.sample_path('train')}", f"output_dir={out}",
                     "trainer.progress=false"]) == 0
    finally:
        torch.set_num_threads(threads)
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
        assert set(out) == {"answer", "score", "votes"}
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


def _next_token_probs(model, prompt, answer):
    ids, types = prompt + answer, [0] * len(prompt) + [1] * len(answer)
    with torch.no_grad():
        logits = model(torch.tensor([ids]), torch.tensor([types]), torch.ones(1, len(ids), dtype=torch.long))
    return logits[0, -1].softmax(-1)


def hand_vote(reader, question, passages, answer, how):
    """(score, votes) of `answer` recomputed by hand: the passages whose first token is not [SEP]
    vote at every step by sum(p^2) / (sum(p) + 1) (square) or the mean of p; the score is the
    product of the voted probabilities of the answer's tokens and the closing [SEP]."""
    task, model = reader.task, reader.model
    sep = task.tokenizer.sep_id
    prompts = [prompt for prompt, _, _ in task._encode_passages(task.as_record(question, passages=passages))]
    voters = [p for p in prompts if int(_next_token_probs(model, p, []).argmax()) != sep]
    target = task.tokenizer.token_ids(answer) + [sep]
    score = 1.0
    for t in range(len(target)):
        p = torch.stack([_next_token_probs(model, prompt, target[:t]) for prompt in voters])
        voted = (p ** 2).sum(0) / (p.sum(0) + 1) if how == "square" else p.mean(0)
        score *= float(voted[target[t]] / voted.sum())
    return score, len(voters)


def test_modes_and_votes_are_options(run, dev):
    reader = pipeline("reading", model=str(run))
    r = next(r for r in dev if gold_answers(r) and len(r["passages"]) > 2)
    question, passages = r["question"], [p["passage"] for p in r["passages"]]
    scores = {}
    for options in ({"vote": "square"}, {"vote": "mean"}, {"mode": "abstractive", "vote": "square"},
                    {"beam_size": 3, "vote": "square"}):
        out = reader(question, passages=passages, **options)
        assert out["answer"]
        score, votes = hand_vote(reader, question, passages, out["answer"], options["vote"])
        assert out["score"] == pytest.approx(score, rel=1e-4) and out["votes"] == votes >= 1
        # a per-call option does what the same key in the run's config does
        configured = pipeline("reading", model=str(run), **{f"decode.{k}": v for k, v in options.items()})
        assert configured(question, passages=passages) == out
        scores[tuple(options.items())] = out["score"]
    assert scores[(("vote", "square"),)] != pytest.approx(scores[(("vote", "mean"),)])


def test_tuples_and_generators_equal_lists(run, dev):
    reader = pipeline("reading", model=str(run))
    records = [{"question": r["question"], "passages": [p["passage"] for p in r["passages"]]} for r in dev[:6]]
    as_list = reader(records, batch_size=4)
    assert len(as_list) == 6 and any(a["answer"] for a in as_list)
    assert reader(tuple(records), batch_size=4) == as_list
    assert reader((r for r in records), batch_size=4) == as_list


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
    rows = [json.loads(line) for line in (tmp_path / "cmrc.jsonl").read_text(encoding="utf-8").splitlines()]
    assert metrics["questions"] == len(rows) == 11
    assert rows[0]["gold"] == ["福建省"] and {"answer", "score", "votes"} <= set(rows[0])
    # the printed metrics are those of the written predictions
    assert metrics == pytest.approx(reading_scores([r["answer"] for r in rows], [r["gold"] for r in rows]))


def test_what_training_and_predicting_cut_is_said_once():
    """No silent truncation: a question longer than max_question_length, a gold answer longer than
    max_target_length and (without window.train) a passage longer than max_passage_length are counted
    in one warning line each, naming the key, once per run."""
    from nlpkit.tokenizer import Tokenizer

    task = Reading(build_config(Reading, ["max_question_length=4", "max_target_length=2", "max_passage_length=8"]))
    long_q = {"question": "一二三四五六", "passages": [{"passage": "甲乙丙丁戊己庚辛壬癸子丑", "answers": ["甲乙丙"]}]}
    short = {"question": "一二", "passages": [{"passage": "甲乙", "answers": ["甲"]}]}
    task.tokenizer = Tokenizer.build([long_q["question"], long_q["passages"][0]["passage"]])
    with pytest.warns(UserWarning) as seen:
        assert task.training_records([long_q, short]) == [long_q, short]
        task.training_records([long_q, short])  # said once per run
    lines = [str(w.message) for w in seen]
    assert lines == [
        "reading: 1 of 2 training questions were cut to 4 tokens (raise max_question_length to keep more; "
        "said once per run)",
        "reading: 1 of 2 training answers were cut to 2 tokens (raise max_target_length to keep more; said once per run)",
        "reading: 1 of 2 training passages were cut to 8 tokens (window.train=true trains on all their windows; "
        "said once per run)"]
    windowed = Reading(build_config(Reading, ["max_question_length=8", "window.train=true"]))
    windowed.tokenizer = task.tokenizer
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is cut: not a word
        windowed.training_records([long_q, short])

"""cond_lm: reading and splitting, the condition really steers the trained model (conditioning
accuracy, label words in generated texts), label and vector conditions, predict/pipeline, bad input."""
import json
import math
from collections import Counter

import pytest
import torch

from nlpkit import pipeline
from nlpkit.cli import main
from nlpkit.config import build_config
from nlpkit.errors import DataError, NlpkitError
from nlpkit.registry import get_task_class
from nlpkit.tokenizer import Tokenizer

CondLM = get_task_class("cond_lm")
TRAIN, DEV = CondLM.sample_path("train"), CondLM.sample_path("dev")
QUIET = ["trainer.progress=false"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """The bundled sample, trained once with the default tiny model. Without a dev file the trainer
    saves the last epoch (the dev sample is scored afterwards through `nlpkit evaluate`)."""
    out = tmp_path_factory.mktemp("cond_lm") / "run"
    assert main(["train", "task=cond_lm", f"data.train={TRAIN}", f"output_dir={out}", "trainer.epochs=6", *QUIET]) == 0
    return out


def _task(*overrides):
    return CondLM(build_config(CondLM, list(overrides)))


# ---- reading -------------------------------------------------------------------------------------
def test_split_text_at_sentence_punctuation():
    from nlpkit.tasks.cond_lm.reader import split_text

    text = "房间很干净。早餐也不错！服务员很热情，位置方便；下次还来？" + "Great stay. Friendly staff! Costs 3.5 dollars."
    chunks = split_text(text, 16)
    assert all(len(c) <= 16 for c in chunks)
    assert "".join(chunks).replace(" ", "") == text.replace(" ", "")
    assert chunks[0] == "房间很干净。早餐也不错！"  # packs whole sentences up to the limit
    assert all(c[-1] in "。！？；.!" for c in chunks[:-1] if len(c) < 16)
    assert any("3.5" in c for c in chunks)  # a decimal point is no sentence end
    assert split_text("一" * 40, 16) == ["一" * 16, "一" * 16, "一" * 8]  # no punctuation: cut as a last resort
    assert split_text("  短句。 ", 16) == ["短句。"]


def test_read_tsv_jsonl_and_split_long_texts(tmp_path):
    task = _task("max_length=20")
    tsv = tmp_path / "a.data"
    tsv.write_text("房间干净，服务热情！\t1\n\n菜又咸又油。等了一个小时才上菜。服务员爱理不理。再也不会来了。\t0\n", encoding="utf-8")
    records = task.read(str(tsv))
    assert [r["label"] for r in records] == ["正面", "负面", "负面"]  # 0/1 shown by label_names; 2nd text split
    assert all(len(r["text"]) <= 18 for r in records)
    assert records[2]["where"].endswith("a.data:3")
    assert _task("label_names=null").read(str(tsv))[0]["label"] == "1"

    jl = tmp_path / "b.jsonl"
    jl.write_text('{"text": "好看", "label": "喜剧"}\n{"text": "吓人", "label": "恐怖"}\n', encoding="utf-8")
    assert [r["label"] for r in task.read(str(jl))] == ["喜剧", "恐怖"]
    vec = tmp_path / "c.jsonl"
    vec.write_text('{"text": "一只猫", "cond": [0.5, 1, -2]}\n', encoding="utf-8")
    assert task.read(str(vec)) == [{"text": "一只猫", "cond": [0.5, 1.0, -2.0], "where": f"{vec}:1"}]


@pytest.mark.parametrize("content,message", [
    ("没有标签的一行\n", r"b\.data:1: expected 'text<TAB>label'"),
    ("好\t1\n\t0\n", r"b\.data:2: field 'text': is empty"),
    ('{"text": "好", "label": "a", "cond": [1]}\n', r"b\.data:1: a record needs exactly one of 'label'"),
    ('{"text": "好", "label": "a"}\n{"text": "差", "cond": [1]}\n', r"b\.data:2: field 'cond': earlier records give 'label'"),
    ('{"text": "好", "cond": [1, "x"]}\n', r"b\.data:1: field 'cond': expected finite numbers"),
    ('{"text": "好", "label": [1]}\n', r"b\.data:1: field 'label': expected a string or an integer"),
])
def test_bad_data_names_file_line_field(tmp_path, content, message):
    path = tmp_path / "b.data"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        _task().read(str(path))


def test_condition_starts_as_the_plain_model():
    """Zero-initialised conditioning: before training every label gives the same logits."""
    for hidden in (None, 16):
        task = _task(*(["cond_hidden=16"] if hidden else []))
        records = task.read(TRAIN)[:8]
        task.tokenizer = Tokenizer.build(list(task.texts(records)))
        task.prepare(records)
        torch.manual_seed(0)
        model = task.build_model("tiny").eval()
        batch = task.collate([task.encode(r) for r in records])
        with torch.no_grad():
            a = model(batch["input_ids"], batch["attention_mask"], labels=torch.zeros(8, dtype=torch.long))
            b = model(batch["input_ids"], batch["attention_mask"], labels=torch.ones(8, dtype=torch.long))
        assert torch.allclose(a, b)
        assert sum(isinstance(m, torch.nn.LayerNorm) for m in model.bert.modules()) == 0  # every norm conditioned


def test_dev_label_unseen_in_training_is_caught_by_check_dev(tmp_path):
    task = _task()
    task.prepare(task.read(TRAIN))
    task.check_dev(task.read(DEV))  # the sample's dev labels are the training labels
    dev = tmp_path / "dev.data"
    dev.write_text("房间干净。\t1\n还行吧。\t中性\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"dev\.data:2: field 'label': label '中性' does not occur in the training "
                                        r"data \(its labels: 正面, 负面\)"):
        task.check_dev(task.read(str(dev)))
    vectors = tmp_path / "vec.jsonl"
    vectors.write_text('{"text": "好", "cond": [1, 2]}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"vec\.jsonl:1: field 'cond': this model is conditioned on labels"):
        task.check_dev(task.read(str(vectors)))


def test_unknown_dev_label_stops_training_before_it_starts(tmp_path, monkeypatch, capsys):
    dev = tmp_path / "dev.data"
    dev.write_text("房间干净。\t1\n还行吧。\t中性\n", encoding="utf-8")
    steps = []
    monkeypatch.setattr(CondLM, "loss", lambda self, model, batch: steps.append(1))
    args = ["train", "task=cond_lm", f"data.train={TRAIN}", f"data.dev={dev}", f"output_dir={tmp_path / 'run'}", *QUIET]
    assert main(args) == 2
    assert "dev.data:2: field 'label': label '中性' does not occur in the training data" in capsys.readouterr().err
    assert steps == [] and not (tmp_path / "run" / "model.safetensors").exists()


# ---- the trained model ---------------------------------------------------------------------------
def test_trained_model_is_steered_by_its_label(run_dir, tmp_path, capsys):
    state = json.loads((run_dir / "task_state.json").read_text(encoding="utf-8"))
    assert state == {"mode": "label", "labels": ["正面", "负面"]}
    capsys.readouterr()
    assert main(["evaluate", f"model={run_dir}", f"data={DEV}", f"output={tmp_path / 'scored.jsonl'}"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["cond_accuracy"] >= 0.9
    for label in ("正面", "负面"):
        assert 1 < metrics[f"perplexity[{label}]"] < 10  # the tiny vocabulary has ~450 tokens
        assert metrics[f"cond_accuracy[{label}]"] >= 0.8
    rows = [json.loads(line) for line in (tmp_path / "scored.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 100 and sum(r["pred_label"] == r["label"] for r in rows) / 100 == metrics["cond_accuracy"]


def _exclusive_bigrams():
    """Character bigrams that occur in the training texts of one label only."""
    seen = {}
    for line in open(TRAIN, encoding="utf-8"):
        text, label = line.rstrip("\n").rsplit("\t", 1)
        seen.setdefault(label, Counter()).update(text[i : i + 2] for i in range(len(text) - 1))
    return {lab: set(c) - set().union(*(set(o) for k, o in seen.items() if k != lab)) for lab, c in seen.items()}


def test_generated_texts_favour_their_labels_words(run_dir):
    own_words = _exclusive_bigrams()  # raw labels "0"/"1"
    gen = pipeline("cond_lm", model=str(run_dir))
    for raw, name in (("1", "正面"), ("0", "负面")):
        other = "0" if raw == "1" else "1"
        texts = gen(label=name, n=12, seed=7, top_p=0.9)
        assert len(texts) == 12 and all(isinstance(t, str) and t for t in texts)
        own = [sum(t[i : i + 2] in own_words[raw] for i in range(len(t) - 1)) for t in texts]
        alien = [sum(t[i : i + 2] in own_words[other] for i in range(len(t) - 1)) for t in texts]
        assert sum(o > a for o, a in zip(own, alien)) >= 10, (name, texts)
        assert sum(own) > 3 * sum(alien), (name, texts)


def test_pipeline_predict_and_stream(run_dir, tmp_path):
    gen = pipeline("cond_lm", model=str(run_dir))
    first = gen(label="正面", n=2, seed=3, top_p=0.95)
    assert first == gen(label="1", n=2, seed=3, top_p=0.95)  # the raw label works too; seeded = reproducible
    assert gen(label=["正面", "负面"], n=2, seed=3, top_p=0.95) == [first, gen(label="负面", n=2, seed=3, top_p=0.95)]
    one = gen(label="负面", n=1, seed=5)[0]
    assert "".join(gen(label="负面", stream=True, seed=5)) == one
    assert gen(label="正面", prefix="这家酒店", n=2, seed=1)[0].startswith("这家酒店")
    assert gen(label="正面", num_return_sequences=2, seed=3, top_p=0.95) == first

    inp = tmp_path / "in.jsonl"
    inp.write_text('{"label": "正面", "n": 2, "seed": 3, "top_p": 0.95, "id": 7}\n{"label": "0"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["predict", f"model={run_dir}", f"input={inp}", f"output={out}"]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows[0] == {"id": 7, "label": "正面", "texts": first}
    assert rows[1]["label"] == "负面" and len(rows[1]["texts"]) == 5  # config default n


def test_bad_requests(run_dir, tmp_path, capsys):
    gen = pipeline("cond_lm", model=str(run_dir))
    with pytest.raises(NlpkitError, match="unknown label '中性'; known labels: 正面, 负面"):
        gen(label="中性")
    with pytest.raises(NlpkitError, match="conditioned on labels: give 'label'"):
        gen(cond=[0.0] * 128)
    with pytest.raises(NlpkitError, match="exactly one of 'label' and 'cond'"):
        gen()
    with pytest.raises(NlpkitError, match=r"decode.num_return_sequences=0: expected an integer >= 1"):
        gen(label="正面", n=0)
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"label": "正面"}\n{"label": "好评"}\n', encoding="utf-8")
    assert main(["predict", f"model={run_dir}", f"input={inp}"]) == 2
    assert "in.jsonl:2: field 'label': unknown label '好评'; known labels: 正面, 负面" in capsys.readouterr().err
    inp.write_text('{"label": "正面", "top-p": 0.9}\n', encoding="utf-8")
    assert main(["predict", f"model={run_dir}", f"input={inp}"]) == 2
    assert "in.jsonl:1: unknown field 'top-p'; allowed: label, cond, n, prefix, id" in capsys.readouterr().err
    for line, message in [('{"text": 123}', "in.jsonl:1: unknown field 'text'"),
                          ('[1, 2]', "in.jsonl:1: expected a JSON object, got list"),
                          ('{"label": "正面", "top_p": "abc"}', "in.jsonl:1: decode.top_p=abc: expected a number"),
                          ('{"label": "正面", "n": 65}', "in.jsonl:1: decode.num_return_sequences=65: expected <= 64")]:
        inp.write_text(line + "\n", encoding="utf-8")
        assert main(["predict", f"model={run_dir}", f"input={inp}"]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert main(["predict", f"model={run_dir}", f"input={tmp_path}"]) == 2
    assert "is a folder, expected a file" in capsys.readouterr().err


def test_call_options_are_checked_in_one_place(run_dir):
    gen = pipeline("cond_lm", model=str(run_dir))
    with pytest.raises(NlpkitError, match=r"unknown option 'beam_sizee' for task cond_lm; did you mean beam_size.*"
                                          r"valid options: beam_size, do_sample, .*top_p, prefix"):
        gen("正面", beam_sizee=4)
    beams = gen("正面", num_beams=2, do_sample=False, n=2, max_new_tokens=12)
    assert beams == gen("正面", beam_size=2, do_sample=False, num_return_sequences=2, max_new_tokens=12)
    assert len(beams) == 2
    for bad, message in [({"beam_size": "abc"}, "decode.beam_size=abc: expected an integer"),
                         ({"beam_size": 0}, r"decode.beam_size=0: expected an integer >= 1"),
                         ({"n": 50000}, "decode.num_return_sequences=50000: expected <= 64 for cond_lm"),
                         ({"num_beams": 100, "do_sample": False}, "decode.beam_size=100: expected <= 64"),
                         ({"prefix": 5}, "field 'prefix': expected a string")]:
        with pytest.raises(NlpkitError, match=message):
            gen("正面", **bad)
    with pytest.raises(NlpkitError, match="give a condition vector as cond="):
        gen([0.5, 1.0])
    with pytest.raises(NlpkitError, match=r"decode.num_return_sequences=65: expected <= 64"):
        _task("decode.num_return_sequences=65")


def test_pipeline_takes_a_list_tuple_or_generator(run_dir):
    gen = pipeline("cond_lm", model=str(run_dir), top_p=0.9)  # a default for every call
    labels = ["正面", "负面", "1"]
    as_list = gen(labels, n=2, seed=4)
    assert len(as_list) == 3 and all(len(texts) == 2 for texts in as_list)
    assert gen(tuple(labels), n=2, seed=4) == as_list
    assert gen((x for x in labels), n=2, seed=4) == as_list
    assert gen(label=labels, n=2, seed=4) == as_list
    assert as_list[0] == as_list[2] == gen({"label": "正面", "n": 2}, seed=4)
    # a request's own settings come before the call's
    assert gen({"label": "正面", "seed": 4}, n=2, seed=9) == as_list[0]


# ---- vector conditions ---------------------------------------------------------------------------
def test_vector_condition_learns_and_checks_length(tmp_path):
    """JSONL {"text","cond"}: each label's texts get one fixed 6-dim vector (think image features)."""
    vectors = {"0": [1.0, -0.5, 0.0, 2.0, 0.3, -1.0], "1": [-1.0, 0.5, 1.5, -2.0, 0.0, 1.0]}
    lines = open(TRAIN, encoding="utf-8").read().splitlines()
    data = tmp_path / "vec.jsonl"
    data.write_text("".join(json.dumps({"text": t, "cond": vectors[lab]}, ensure_ascii=False) + "\n"
                            for t, lab in (ln.rsplit("\t", 1) for ln in lines[:240])), encoding="utf-8")
    out = tmp_path / "vec"
    args = [f"data.train={data}", f"output_dir={out}", "trainer.epochs=5", "cond_hidden=32", *QUIET]
    cfg = build_config(CondLM, args)
    CondLM(cfg).fit(cfg)
    gen = pipeline("cond_lm", model=str(out))
    assert json.loads((out / "task_state.json").read_text()) == {"mode": "vector", "cond_dim": 6}

    dev = tmp_path / "dev.jsonl"
    dev.write_text("".join(json.dumps({"text": t, "cond": vectors[lab]}, ensure_ascii=False) + "\n"
                           for t, lab in (ln.rsplit("\t", 1) for ln in open(DEV, encoding="utf-8").read().splitlines())),
                   encoding="utf-8")
    metrics = gen.task.evaluate(gen.model, gen.task.read(str(dev)))
    assert metrics["cond_accuracy"] >= 0.9 and math.isfinite(metrics["perplexity"])

    texts = gen(cond=vectors["1"], n=2, seed=0)
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)
    with pytest.raises(NlpkitError, match="field 'cond': has length 3, the model expects length 6"):
        gen(cond=[1.0, 2.0, 3.0])
    with pytest.raises(NlpkitError, match=r"conditioned on vectors: give 'cond' \(a list of 6 numbers\)"):
        gen(label="正面")


def test_vector_candidates_are_capped():
    """With many distinct dev vectors each text is ranked against eval_candidates of them, its own included."""
    from nlpkit.tasks.cond_lm.task import candidates

    task = _task("eval_candidates=3")
    task.state = {"mode": "vector", "cond_dim": 2}
    records = [{"text": "字", "cond": [float(i), 0.0]} for i in range(6)] + [{"text": "字", "cond": [2.0, 0.0]}]
    rows, truth, ranked = candidates(task, None, records)
    assert len(rows) == 6 and truth == [0, 1, 2, 3, 4, 5, 2]
    assert all(len(set(r)) == 3 and t in r for t, r in zip(truth, ranked))


def test_cut_prefixes_and_training_texts_are_said_once_per_run():
    """No silent truncation: a prefix longer than max_length - 2 tokens, and a training text still longer
    than that after read() split it (a character that becomes several tokens), are counted in one warning
    line each, naming the key."""
    from nlpkit.tokenizer import Tokenizer

    task = _task("max_length=8", "decode.max_new_tokens=4", "decode.num_return_sequences=1")
    task.state = {"mode": "label", "labels": ["负面", "正面"]}
    task.tokenizer = Tokenizer.build(["房间很干净早餐也不错"])
    long, short = {"text": "房间很干净早餐也不错", "label": "正面"}, {"text": "房间", "label": "负面"}
    with pytest.warns(UserWarning) as seen:
        assert task.training_records([long, short]) == [long, short]
        out = task.predict(task.build_model("tiny"), [{"label": "正面", "prefix": "房间很干净早餐也不错"},
                                                     {"label": "负面", "prefix": "房间"}])
    assert [len(o["texts"]) for o in out] == [1, 1] and out[0]["texts"][0].startswith("房间很干净早")
    assert [str(w.message) for w in seen] == [
        "cond_lm: 1 of 2 training texts were cut to 6 tokens (raise max_length to keep more; said once per run)",
        "cond_lm: 1 of 2 prefixes were cut to 6 tokens (raise max_length to keep more; said once per run)"]

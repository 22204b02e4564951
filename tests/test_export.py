"""`nlpkit export` (issue 26): ONNX graphs of short tiny runs of every encoder task and head, checked
against torch before they are written, run through pipeline(), `nlpkit predict` and `evaluate` as the
run itself is; int8; a failing check that writes nothing; the refusals."""
import importlib.util
import json
from pathlib import Path

import pytest

from helpers import error_line, train_tiny
from nlpkit import pipeline
from nlpkit.cli import main
from nlpkit.errors import NlpkitError

pytest.importorskip("onnxruntime", reason="the export extra is not installed")
pytest.importorskip("onnxscript", reason="the export extra is not installed")

from nlpkit import export as ex  # noqa: E402

TEXTS = ["这家酒店很好，服务周到", "房间太差了，再也不来", "我在北京见到了王小明", "上海的天气很好", "一般般吧"]


def export(capsys, run, out, *args):
    assert main(["export", str(run), "-o", str(out), *args]) == 0
    err = capsys.readouterr().err
    assert f"nlpkit: exported to {out}" in err
    return json.loads((Path(out) / ex.EXPORT_FILE).read_text()), err


#: name -> (task, training overrides): a few steps each, as the check compares whatever the model predicts
RUNS = {
    "classify": ("classify", "trainer.epochs=2"),
    "ner-crf": ("ner", "trainer.max_steps=30"),
    "ner-softmax": ("ner", "head=softmax", "trainer.max_steps=30"),
    "ner-global_pointer": ("ner", "head=global_pointer", "trainer.max_steps=30"),
    # a low threshold: the barely trained casrel finds subjects, so its object graph runs in the check
    "triples-casrel": ("triples", "trainer.max_steps=40", "subject_threshold=0.05"),
    "triples-gplinker": ("triples", "head=gplinker", "trainer.max_steps=40"),
    "nl2sql": ("nl2sql", "trainer.max_steps=20"),
}


class Lazy(dict):
    """name -> folder, made on first use (so that `-k` runs train only what they use)."""

    def __init__(self, make):
        super().__init__()
        self.make = make

    def __missing__(self, name):
        self[name] = self.make(name)
        return self[name]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("export_runs")
    return Lazy(lambda name: train_tiny(RUNS[name][0], root / name, *RUNS[name][1:]))


@pytest.fixture(scope="module")
def exported(runs, tmp_path_factory):
    """Each run exported (fp32) once."""
    root = tmp_path_factory.mktemp("exports")

    def make(name):
        assert main(["export", str(runs[name]), "-o", str(root / name)]) == 0
        return root / name
    return Lazy(make)


def outputs(task, model_dir, texts):
    return pipeline(task, model=str(model_dir))(texts)


@pytest.mark.parametrize("name", ["classify", "ner-crf", "ner-softmax", "ner-global_pointer", "triples-casrel",
                                  "triples-gplinker", "nl2sql"])
def test_the_export_predicts_what_the_run_predicts(runs, exported, name):
    manifest = json.loads((exported[name] / ex.EXPORT_FILE).read_text())
    parity = manifest["parity"]
    assert parity["equal"] >= ex.AGREEMENT * parity["records"] and parity["records"] >= 50
    assert 0 <= parity["max_abs_difference"] <= ex.FP32_TOLERANCE
    assert manifest["quantization"] is None and manifest["nlpkit"] and manifest["opset"] == ex.OPSET
    assert not (exported[name] / "model.safetensors").exists()  # the torch weights stay with the run
    task = name.split("-")[0]
    pipe = pipeline(task, model=str(exported[name]))
    assert pipe.model.onnx_export["task"] == task  # the stand-in, not a torch model
    data = pipe.task.read_data(pipe.task.eval_data())[:40]
    expected = pipeline(task, model=str(runs[name]))(data)
    got = pipe(data)
    assert ex._strip_scores(got) == ex._strip_scores(expected)


def test_casrel_is_two_graphs_and_its_subject_pointers(exported):
    folder = exported["triples-casrel"]
    manifest = json.loads((folder / ex.EXPORT_FILE).read_text())
    assert set(manifest["graphs"]) == {"encode", "object_logits"} and manifest["keep"] == ["subject_pointers"]
    assert (folder / "encode.onnx").exists() and (folder / "object_logits.onnx").exists()
    assert (folder / ex.KEEP_FILE).exists()


def test_dynamic_batch_and_length_and_scores(runs, exported):
    """Batches of 1 and many, texts of every length up to long ones read in windows: the scores match."""
    texts = TEXTS + ["很好" * 100]  # longer than max_length: windows
    torch_out = outputs("classify", runs["classify"], texts)
    onnx_out = outputs("classify", exported["classify"], texts)
    one_by_one = [outputs("classify", exported["classify"], t) for t in texts]
    for a, b, c in zip(torch_out, onnx_out, one_by_one):
        assert a["label"] == b["label"] == c["label"]
        assert all(abs(a["scores"][k] - b["scores"][k]) < 1e-4 for k in a["scores"])


def test_predict_and_evaluate_take_an_export(runs, exported, tmp_path, capsys):
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(TEXTS)))
    rows = {}
    for which, model in (("torch", runs["ner-crf"]), ("onnx", exported["ner-crf"])):
        assert main(["predict", f"model={model}", f"input={data}", f"output={tmp_path / which}.jsonl"]) == 0
        rows[which] = [json.loads(line) for line in (tmp_path / f"{which}.jsonl").read_text().splitlines()]
    assert rows["onnx"] == rows["torch"] and [r["id"] for r in rows["onnx"]] == list(range(len(TEXTS)))
    capsys.readouterr()
    metrics = {}
    for which, model in (("torch", runs["classify"]), ("onnx", exported["classify"])):
        assert main(["evaluate", f"model={model}"]) == 0
        metrics[which] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["onnx"]["accuracy"] == metrics["torch"]["accuracy"]


def test_int8(runs, tmp_path, capsys):
    manifest, err = export(capsys, runs["ner-crf"], tmp_path / "int8", "--quantize", "int8")
    assert manifest["quantization"] == "int8"
    parity = manifest["parity"]
    assert parity["equal"] >= ex.AGREEMENT * parity["records"]
    assert f"predictions equal torch's on {parity['equal']}/{parity['records']} records" in err
    import onnx

    ops = {n.op_type for n in onnx.load(str(tmp_path / "int8" / "model.onnx")).graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops  # int8 matrices, activations quantized on the fly
    assert pipeline("ner", model=str(tmp_path / "int8"))("我在北京见到了王小明") is not None


def test_a_failing_check_writes_nothing(runs, tmp_path, capsys, monkeypatch):
    """Graphs that answer wrongly (outputs negated, as a broken export would): no folder, no leftovers."""
    real = ex._tensor
    monkeypatch.setattr(ex, "_tensor", lambda array, anchor: -real(array, anchor) if array.dtype.kind == "f"
                        else real(array, anchor))
    line = error_line(capsys, "export", str(runs["classify"]), "-o", str(tmp_path / "out" / "bad"), "--limit", "40")
    assert "export failed its check: the ONNX predictions equal torch's on" in line and "nothing written" in line
    assert not (tmp_path / "out").exists()  # not even the folder made for it


def test_the_rule():
    """Predictions are compared without their scores; 199 of 200 equal passes, 198 fails; fp32 graphs
    must also reproduce torch's outputs closely, int8 ones need only the predictions."""
    same = [{"label": "a", "score": 0.9, "scores": {"a": 0.9, "b": 0.1}}] * 200
    close = [{"label": "a", "score": 0.8, "scores": {"a": 0.8, "b": 0.2}}] * 200
    assert ex.parity(same, close, [1e-6], None)["agreement"] == 1.0
    one_off = close[:199] + [{"label": "b", "score": 0.6, "scores": {"a": 0.4, "b": 0.6}}]
    assert ex.parity(same, one_off, [1e-6], None)["equal"] == 199
    with pytest.raises(NlpkitError, match=r"equal torch's on 198/200 records \(99.00%, need >= 99.5%"):
        ex.parity(same, close[:198] + one_off[-1:] * 2, [1e-6], None)
    with pytest.raises(NlpkitError, match="fp32 graphs' outputs differ from torch's by up to 0.01"):
        ex.parity(same, close, [1e-6, 0.01], None)
    assert ex.parity(same, close, [0.01], "int8")["max_abs_difference"] == 0.01
    spans = [[{"text": "北京", "start": 4, "end": 6, "type": "LOC"}]]
    with pytest.raises(NlpkitError, match="on 0/1 records"):  # a span one character off is another span
        ex.parity(spans, [[{"text": "北京", "start": 4, "end": 7, "type": "LOC"}]], [0.0], None)


def test_refusals(runs, exported, tmp_path, capsys):
    existing = exported["classify"]
    assert "exists; pass overwrite=true to replace it" in error_line(capsys, "export", str(runs["classify"]), "-o",
                                                                    str(existing))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    line = error_line(capsys, "export", str(runs["classify"]), "-o", str(tmp_path / "mine"), "overwrite=true")
    assert "overwrite=true replaces only an nlpkit export" in line
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    line = error_line(capsys, "export", str(existing), "-o", str(tmp_path / "again"))
    assert "is an export already" in line
    assert "--quantize" in error_line(capsys, "export", str(runs["classify"]), "-o", str(tmp_path / "q"),
                                      "--quantize", "int4")
    assert "--limit 0" in error_line(capsys, "export", str(runs["classify"]), "-o", str(tmp_path / "q"), "--limit", "0")
    assert not (tmp_path / "q").exists()


def test_training_into_an_export_is_refused(exported, capsys):
    line = error_line(capsys, "train", "task=classify", f"output_dir={exported['classify']}", "overwrite=true")
    assert "holds an nlpkit export" in line and (exported["classify"] / "model.onnx").exists()


def test_overwrite_replaces_an_export(runs, exported, tmp_path, capsys):
    import shutil

    out = tmp_path / "clf"
    shutil.copytree(exported["classify"], out)
    manifest, _ = export(capsys, runs["ner-softmax"], out, "--limit", "20", "overwrite=true")
    assert manifest["task"] == "ner" and manifest["parity"]["records"] == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clf"]  # the old export moved aside, then removed


def test_a_generating_task_is_refused_in_one_line(tmp_path, capsys):
    run = train_tiny("seq2seq", tmp_path / "s2s", "trainer.max_steps=2")
    line = error_line(capsys, "export", str(run), "-o", str(tmp_path / "out"))
    assert "declares no ONNX graphs" in line and "seq2seq" in line and "classify" in line
    assert not (tmp_path / "out").exists()


def test_missing_onnxruntime_names_the_extra(runs, exported, tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    line = error_line(capsys, "export", str(runs["classify"]), "-o", str(tmp_path / "out"))
    assert "needs onnxruntime" in line and "pip install 'nlpkit[export]'" in line
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps({"text": "很好"}) + "\n")
    line = error_line(capsys, "predict", f"model={exported['classify']}", f"input={data}")
    assert "is an ONNX export; running it needs onnxruntime" in line


def test_serve_loads_an_export(exported):
    pytest.importorskip("starlette", reason="the serve extra is not installed")
    from nlpkit.serve.models import Served

    served = Served.load(str(exported["classify"]), device="cpu")
    assert served.pipe.model.onnx_export["task"] == "classify"
    assert served.pipe(TEXTS)[0]["label"] in ("positive", "negative")

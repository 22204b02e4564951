"""The shared trainer: resume retraces an uninterrupted run; config errors; schedules."""
import pytest
import torch

from helpers import small_tsv, weights_digest
from nlpkit.cli import main
from nlpkit.config import build_config
from nlpkit.errors import NlpkitError
from nlpkit.registry import get_task_class
from nlpkit.training import lr_lambda, train_task

Seq2Seq = get_task_class("seq2seq")
SMALL = ["tiny.hidden_size=32", "tiny.intermediate_size=64", "tiny.num_hidden_layers=1", "trainer.batch_size=8",
         "trainer.progress=false", "trainer.lr=1e-3", "maxlen=96"]


def _cfg(out, data, *extra):
    return build_config(Seq2Seq, [f"data.train={data}", f"output_dir={out}", *SMALL, *extra])


class Interrupt(Exception):
    pass


def _run_interrupted(cfg, at_step):
    task = Seq2Seq(cfg)
    calls = {"n": 0}
    original = task.loss

    def loss(model, batch):
        calls["n"] += 1
        if calls["n"] > at_step:
            raise Interrupt()
        return original(model, batch)

    task.loss = loss
    with pytest.raises(Interrupt):
        train_task(task, cfg)


@pytest.mark.parametrize("interrupt_at,extra", [(5, ["trainer.ema=0.9"]), (7, ["trainer.save_every_steps=2", "trainer.grad_accum=1"])])
def test_resume_equals_uninterrupted_run(tmp_path, interrupt_at, extra):
    data = small_tsv(tmp_path)  # 40 records, batch 8: 5 steps per epoch
    full = tmp_path / "full"
    train_task(Seq2Seq(_cfg(full, data, "trainer.epochs=3", *extra)), _cfg(full, data, "trainer.epochs=3", *extra))

    part = tmp_path / "part"
    cfg = _cfg(part, data, "trainer.epochs=3", *extra)
    _run_interrupted(cfg, interrupt_at)
    assert (part / "resume" / "trainer.json").exists()
    cfg = _cfg(part, data, "trainer.epochs=3", "resume=true", *extra)
    train_task(Seq2Seq(cfg), cfg)
    assert not (part / "resume").exists()
    assert weights_digest(part) == weights_digest(full)


def test_grad_accumulation_and_max_steps(tmp_path):
    data = small_tsv(tmp_path)
    cfg = _cfg(tmp_path / "acc", data, "trainer.grad_accum=2", "trainer.max_steps=4")
    out = train_task(Seq2Seq(cfg), cfg)
    import json

    assert json.loads((out / "metrics.json").read_text())["steps"] == 4


def test_schedules():
    f = lr_lambda(100, 0.1)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0) and f(100) == 0.0
    assert f(55) == pytest.approx(0.5)
    g = lr_lambda(100, 0, "piecewise", [[0.5, 1.0], [1.0, 0.1]])
    assert g(25) == pytest.approx(1.0) and g(75) == pytest.approx(0.55) and g(100) == pytest.approx(0.1)
    with pytest.raises(NlpkitError):
        lr_lambda(10, 0, "cosine-ish")(5)


def test_unknown_key_lists_valid_keys():
    with pytest.raises(NlpkitError, match="unknown config key 'trainer.epoch'.*trainer.epochs"):
        build_config(Seq2Seq, ["trainer.epoch=3"])
    cfg = build_config(Seq2Seq, ["trainer.lr=3e-4", "decode.beam_size=4", "data.dev=null"])
    assert cfg.trainer.lr == 3e-4 and cfg.decode.beam_size == 4 and cfg.data.dev is None
    # '#' is a character on the command line, not the start of a YAML comment
    cfg = build_config(get_task_class("reading"), ["answer_sep=#", "data.train=a #1.txt"])
    assert cfg.answer_sep == "#" and cfg.data.train == "a #1.txt"


def test_stream_on_a_task_that_cannot_stream_is_a_clean_error():
    from nlpkit.pipelines import Pipeline

    triples = get_task_class("triples")
    with pytest.raises(NlpkitError, match="triples does not stream"):
        Pipeline(triples(build_config(triples)), model=None)("文本", stream=True)


def test_ema_swap_round_trips():
    from nlpkit.training import EMA

    model = torch.nn.Linear(3, 2)
    ema = EMA(model, 0.5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)
    ema.swap(model)
    assert torch.allclose(model.weight, before["weight"] + 0.5)
    ema.swap(model)
    assert torch.allclose(model.weight, before["weight"] + 1.0)


# ---- bad input: one clear message, non-zero exit, nothing half-written ----------------------------
def _fails(capsys, tmp_path, *args):
    out = tmp_path / "run"
    code = main(["train", "task=seq2seq", f"output_dir={out}", *args])
    err = capsys.readouterr().err
    assert code != 0
    assert "Traceback" not in err
    assert not out.exists()
    return err


def test_bad_inputs(tmp_path, capsys):
    assert "missing.tsv: no such file" in _fails(capsys, tmp_path, f"data.train={tmp_path}/missing.tsv")
    bad = tmp_path / "notab.tsv"
    bad.write_text("标题\t内容很长\n没有制表符的一行\n", encoding="utf-8")
    assert f"{bad}:2: expected 'title<TAB>content', found no tab" in _fails(capsys, tmp_path, f"data.train={bad}")
    empty = tmp_path / "empty.tsv"
    empty.write_text("标题\t内容\n\t只有内容\n", encoding="utf-8")
    assert f"{empty}:2: field 'title': empty target" in _fails(capsys, tmp_path, f"data.train={empty}")
    binary = tmp_path / "gbk.tsv"
    binary.write_bytes("标题\t内容\n".encode() + "标题\t内容\n".encode("gbk"))
    assert f"{binary}:2: not valid UTF-8" in _fails(capsys, tmp_path, f"data.train={binary}")
    notckpt = tmp_path / "folder"
    notckpt.mkdir()
    assert "not a checkpoint folder" in _fails(capsys, tmp_path, f"model={notckpt}")
    assert "unknown config key 'trainer.epoch'" in _fails(capsys, tmp_path, "trainer.epoch=3")
    assert "unknown task 'nosuch'" in _fails(capsys, tmp_path, "task=nosuch")


def test_encoding_is_cached_and_multiprocess(tmp_path, monkeypatch):
    from nlpkit.training import encode_records, prepare_task

    monkeypatch.setenv("NLPKIT_CACHE", str(tmp_path / "cache"))
    data = small_tsv(tmp_path, n=24)
    cfg = _cfg(tmp_path / "x", data)
    task = Seq2Seq(cfg)
    records, _ = prepare_task(task, cfg)
    first = encode_records(task, records, cfg)
    cached = list((tmp_path / "cache" / "encoded").glob("seq2seq-*.arrow"))
    assert len(cached) == 1
    mtime = cached[0].stat().st_mtime_ns
    again = encode_records(task, records, cfg)
    assert cached[0].stat().st_mtime_ns == mtime  # read back, not recomputed
    cfg2 = _cfg(tmp_path / "x", data, "data.num_proc=2", "data.cache=false")
    parallel = encode_records(task, records, cfg2)
    assert first.to_list() == again.to_list() == parallel.to_list()
    assert first[0]["input_ids"] == task.encode(records[0])["input_ids"]

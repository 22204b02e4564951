"""The shared trainer: resume retraces an uninterrupted run; config errors; schedules."""
import json

import pytest
import torch

from helpers import small_tsv, weights_digest
from nlpkit.cli import main
from nlpkit.config import build_config
from nlpkit.errors import NlpkitError
from nlpkit.registry import get_task_class
from nlpkit.training import train_task
from nlpkit.training.optim import make_scheduler

Seq2Seq = get_task_class("seq2seq")
SMALL = ["tiny.hidden_size=32", "tiny.intermediate_size=64", "tiny.num_hidden_layers=1", "trainer.batch_size=8",
         "trainer.progress=false", "trainer.lr=1e-3", "max_length=96", "trainer.log_every_steps=1"]


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


@pytest.mark.parametrize("interrupt_at,extra", [(5, ["trainer.ema=0.9"]),
                                                (7, ["trainer.save_every_steps=2", "trainer.grad_accum=1"])])
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
    # the log continues where the resume point was: the same steps and losses, none twice
    from nlpkit.telemetry import read_log

    def trace(run):
        return [(r["step"], r.get("loss"), r.get("lr"), r.get("grad_norm"), r.get("eval")) for r in read_log(run)]

    assert trace(part) == trace(full) and len([r for r in trace(full) if r[1] is not None]) == 15


def test_the_plan_reads_the_resume_point_before_anything_is_written(tmp_path):
    """plan_training is the one stage that reads what a run starts from (the resume point's counters,
    tokenizer and task state, the data): a broken point is refused before the run writes a byte."""
    from nlpkit.tokenizer import Tokenizer
    from nlpkit.training.plan import plan_training

    data = small_tsv(tmp_path, n=24)  # 3 steps an epoch: the point is saved at step 2, the 3rd batch fails
    part = tmp_path / "part"
    _run_interrupted(_cfg(part, data, "trainer.save_every_steps=2"), 2)
    cfg = _cfg(part, data, "trainer.save_every_steps=2", "resume=true")
    run = plan_training(Seq2Seq(cfg), cfg)
    assert (run.point.state.step, run.point.state.batch) == (2, 2) and run.tokenizer is run.point.tokenizer
    assert run.tokenizer.vocab == Tokenizer.from_dir(part / "resume").vocab and len(run.train) == 24 and run.dev is None

    (part / "resume" / "tokenizer.json").write_text("{not json", encoding="utf-8")
    files = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in part.rglob("*") if p.is_file()}
    with pytest.raises(NlpkitError, match="tokenizer.json"):
        train_task(Seq2Seq(cfg), cfg)
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in part.rglob("*") if p.is_file()} == files


def test_grad_accumulation_and_max_steps(tmp_path):
    data = small_tsv(tmp_path)
    cfg = _cfg(tmp_path / "acc", data, "trainer.grad_accum=2", "trainer.max_steps=4")
    out = train_task(Seq2Seq(cfg), cfg)
    assert json.loads((out / "metrics.json").read_text())["steps"] == 4


def _lrs(schedule, total=100, warmup=0.1, points=None):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = make_scheduler(optimizer, total, schedule, warmup, points)
    json.dumps(scheduler.state_dict())  # goes into the resume point's trainer.json
    lrs = []
    for _ in range(total + 1):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def test_schedules():
    lin = _lrs("linear")  # transformers' warmup: 0 -> 1 over 10 steps, then down to 0 at 100
    assert lin[0] == 0 and lin[5] == pytest.approx(0.5) and lin[10] == pytest.approx(1.0)
    assert lin[55] == pytest.approx(0.5) and lin[100] == 0.0
    cos = _lrs("cosine")
    assert cos[10] == pytest.approx(1.0) and cos[55] == pytest.approx(0.5) and cos[100] == pytest.approx(0.0)
    assert cos[30] > lin[30]
    const = _lrs("constant")
    assert const[5] == pytest.approx(0.5) and all(x == pytest.approx(1.0) for x in const[10:])
    poly = _lrs("polynomial")  # power 1 down to lr_end 1e-7
    assert poly[55] == pytest.approx(0.5, abs=1e-6) and poly[100] == pytest.approx(1e-7)
    pw = _lrs("piecewise", warmup=0, points=[[0.5, 1.0], [1.0, 0.1]])
    assert pw[25] == pytest.approx(1.0) and pw[75] == pytest.approx(0.55) and pw[100] == pytest.approx(0.1)
    assert _lrs("piecewise", warmup=10, points=[[1.0, 0.0]])[5] == pytest.approx(0.5)
    with pytest.raises(NlpkitError, match="trainer.schedule=cosine-ish"):
        _lrs("cosine-ish")
    with pytest.raises(NlpkitError, match="trainer.schedule_points"):
        _lrs("piecewise", points=[[0.5]])


@pytest.mark.parametrize("schedule", ["cosine", "piecewise"])
def test_resume_with_another_schedule(tmp_path, schedule):
    """The scheduler state round-trips through trainer.json for transformers' and nlpkit's schedules."""
    data = small_tsv(tmp_path, n=24)  # 3 steps an epoch
    extra = ["trainer.epochs=2", f"trainer.schedule={schedule}", "trainer.schedule_points=[[0.5,1.0],[1.0,0.2]]"]
    full, part = tmp_path / "full", tmp_path / "part"
    cfg = _cfg(full, data, *extra)
    train_task(Seq2Seq(cfg), cfg)
    _run_interrupted(_cfg(part, data, *extra), 4)
    cfg = _cfg(part, data, "resume=true", *extra)
    train_task(Seq2Seq(cfg), cfg)
    assert weights_digest(part) == weights_digest(full)


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
    from nlpkit.training.optim import EMA

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


def test_ema_swap_restores_tied_weights_exactly():
    """Embeddings tied to the LM decoder: swapping the EMA in and out gives back the very same weights
    (else the main process, which alone evaluates, would drift from the others)."""
    from nlpkit.training.optim import EMA

    class Tied(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(5, 3)
            self.out = torch.nn.Linear(3, 5, bias=False)
            self.out.weight = self.emb.weight

    model = Tied()
    ema = EMA(model, 0.5)
    assert list(ema.shadow) == ["emb.weight"]
    with torch.no_grad():
        model.emb.weight.add_(1.0)
    ema.update(model)
    trained = model.emb.weight.detach().clone()
    ema.swap(model)
    assert torch.allclose(model.out.weight, trained - 0.5)
    ema.swap(model)
    assert torch.equal(model.out.weight, trained)


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
    from nlpkit.training.encode import encode_records, prepare_task
    from nlpkit.training.plan import plan_training

    monkeypatch.setenv("NLPKIT_CACHE", str(tmp_path / "cache"))
    data = small_tsv(tmp_path, n=24)
    cfg = _cfg(tmp_path / "x", data)
    task = Seq2Seq(cfg)
    run = plan_training(task, cfg)
    prepare_task(task, cfg, run)
    records = run.train
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


def test_cache_key_covers_the_core_code(tmp_path, monkeypatch):
    """A change to nlpkit's own code (the tokenizer, say) must not reuse features encoded before it."""
    from pathlib import Path

    import nlpkit
    from nlpkit.training import encode
    from nlpkit.training.plan import plan_training

    data = small_tsv(tmp_path, n=8)
    cfg = _cfg(tmp_path / "x", data)
    task = Seq2Seq(cfg)
    run = plan_training(task, cfg)
    encode.prepare_task(task, cfg, run)
    before = encode._cache_key(task, run.train, cfg)
    assert encode._cache_key(task, run.train, cfg) == before
    monkeypatch.setattr(encode, "core_digest", lambda: "another tokenizer")
    assert encode._cache_key(task, run.train, cfg) != before
    root = Path(nlpkit.__file__).parent
    sources = {p.relative_to(root).as_posix() for p in encode.core_sources()}  # what core_digest reads
    assert {"tokenizer.py", "data.py", "model/backbone.py", "training/encode.py", "training/loop.py"} <= sources


def test_vocabulary_comes_from_the_training_texts_only(tmp_path):
    from nlpkit.training.encode import prepare_task
    from nlpkit.training.plan import plan_training

    train = tmp_path / "train.tsv"
    train.write_text("标题甲\t内容乙丙\n标题丁\t内容戊\n", encoding="utf-8")
    dev = tmp_path / "dev.tsv"
    dev.write_text("鑫鑫\t龘龘龘\n", encoding="utf-8")
    cfg = _cfg(tmp_path / "x", train, f"data.dev={dev}")
    task = Seq2Seq(cfg)
    run = plan_training(task, cfg)
    assert run.dev
    prepare_task(task, cfg, run)
    assert "乙" in task.tokenizer.vocab and "龘" not in task.tokenizer.vocab and "鑫" not in task.tokenizer.vocab


def test_ddp_is_told_about_unused_parameters_only_by_the_task(tmp_path):
    from nlpkit.training.accelerator import make_accelerator

    cfg = build_config(Seq2Seq, ["trainer.progress=false"])
    handler = lambda acc: acc.ddp_handler  # noqa: E731
    assert handler(make_accelerator(Seq2Seq(cfg), cfg.trainer, tmp_path)).find_unused_parameters is False

    class Unused(Seq2Seq):
        find_unused_parameters = True

    assert handler(make_accelerator(Unused(cfg), cfg.trainer, tmp_path)).find_unused_parameters is True

"""A finished run is never lost, an unfinished one is never taken for finished, and every broken file
of a run or resume point is one clear error line (nlpkit.checkpoint's run lifecycle)."""
import json
import os
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from helpers import error_line, small_tsv
from nlpkit.checkpoint import load_run, run_status
from nlpkit.config import build_config
from nlpkit.errors import NlpkitError
from nlpkit.registry import get_task_class
from nlpkit.training import train_task

Seq2Seq = get_task_class("seq2seq")
# 24 records, batch 8: 3 steps an epoch, 2 epochs, no dev data (no decoding): a run takes seconds
SMALL = ["tiny.hidden_size=32", "tiny.intermediate_size=64", "tiny.num_hidden_layers=1", "trainer.batch_size=8",
         "trainer.progress=false", "trainer.lr=1e-3", "max_length=64", "trainer.epochs=2"]


def _args(out, data, *extra):
    return [f"data.train={data}", f"output_dir={out}", *SMALL, *extra]


def _cfg(out, data, *extra):
    return build_config(Seq2Seq, _args(out, data, *extra))


def _train(out, data, *extra):
    cfg = _cfg(out, data, *extra)
    return train_task(Seq2Seq(cfg), cfg)


class Interrupt(Exception):
    pass


def _train_interrupted(out, data, at_batch, *extra):
    """Train, killed (an exception) at the `at_batch`-th batch."""
    cfg = _cfg(out, data, *extra)
    task = Seq2Seq(cfg)
    calls, original = [], task.loss

    def loss(model, batch):
        calls.append(1)
        if len(calls) >= at_batch:
            raise Interrupt()
        return original(model, batch)

    task.loss = loss
    with pytest.raises(Interrupt):
        train_task(task, cfg)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return small_tsv(tmp_path_factory.mktemp("data"), n=24)


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data):
    return _train(tmp_path_factory.mktemp("finished") / "run", data)


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory, data):
    """Killed in epoch 2: epoch 1's model and resume point are on disk."""
    out = tmp_path_factory.mktemp("interrupted") / "run"
    _train_interrupted(out, data, 6)
    return out


@pytest.fixture
def run(tmp_path, finished):
    return shutil.copytree(finished, tmp_path / "run")


@pytest.fixture
def unfinished(tmp_path, interrupted):
    return shutil.copytree(interrupted, tmp_path / "run")


def _snapshot(folder):
    return {p.relative_to(folder): (p.read_bytes() if p.is_file() else None) for p in folder.rglob("*")}


# ---- the output folder -----------------------------------------------------------------------
def test_a_finished_run_is_refused_and_kept(run, data, capsys):
    before = _snapshot(run)
    line = error_line(capsys, "train", "task=seq2seq", *_args(run, data))
    assert line == (f"nlpkit: error: {run} holds a finished run; pass overwrite=true to replace it or "
                    "resume=true to continue")
    assert "holds a finished run" in error_line(capsys, "train", "task=triples", f"output_dir={run}")
    assert _snapshot(run) == before


def test_resume_of_a_finished_run_changes_nothing(run, data):
    before = _snapshot(run)
    assert _train(run, data, "resume=true") == run
    assert _snapshot(run) == before


def test_output_dir_that_is_a_file_or_a_foreign_checkpoint(tmp_path, data, capsys):
    path = tmp_path / "file"
    path.write_text("x")
    assert f"output_dir={path}: is a file" in error_line(capsys, "train", "task=seq2seq", *_args(path, data))
    foreign = tmp_path / "bert"
    foreign.mkdir()
    (foreign / "config.json").write_text("{}")
    assert "is no nlpkit run" in error_line(capsys, "train", "task=seq2seq", *_args(foreign, data), "overwrite=true")
    assert "pass one of them" in error_line(capsys, "train", "task=seq2seq", *_args(tmp_path / "new", data),
                                             "overwrite=true", "resume=true")
    assert not (tmp_path / "new").exists()


def test_overwrite_replaces_the_old_run_before_training(run, data):
    (run / "notes.txt").write_text("mine")  # not a run file: stays
    (run / "resume").mkdir()  # a stale resume point of the old run: goes
    (run / "resume" / "trainer.json").write_text("{}")
    seen = []
    cfg = _cfg(run, data, "overwrite=true", "trainer.epochs=1")
    task = Seq2Seq(cfg)
    original = task.loss

    def loss(model, batch):
        if not seen:  # the first step: the old run is gone, the new config is on disk
            seen.append((run_status(run), (run / "nlpkit.yaml").read_text(), sorted(p.name for p in run.iterdir())))
        return original(model, batch)

    task.loss = loss
    train_task(task, cfg)
    status, config, names = seen[0]
    assert status == "unfinished" and "metrics.json" not in names and "model.safetensors" not in names
    assert "epochs: 1" in config and "overwrite: false" in config
    assert run_status(run) == "finished" and (run / "notes.txt").read_text() == "mine"
    assert not (run / "resume").exists()
    task, model = load_run(run)
    assert task.cfg.trainer.epochs == 1


def test_a_killed_overwrite_leaves_no_old_metrics_beside_new_weights(run, data):
    _train_interrupted(run, data, 5, "overwrite=true", "trainer.lr=2e-3")
    assert run_status(run) == "unfinished"
    assert not (run / "metrics.json").exists() and (run / "model.safetensors").exists()


# ---- unfinished runs ---------------------------------------------------------------------------
def test_an_unfinished_run_is_recognised_and_refused(unfinished, data, capsys):
    assert run_status(unfinished) == "unfinished"
    assert (unfinished / "nlpkit.yaml").exists() and (unfinished / "resume" / "trainer.json").exists()
    msg = (f"{unfinished}: unfinished run (interrupted or still training); continue it with "
           "`nlpkit train ... resume=true`")
    with pytest.raises(NlpkitError) as e:
        load_run(unfinished)
    assert str(e.value) == msg
    with pytest.raises(NlpkitError, match="unfinished run"):
        Seq2Seq(_cfg(unfinished, data)).load_run(unfinished)
    assert error_line(capsys, "evaluate", f"model={unfinished}", f"data={data}") == f"nlpkit: error: {msg}"
    assert "holds an unfinished run" in error_line(capsys, "train", "task=seq2seq", *_args(unfinished, data))


def test_resume_with_changed_settings_is_refused(unfinished, data):
    before = _snapshot(unfinished)
    with pytest.raises(NlpkitError) as e:
        _train(unfinished, data, "resume=true", "trainer.lr=2e-3", "trainer.epochs=3", "seed=7")
    msg = str(e.value)
    assert "changed settings" in msg and "trainer.lr (0.001 -> 0.002)" in msg
    assert "trainer.epochs (2 -> 3)" in msg and "seed (42 -> 7)" in msg and "\n" not in msg
    assert _snapshot(unfinished) == before
    # how it runs (progress bars, encoding processes) may change
    _train(unfinished, data, "resume=true", "trainer.progress=true", "data.num_proc=1")
    assert run_status(unfinished) == "finished"
    assert "resume: false" in (unfinished / "nlpkit.yaml").read_text()


def test_a_key_added_since_the_run_was_saved_resumes_at_its_default(unfinished, data):
    """A run saved before a key existed (here: tiny.architecture) resumes while the key keeps its default."""
    saved = (unfinished / "nlpkit.yaml").read_text()
    assert "architecture: bert" in saved
    (unfinished / "nlpkit.yaml").write_text(saved.replace("  architecture: bert\n", ""))
    with pytest.raises(NlpkitError, match=r"tiny.architecture \(<unset> -> ernie\)"):
        _train(unfinished, data, "resume=true", "tiny.architecture=ernie")
    _train(unfinished, data, "resume=true")
    assert run_status(unfinished) == "finished"


def test_a_point_caught_mid_swap_is_found(unfinished, data, finished):
    os.replace(unfinished / "resume", unfinished / "resume.new")  # killed between the two renames
    _train(unfinished, data, "resume=true")
    assert (unfinished / "model.safetensors").read_bytes() == (finished / "model.safetensors").read_bytes()
    assert not any((unfinished / n).exists() for n in ("resume", "resume.new", "resume.old"))


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ.get('NLPKIT_CACHE', '/tmp')}/pwned",))


@pytest.mark.parametrize("fault,expect", [
    ("torn_trainer_json", "resume/trainer.json: cannot resume from this file (JSONDecodeError"),
    ("trainer_json_fields", "resume/trainer.json: cannot resume from this file"),
    ("missing_optimizer", "resume/optimizer.pt: cannot resume from this file"),
    ("planted_pickle", "resume/optimizer.pt: cannot resume from this file (UnpicklingError"),
    ("foreign_optimizer", "resume/optimizer.pt: cannot resume from this file"),
    ("missing_weights", "resume/model.safetensors: missing from the resume point"),
    ("torn_weights", "resume/model.safetensors: unreadable weights file"),
])
def test_broken_resume_files(unfinished, data, capsys, fault, expect):
    r = unfinished / "resume"
    if fault == "torn_trainer_json":
        (r / "trainer.json").write_text('{"state": {"epoch": 1,')
    elif fault == "trainer_json_fields":
        (r / "trainer.json").write_text('{"state": {"epoch": "one"}, "scheduler": {}, "processes": 1}')
    elif fault == "missing_optimizer":
        (r / "optimizer.pt").unlink()
    elif fault == "planted_pickle":
        torch.save({"optimizer": _Payload(), "rng": []}, r / "optimizer.pt")
    elif fault == "foreign_optimizer":
        saved = torch.load(r / "optimizer.pt", weights_only=True)
        saved["optimizer"]["param_groups"] = saved["optimizer"]["param_groups"][:1]
        torch.save(saved, r / "optimizer.pt")
    elif fault == "missing_weights":
        (r / "model.safetensors").unlink()
    elif fault == "torn_weights":
        blob = (r / "model.safetensors").read_bytes()
        (r / "model.safetensors").write_bytes(blob[: len(blob) // 2])
    before = _snapshot(unfinished)
    line = error_line(capsys, "train", "task=seq2seq", *_args(unfinished, data, "resume=true"))
    assert expect in line
    assert _snapshot(unfinished) == before  # refused before anything was written
    assert not os.path.exists(f"{os.environ.get('NLPKIT_CACHE', '/tmp')}/pwned")


# ---- loading a run -----------------------------------------------------------------------------
def _break(run, fault):
    weights = run / "model.safetensors"
    if fault == "truncated":
        blob = weights.read_bytes()
        weights.write_bytes(blob[: len(blob) // 3])
    elif fault == "empty":
        weights.write_bytes(b"")
    elif fault == "other_shapes":
        save_file({k: v[..., :-1].contiguous() if v.dim() else v for k, v in load_file(str(weights)).items()},
                  str(weights))
    elif fault == "other_keys":  # e.g. a classifier's weights
        save_file({"classifier.weight": torch.zeros(3, 32), "classifier.bias": torch.zeros(3)}, str(weights))
    elif fault == "yaml_syntax":
        (run / "nlpkit.yaml").write_text("task: seq2seq\ntrainer: [epochs: 1\n")
    elif fault == "yaml_list":
        (run / "nlpkit.yaml").write_text("- seq2seq\n- tiny\n")
    elif fault == "bin_only":
        torch.save(load_file(str(weights)), run / "pytorch_model.bin")
        weights.unlink()


@pytest.mark.parametrize("fault,expect", [
    ("truncated", "model.safetensors: unreadable weights file, empty or truncated?"),
    ("empty", "model.safetensors: unreadable weights file, empty or truncated?"),
    ("other_shapes", "model.safetensors: weights do not fit the model, saved for another task or model? "
                     "Tensors: "),
    ("other_keys", "missing (bert.embeddings"),
    ("yaml_syntax", "nlpkit.yaml: not valid YAML"),
    ("yaml_list", "nlpkit.yaml: expected a mapping of config keys, found list"),
    ("bin_only", "has pytorch_model.bin but no model.safetensors"),
])
def test_broken_run_directories(run, data, capsys, fault, expect):
    _break(run, fault)
    with pytest.raises(NlpkitError) as e:
        load_run(run)
    assert expect in str(e.value) and "\n" not in str(e.value)
    assert expect in error_line(capsys, "evaluate", f"model={run}", f"data={data}")


def test_identical_runs_write_identical_weights(tmp_path, data, finished):
    again = _train(tmp_path / "again", data)
    assert (again / "model.safetensors").read_bytes() == (finished / "model.safetensors").read_bytes()
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(str(again), local_files_only=True)
    assert json.loads((again / "config.json").read_text())["architectures"] == [type(bert).__name__] == ["BertModel"]
    saved = load_file(str(again / "model.safetensors"))
    assert torch.equal(bert.embeddings.word_embeddings.weight, saved["bert.embeddings.word_embeddings.weight"])
    assert "cls.predictions.decoder.weight" not in saved  # the tied copy is stored once
    task, model = load_run(again)  # and nlpkit reads it back, tie included
    assert model.cls.predictions.decoder.weight.data_ptr() == model.bert.embeddings.word_embeddings.weight.data_ptr()

"""What a hostile probe of run folders and training settings found (issue 28): a run folder never
chooses where nlpkit writes and cannot make reading it hang; training never replaces files that are
no nlpkit run, nor a run that another training holds; a diverging or impossible run stops with one
line instead of saving garbage and saying "run saved"."""
import json
import os
import shutil
import subprocess
import sys
import warnings

import pytest
import torch
from safetensors.torch import load_file

from helpers import error_line, small_tsv, weights_digest
from nlpkit.checkpoint import LOCK_FILE, load_task, run_lock, save_weights
from nlpkit.cli import main
from nlpkit.config import build_config
from nlpkit.errors import NlpkitError
from nlpkit.registry import get_task_class
from nlpkit.training.trainer import check_finite

# 24 records, batch 8: 3 steps an epoch, no dev data: a run takes seconds
SMALL = ["tiny.hidden_size=32", "tiny.intermediate_size=64", "tiny.num_hidden_layers=1", "trainer.batch_size=8",
         "trainer.progress=false", "trainer.lr=1e-3", "max_length=64", "trainer.epochs=1"]


def _train_args(out, data, *extra, task="seq2seq"):
    return ["train", f"task={task}", f"data.train={data}", f"output_dir={out}", *SMALL, *extra]


def _snapshot(folder):
    return {p.relative_to(folder): (p.read_bytes() if p.is_file() else None) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return small_tsv(tmp_path_factory.mktemp("data"), n=24)


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data):
    out = tmp_path_factory.mktemp("finished") / "run"
    assert main(_train_args(out, data)) == 0
    return out


@pytest.fixture
def run(tmp_path, finished):
    return shutil.copytree(finished, tmp_path / "run")


# ---- 1. security: a run folder never decides where nlpkit writes ----------------------------------
def _set_saved(run, **keys):
    path = run / "nlpkit.yaml"
    import yaml

    saved = yaml.safe_load(path.read_text(encoding="utf-8"))
    saved.update(keys)
    path.write_text(yaml.safe_dump(saved, allow_unicode=True), encoding="utf-8")


def test_eval_output_in_a_run_folder_is_not_written(run, data, tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    _set_saved(run, eval_output=str(victim), output_dir=str(tmp_path / "elsewhere"))
    task = load_task(run)
    assert task.cfg.eval_output is None and task.cfg.output_dir is None
    assert main(["evaluate", f"model={run}", f"data={data}"]) == 0
    assert victim.read_text() == "keep me\n"
    assert not (tmp_path / "elsewhere").exists()
    # the user's own command line still decides: output= now
    mine = tmp_path / "mine.jsonl"
    assert main(["evaluate", f"model={run}", f"data={data}", f"output={mine}"]) == 0
    assert len(mine.read_text(encoding="utf-8").splitlines()) == 24
    capsys.readouterr()


BOMB = """task: seq2seq
a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_a_yaml_alias_bomb_in_a_run_folder_is_refused_at_once(run, tmp_path, capsys):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"src": "本文提出一种方法。"}\n', encoding="utf-8")
    (run / "nlpkit.yaml").write_text(BOMB, encoding="utf-8")
    line = error_line(capsys, "predict", f"model={run}", f"input={inputs}")
    assert "nlpkit.yaml: not valid YAML" in line and "alias" in line


def test_an_oversized_or_deeply_nested_run_config_is_one_line(run, tmp_path, capsys):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"src": "本文提出一种方法。"}\n', encoding="utf-8")
    (run / "nlpkit.yaml").write_text("task: seq2seq\n" + "x: 1\n" * 300_000, encoding="utf-8")
    assert "larger than 1 MiB" in error_line(capsys, "predict", f"model={run}", f"input={inputs}")
    (run / "nlpkit.yaml").write_text("task: seq2seq\nx: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    assert "not valid YAML" in error_line(capsys, "predict", f"model={run}", f"input={inputs}")


# ---- 2. data loss: foreign folders and concurrent trainings ------------------------------------------
@pytest.mark.parametrize("extra", [(), ("overwrite=true",)])
def test_a_folder_of_other_files_is_refused_and_kept(tmp_path, data, capsys, extra):
    out = tmp_path / "mine"
    out.mkdir()
    for name in ("vocab.txt", "tokenizer.json", "log.jsonl", "special_tokens_map.json", "notes.md"):
        (out / name).write_text(f"the user's {name}\n")
    before = _snapshot(out)
    line = error_line(capsys, *_train_args(out, data, *extra))
    assert f"output_dir={out}: holds log.jsonl, notes.md, special_tokens_map.json and 2 more but is no " \
           "nlpkit run" in line
    assert _snapshot(out) == before


def test_a_second_training_into_a_held_folder_is_refused(run, data, tmp_path, capsys):
    before = _snapshot(run)
    with run_lock(run):  # another training holds it (an flock on its own open file)
        line = error_line(capsys, *_train_args(run, data, "overwrite=true"))
        assert f"output_dir={run}: process {os.getpid()} on " in line and "is training into it" in line
        fresh = tmp_path / "fresh"
        with run_lock(fresh):
            assert "is training into it" in error_line(capsys, *_train_args(fresh, data))
    assert _snapshot(run) == before  # overwrite=true removed nothing of the held run
    assert not (tmp_path / "fresh").exists()  # the lock's folder goes with it when nothing was written


def test_the_lock_is_held_across_processes_and_freed_when_its_holder_dies(tmp_path, data, capsys):
    out = tmp_path / "run"
    code = ("import sys, time; from nlpkit.checkpoint import run_lock\n"
            "with run_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(600)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        line = error_line(capsys, *_train_args(out, data))
        assert f"process {holder.pid} on " in line
    finally:
        holder.kill()
        holder.wait()
    assert json.loads((out / LOCK_FILE).read_text())["pid"] == holder.pid  # killed: its lock file stays
    assert main(_train_args(out, data)) == 0  # ... and is free: the kernel released the flock
    assert (out / "metrics.json").exists() and not (out / LOCK_FILE).exists()
    capsys.readouterr()


def test_a_folder_nlpkit_cannot_make_is_one_line(tmp_path, data, capsys):
    (tmp_path / "file").write_text("x")
    line = error_line(capsys, *_train_args(tmp_path / "file" / "run", data))
    assert line == f"nlpkit: error: output_dir={tmp_path / 'file' / 'run'}: cannot write there (Not a directory)"


def test_only_the_main_process_takes_the_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    with run_lock(tmp_path / "run"):
        assert not (tmp_path / "run").exists()


def test_training_holds_the_lock_and_frees_it(tmp_path, data, monkeypatch):
    out, seen = tmp_path / "run", []
    Seq2Seq = get_task_class("seq2seq")
    original = Seq2Seq.loss

    def loss(self, model, batch):
        if not seen:
            seen.append(json.loads((out / LOCK_FILE).read_text()))
            with pytest.raises(NlpkitError, match="is training into it"):
                with run_lock(out):
                    pass
        return original(self, model, batch)

    monkeypatch.setattr(Seq2Seq, "loss", loss)
    assert main(_train_args(out, data)) == 0
    assert seen[0]["pid"] == os.getpid() and not (out / LOCK_FILE).exists()


# ---- 3. silent wrong successes ----------------------------------------------------------------------
def test_a_diverging_run_stops_naming_the_step_and_saves_no_nan(tmp_path, data, capsys):
    out = tmp_path / "run"
    line = error_line(capsys, *_train_args(out, data, "trainer.lr=1e30", "trainer.epochs=3"))
    assert line.startswith("nlpkit: error: step ") and "training diverged" in line
    assert not (out / "metrics.json").exists()  # unfinished: predict refuses it
    if (out / "model.safetensors").exists():
        assert all(t.isfinite().all() for t in load_file(str(out / "model.safetensors")).values())


@pytest.mark.parametrize("points", ["[[0.5,.nan]]", "[[0.5,-1.0]]", "[[.inf,1.0]]"])
def test_nan_or_negative_schedule_points_are_refused_before_training(tmp_path, data, capsys, points):
    line = error_line(capsys, *_train_args(tmp_path / "run", data, "trainer.schedule=piecewise",
                                            f"trainer.schedule_points={points}"))
    assert "trainer.schedule_points:" in line and "multiplier >= 0" in line
    assert not (tmp_path / "run").exists()


def test_check_finite_names_the_step():
    check_finite(3, torch.tensor(1.5), torch.tensor(2.0))
    check_finite(3, torch.tensor(1.5), torch.tensor(float("inf")), scaled=True)  # fp16: the scaler skips it
    with pytest.raises(NlpkitError, match=r"^step 7: the loss is nan"):
        check_finite(7, torch.tensor(float("nan")), torch.tensor(1.0))
    with pytest.raises(NlpkitError, match=r"^step 2: the gradient norm is inf"):
        check_finite(2, torch.tensor(1.0), torch.tensor(float("inf")))


def test_non_finite_weights_are_never_saved(tmp_path):
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.weight[0, 0] = float("nan")
    with pytest.raises(NlpkitError, match="NaN or inf"):
        save_weights(model, tmp_path / "model.safetensors")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("override, message", [
    ("tiny.num_attention_heads=3", "tiny.num_attention_heads=3: expected a divisor of tiny.hidden_size (32)"),
    ("tiny.max_position_embeddings=32", "tiny.max_position_embeddings=32: expected >= 64, the longest sequence "
                                        "the task makes (max_length)"),
    ("seed=4294967296", "seed=4294967296: expected an integer in [0, 2**32 - 1]"),
])
def test_impossible_settings_are_refused_before_anything_is_written(tmp_path, data, capsys, override, message):
    line = error_line(capsys, *_train_args(tmp_path / "run", data, override))
    assert line.startswith(f"nlpkit: error: {message}")
    assert not (tmp_path / "run").exists()


def test_the_longest_sequence_of_reading_counts_every_part():
    Reading = get_task_class("reading")
    with pytest.raises(NlpkitError, match=r"expected >= 180, the longest sequence .*max_passage_length"):
        build_config(Reading, ["tiny.max_position_embeddings=179"])
    build_config(Reading, ["tiny.max_position_embeddings=180"])
    build_config(Reading, ["tiny.max_position_embeddings=8", "max_passage_length=1", "max_question_length=1", "max_target_length=1",
                           "decode.max_new_tokens=1"])  # 1 + 1 + 1 + 4 = 7 fits


def test_duplicate_labels_are_refused(capsys):
    line = error_line(capsys, "config", "task=classify", "labels=[positive,positive,negative]")
    assert line == ("nlpkit: error: labels=['positive', 'positive', 'negative']: positive given more than once; "
                    "expected each label once")


def _nested(path, n):
    rows = [{"text": "北京大学在北京", "entities": [{"start": 0, "end": 4, "type": "ORG"},
                                                 {"start": 0, "end": 2, "type": "LOC"},
                                                 {"start": 5, "end": 7, "type": "LOC"}]}] * n
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_a_tagging_head_says_it_drops_nested_entities(tmp_path):
    train = _nested(tmp_path / "nested.jsonl", 16)
    Ner = get_task_class("ner")
    cfg = build_config(Ner, [f"data.train={train}", f"data.dev={train}", f"output_dir={tmp_path / 'run'}",
                             *SMALL[:-2], "trainer.epochs=1", "trainer.threads=1"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Ner(cfg).fit(cfg)
    said = [str(w.message) for w in caught if "overlapping" in str(w.message)]
    assert "ner: head=crf drops overlapping entities: 16 of 48 training entities nest in or cross another" \
           in said[0]
    assert any("16 of 48 gold entities" in s for s in said)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["overlapping_not_scored"] == 16


def test_a_corrupt_mlm_dev_corpus_stops_before_anything_is_written(tmp_path, capsys):
    dev = tmp_path / "dev.txt"
    dev.write_bytes("第一行文本。\n第二行文本。\n".encode() + b"\xff\xfe broken\n")
    train = get_task_class("mlm").sample_path("train")
    out = tmp_path / "run"
    line = error_line(capsys, "train", "task=mlm", f"data.train={train}", f"data.dev={dev}", f"output_dir={out}",
                       *SMALL[:-2], "trainer.epochs=1")
    assert f"{dev}:3" in line
    assert not out.exists()


def test_bf16_on_the_cpu_autocasts(tmp_path, data, capsys):
    """trainer.mixed_precision=bf16 changes the arithmetic on the CPU too, and nlpkit.yaml says so; an
    fp32 run after it in the same process is fp32 again."""
    runs = {}
    for name, precision in (("fp32", "no"), ("bf16", "bf16"), ("fp32_again", "no")):
        runs[name] = tmp_path / name
        assert main(_train_args(runs[name], data, f"trainer.mixed_precision={precision}")) == 0
    assert weights_digest(runs["bf16"]) != weights_digest(runs["fp32"]) == weights_digest(runs["fp32_again"])
    assert "mixed_precision: bf16" in (runs["bf16"] / "nlpkit.yaml").read_text()
    capsys.readouterr()

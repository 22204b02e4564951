"""The typed config, the CLI's discoverability and every task's per-call option validation."""
import subprocess
import sys

import pytest

from nlpkit.cli import main
from nlpkit.config import build_config, changes, describe
from nlpkit.errors import NlpkitError
from nlpkit.registry import get_task_class, task_names

BERT_TASKS = [n for n in task_names() if hasattr(get_task_class(n), "tiny_profile")]


def seq2seq():
    return get_task_class("seq2seq")


@pytest.mark.parametrize("override, says", [
    ("trainer.epochs=abc", "trainer.epochs=abc: expected an integer"),
    ("trainer.epochs=0", "trainer.epochs=0: expected an integer >= 1"),
    ("trainer.epochs=-2", "expected an integer >= 1"),
    ("trainer.max_steps=abc", "trainer.max_steps=abc: expected an integer"),
    ("trainer.max_steps=-5", "trainer.max_steps=-5: expected an integer >= 1 or null"),
    ("trainer.batch_size=0", "expected an integer >= 1"),
    ("trainer.batch_size=-4", "expected an integer >= 1"),
    ("trainer.batch_size=abc", "expected an integer"),
    ("trainer.grad_accum=0", "trainer.grad_accum=0: expected an integer >= 1"),
    ("trainer.lr=-1", "expected a number > 0"),
    ("trainer.lr=0", "expected a number > 0"),
    ("trainer.lr=nan", "expected a finite number"),
    ("seed=abc", "seed=abc: expected an integer"),
    ("data.num_proc=abc", "data.num_proc=abc: expected an integer"),
    ("trainer.mixed_precision=fp8x", "expected one of: no, bf16, fp16"),
    ("trainer.mixed_precision=yes", "expected one of: no, bf16, fp16"),
    ("trainer.schedule=cosine-ish", "expected one of: linear, cosine, constant, polynomial, piecewise"),
    ("trainer.progress=maybe", "expected true or false"),
    ("decode.beam_size=abc", "decode.beam_size=abc: expected an integer"),
    ("decode.min_new_tokens=40", "decode.min_new_tokens=40: expected <= max_new_tokens"),
    ("trainer", "expected key=value"),
])
def test_bad_values_get_one_line_naming_the_key(override, says):
    with pytest.raises(NlpkitError, match=says.replace("[", r"\[").replace("(", r"\(")):
        build_config(seq2seq(), [override])


def test_values_keep_their_type():
    cfg = build_config(seq2seq(), ["trainer.mixed_precision=no", "trainer.lr=3e-4", "data.dev=null",
                                   "trainer.schedule_points=[[0.5, 1.0], [1.0, 0.1]]", "output_dir=123"])
    assert cfg.trainer.mixed_precision == "no"  # YAML 1.1 would read False
    assert cfg.trainer.lr == 3e-4 and cfg.data.dev is None and cfg.output_dir == "123"
    assert cfg.trainer.schedule_points == [[0.5, 1.0], [1.0, 0.1]]


def test_unknown_key_gets_a_did_you_mean():
    with pytest.raises(NlpkitError, match="unknown config key 'trainer.epoch'; did you mean trainer.epochs"):
        build_config(seq2seq(), ["trainer.epoch=3"])
    with pytest.raises(NlpkitError, match="did you mean max_length"):
        build_config(seq2seq(), ["max_lenght=64"])


def test_column_mapping_is_a_typed_mapping():
    cfg = build_config(seq2seq(), ["data.columns.src=abstract", "data.columns.tgt=headline"])
    assert dict(cfg.data.columns) == {"src": "abstract", "tgt": "headline"}


def test_profiles_follow_the_model(tmp_path):
    tiny = build_config(seq2seq(), [])
    pretrained = build_config(seq2seq(), [f"model={tmp_path}"])
    assert tiny.trainer.lr > 1e-4 > pretrained.trainer.lr
    # an explicit value beats the profile, whichever model
    assert build_config(seq2seq(), [f"model={tmp_path}", "trainer.lr=7e-5"]).trainer.lr == 7e-5


@pytest.mark.parametrize("name", BERT_TASKS)
def test_every_bert_task_has_a_pretrained_profile(name, tmp_path):
    task_cls = get_task_class(name)
    cfg = build_config(task_cls, [f"model={tmp_path}"])
    assert 1e-6 <= cfg.trainer.lr <= 1e-4, f"{name}: pretrained lr {cfg.trainer.lr}"
    assert cfg.trainer.lr < build_config(task_cls, []).trainer.lr


@pytest.mark.parametrize("name", task_names())
def test_every_key_is_documented(name):
    from nlpkit.config import schema_fields

    undocumented = [key for key, _, _, meta in schema_fields(get_task_class(name).config_class) if not meta.get("doc")]
    assert not undocumented
    assert len(describe(get_task_class(name))) > 5


def test_changes_lists_what_differs_from_the_defaults():
    lines = changes(build_config(seq2seq(), ["trainer.lr=1e-3", "seed=7"]), seq2seq())
    assert "trainer.lr=0.001" in lines and "seed=7" in lines
    assert not [line for line in lines if line.startswith("trainer.weight_decay=")]


def test_train_help_prints_every_key(capsys):
    assert main(["train", "task=seq2seq", "--help"]) == 0
    out = capsys.readouterr().out
    assert "trainer.lr" in out and "decode.beam_size" in out and "0.002" in out  # the tiny profile's lr


def test_config_command_shows_the_pretrained_defaults(capsys, tmp_path):
    assert main(["config", "task=seq2seq", f"model={tmp_path}"]) == 0
    assert "1e-05" in capsys.readouterr().out


def test_bad_value_on_the_command_line_exits_2_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "nlpkit", "train", "task=seq2seq", "trainer.epochs=abc",
                           f"output_dir={tmp_path / 'run'}"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "nlpkit: error: trainer.epochs=abc: expected an integer"
    assert not (tmp_path / "run").exists()


def test_tasks_lists_without_importing_torch():
    code = ("import sys; from nlpkit.cli import main; main(['tasks']); "
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("NO-TORCH")
    listed = [line.split()[0] for line in out.strip().splitlines()[:-1]]
    assert listed == task_names()
    assert all(len(line.split(None, 1)) == 2 for line in out.strip().splitlines()[:-1]), "a task without a description"


@pytest.mark.parametrize("name", task_names())
def test_every_task_rejects_an_unknown_call_option(name):
    from nlpkit.pipelines import sanitize

    task_cls = get_task_class(name)
    task = task_cls(build_config(task_cls, []))
    with pytest.raises(NlpkitError, match=f"unknown option 'beam_sizee' for task {name}; .*valid options: "):
        sanitize(task, {"beam_sizee": 4})


def test_call_options_are_typed_and_aliased():
    from nlpkit.pipelines import sanitize

    task = seq2seq()(build_config(seq2seq(), []))
    assert sanitize(task, {"num_beams": 3, "num_return_sequences": 2}) == {"beam_size": 3, "num_return_sequences": 2}
    assert sanitize(task, {"top_p": "0.5"}) == {"top_p": 0.5}
    for bad in ({"beam_size": "abc"}, {"beam_size": 0}, {"top_p": 1.5}, {"do_sample": "perhaps"}):
        with pytest.raises(NlpkitError, match=list(bad)[0]):
            sanitize(task, bad)


def test_evaluate_needs_data_when_the_run_has_none(tmp_path, capsys):
    # the shape of a run trained on the user's data without dev: evaluate must not score the sample
    from omegaconf import OmegaConf

    run = tmp_path / "run"
    run.mkdir()
    cfg = build_config(seq2seq(), [f"data.train={tmp_path / 'train.tsv'}"])
    (run / "nlpkit.yaml").write_text(OmegaConf.to_yaml(cfg), encoding="utf-8")
    (run / "metrics.json").write_text("{}", encoding="utf-8")  # finished
    assert main(["evaluate", f"model={run}"]) == 2
    assert "missing data=FILE (the run has no dev data of its own)" in capsys.readouterr().err

"""The typed config, the CLI's discoverability and every task's per-call option validation."""
import dataclasses
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from nlpkit.cli import main
from nlpkit.config import build_config, changes, describe, schema_fields
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


# ---- one meaning per key: keys a task does not read, renamed keys ---------------------------------
def _not_used():
    """(task, key) for every key a task declares it does not read."""
    return [(n, key) for n in task_names() for key in get_task_class(n).config_class.not_used]


def _other_value(cfg, key):
    """An override setting `key` to something other than its default (of the key's type)."""
    from omegaconf import OmegaConf

    value = OmegaConf.select(cfg, key)
    kind, meta = next((kind, meta) for k, kind, _, meta in schema_fields(OmegaConf.get_type(cfg)) if k == key)
    if OmegaConf.is_config(value):
        return f"{key}.text=x"
    if isinstance(value, bool):
        return f"{key}={str(not value).lower()}"
    if isinstance(value, (int, float)) or int in typing.get_args(kind):
        check = meta.get("check")
        number = next(v for v in ((value or 0) + 2, (value or 1) / 2) if not check or check.test(v))
        return f"{key}={number}"
    choices = meta.get("choices")
    return f"{key}={next(c for c in choices if c != value)}" if choices else f"{key}=x"


@pytest.mark.parametrize("name, key", _not_used())
def test_a_key_the_task_does_not_read_is_refused_when_set(name, key):
    task_cls = get_task_class(name)
    cfg = build_config(task_cls, [])
    override = _other_value(cfg, key)
    with pytest.raises(NlpkitError) as e:
        build_config(task_cls, [override])
    assert str(e.value).startswith(f"{key} does not apply to {name}: ") and "\n" not in str(e.value), override
    # its default (what the task runs with anyway) is accepted, and `nlpkit config` marks the key
    from omegaconf import OmegaConf

    default = OmegaConf.select(cfg, key)
    if not OmegaConf.is_config(default) and default is not None:
        build_config(task_cls, [f"{key}={str(default).lower() if isinstance(default, bool) else default}"])
    line = next(line for line in describe(task_cls) if line.split()[0] == key)
    assert f"not used by {name} (refused)" in line


def test_the_declarations_cover_what_the_issue_names():
    refused = {n: set(get_task_class(n).config_class.not_used) for n in task_names()}
    for name in ("triples", "reading", "nl2sql", "mlm", "jose"):
        assert "data.columns" in refused[name], name
    for name in ("classify", "ner", "cond_lm", "seq2seq"):  # they read tables through data.columns
        assert "data.columns" not in refused[name], name
    assert {"data.dev", "data.num_proc", "data.cache"} <= refused["jose"]
    assert "decode.length_penalty" in refused["reading"] and "decode.beam_size" not in refused["reading"]


@pytest.mark.parametrize("name", ["triples", "reading", "nl2sql", "mlm"])
def test_data_columns_on_a_task_without_tables_is_one_line_exit_2(name, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "nlpkit", "train", f"task={name}", "data.columns.text=x",
                           f"output_dir={tmp_path / 'run'}"], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"nlpkit: error: data.columns does not apply to {name}: ")
    assert proc.stderr.count("\n") == 1 and not (tmp_path / "run").exists()


def _renamed():
    return [(n, old, new) for n in task_names() for old, new in get_task_class(n).config_class.renamed.items()]


@pytest.mark.parametrize("name, old, new", _renamed())
def test_a_renamed_key_is_refused_by_its_old_name_naming_the_new_one(name, old, new):
    task_cls = get_task_class(name)
    with pytest.raises(NlpkitError, match=f"^{old} is now called {new}: use {new}=7$"):
        build_config(task_cls, [f"{old}=7"])
    assert new in [line.split()[0] for line in describe(task_cls)]
    assert old not in [line.split()[0] for line in describe(task_cls)]


def test_lengths_have_one_name_each():
    keys = {line.split()[0] for n in task_names() for line in describe(get_task_class(n))}
    assert "max_answer_length" not in keys and "max_source_length" not in keys
    assert {"max_length", "max_target_length", "max_question_length", "max_passage_length"} <= keys
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for key in re.findall(r"`(max_\w+_length|max_length)`", readme):
        assert key in keys, f"README names {key}, which no task has"


def test_mlm_and_jose_share_one_jieba_section():
    from omegaconf import OmegaConf

    from nlpkit.config import JiebaConfig

    for name in ("mlm", "jose"):
        cfg = build_config(get_task_class(name), ["jieba.hmm=false", "jieba.user_dict=words.txt"])
        assert OmegaConf.get_type(cfg.jieba) is JiebaConfig and not cfg.jieba.hmm and cfg.jieba.user_dict == "words.txt"


SAVED_BY_AN_OLDER_NLPKIT = {
    "reading": ({"max_answer_length": 7, "decode": {"length_penalty": 1.0, "beam_size": 2}},
                {"max_target_length": 7, "decode.length_penalty": 0.0, "decode.beam_size": 2}),
    "mlm": ({"hmm": False, "user_dict": "words.txt"}, {"jieba.hmm": False, "jieba.user_dict": "words.txt"}),
    "jose": ({"corpus": {"hmm": False, "user_dict": "words.txt", "min_count": 2}},
             {"jieba.hmm": False, "jieba.user_dict": "words.txt", "corpus.min_count": 2}),
    "triples": ({"data": {"columns": {"text": "sentence"}}}, {"data.columns": {}}),
}


@pytest.mark.parametrize("name", sorted(SAVED_BY_AN_OLDER_NLPKIT))
def test_a_run_saved_with_old_key_names_loads_and_resumes(name, tmp_path):
    """A run folder written before the renames (and with keys its task never read) loads with its
    values under the new names, and resuming it finds no changed setting."""
    from omegaconf import OmegaConf

    from nlpkit.checkpoint import config_changes, load_task

    old, expected = SAVED_BY_AN_OLDER_NLPKIT[name]
    task_cls = get_task_class(name)
    saved = OmegaConf.merge(OmegaConf.to_container(build_config(task_cls, [])), old)
    for new_key in [k for k in task_cls.config_class.renamed.values() if OmegaConf.select(saved, k, default=0) != 0]:
        parent, _, leaf = new_key.rpartition(".")
        (OmegaConf.select(saved, parent) if parent else saved).pop(leaf)  # an old run has no new names
    run = tmp_path / "run"
    run.mkdir()
    (run / "nlpkit.yaml").write_text(OmegaConf.to_yaml(saved), encoding="utf-8")
    (run / "metrics.json").write_text("{}", encoding="utf-8")
    cfg = load_task(run).cfg
    for key, value in expected.items():
        got = OmegaConf.select(cfg, key)
        assert (OmegaConf.to_container(got) if OmegaConf.is_config(got) else got) == value, key
    assert config_changes(OmegaConf.create(OmegaConf.to_container(saved)), cfg) == []


TINY_AND_ONE_STEP = ["tiny.hidden_size=32", "tiny.num_hidden_layers=1", "tiny.num_attention_heads=2",
                     "tiny.intermediate_size=64", "trainer.max_steps=1", "trainer.progress=false"]


def _small_data(name, tmp_path):
    """A few training records of the task's sample (a 1-step run needs no more)."""
    import json

    folder = get_task_class(name).folder() / "sample"
    if name == "reading":
        path = tmp_path / "q.json"
        records = json.loads((folder / "train.json").read_text(encoding="utf-8"))[:8]
        path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
        return path
    source = {"seq2seq": folder / "train.tsv", "cond_lm": folder / "sentiment.train.data"}[name]
    path = tmp_path / f"small{source.suffix}"
    path.write_text("\n".join(source.read_text(encoding="utf-8").splitlines()[:16]) + "\n", encoding="utf-8")
    return path


CALLS = {"seq2seq": lambda pipe: pipe("本文研究电池寿命。"), "cond_lm": lambda pipe: pipe("1"),
         "reading": lambda pipe: pipe("哪座山？", passages=["凤鹤溪镇背靠青山。"])}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_config_shows_the_decode_settings_a_run_decodes_with(name, tmp_path, monkeypatch):
    """`nlpkit config task=NAME` prints, for every decode key, the value the decoder is given when a
    trained run predicts without options (reading's voting decoder: length_penalty 0.0)."""
    import nlpkit
    import nlpkit.generation as generation
    from nlpkit.generation import DecodeConfig

    data = _small_data(name, tmp_path)
    assert main(["train", f"task={name}", f"data.train={data}", f"data.dev={data}", f"output_dir={tmp_path / 'run'}",
                 *TINY_AND_ONE_STEP]) == 0
    given, real = [], generation.generate

    def spy(model, prompts, config=None, **kwargs):
        given.append(config)
        return real(model, prompts, config, **kwargs)

    for module in list(sys.modules.values()):  # wherever `generate` was imported by name
        if getattr(module, "generate", None) is real:
            monkeypatch.setattr(module, "generate", spy)
    CALLS[name](nlpkit.pipeline(name, model=str(tmp_path / "run")))
    assert given, "the decoder was not called"
    shown = {line.split()[0]: line.split()[1] for line in describe(get_task_class(name))}
    for f in dataclasses.fields(DecodeConfig):
        value = getattr(given[0], f.name)
        runs = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        assert shown[f"decode.{f.name}"] == runs, f"decode.{f.name}: config shows {shown[f'decode.{f.name}']}, runs {runs}"


def _only_with():
    """(task, key, deciding key, values) for every key a task reads only in some runs."""
    from nlpkit.config import declared

    return [(n, key, decider, values) for n in task_names()
            for key, (decider, values) in declared(get_task_class(n).config_class, "only_with").items()]


def _outside(cfg, decider, values, tmp_path):
    """An override giving `decider` a value with which the key is not read."""
    from omegaconf import OmegaConf

    if decider == "model":
        return f"model={tmp_path}"
    current = OmegaConf.select(cfg, decider)
    if isinstance(current, bool):
        return f"{decider}={str(not values[0]).lower()}"
    choices = next(meta.get("choices") for k, _, _, meta in schema_fields(OmegaConf.get_type(cfg)) if k == decider)
    return f"{decider}={next(c for c in choices or ('char',) if c not in values)}"


@pytest.mark.parametrize("name, key, decider, values", _only_with())
def test_a_key_this_run_does_not_read_is_refused_when_set(name, key, decider, values, tmp_path):
    """triples' and ner's per-head keys, classify's multi-label keys, tiny.* with a checkpoint, the
    jieba section when nothing is segmented with jieba: set for a run that does not read them, one line."""
    task_cls = get_task_class(name)
    cfg = build_config(task_cls, [])
    leaf = next(k for k, *_ in schema_fields(task_cls.config_class) if k == key or k.startswith(key + "."))
    outside = _outside(cfg, decider, values, tmp_path)
    override = _other_value(build_config(task_cls, [outside]), leaf)
    with pytest.raises(NlpkitError) as e:
        build_config(task_cls, [outside, override])
    assert str(e.value).startswith(f"{override}".split("=")[0] + "=") and "\n" not in str(e.value)
    assert f": only {decider}=" in str(e.value) and f"this run's {decider} is " in str(e.value)
    inside = "true" if values[0] is True else values[0]
    build_config(task_cls, [f"{decider}={inside}", override])  # read there: accepted

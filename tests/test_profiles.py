"""The training profile follows what the model is (issue 24): its hidden size and whether it is pretrained,
not whether model= names a folder."""
import json

import pytest
import torch
from safetensors.torch import save_file

from nlpkit.config import build_config
from nlpkit.profiles import describe, model_class, model_facts
from nlpkit.registry import get_task_class


def checkpoint(folder, hidden, layers=4, model_type="bert", head=True, fmt="safetensors"):
    """A checkpoint folder as far as the profile reads it: config.json and the weights' names."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": model_type, "hidden_size": hidden,
                                                    "num_hidden_layers": layers}), encoding="utf-8")
    tensors = {"bert.embeddings.word_embeddings.weight": torch.zeros(4, 2)}
    if head:
        tensors["cls.predictions.bias"] = torch.zeros(4)
    if fmt == "safetensors":
        save_file(tensors, str(folder / "model.safetensors"))
    else:
        torch.save(tensors, folder / "pytorch_model.bin")
    return str(folder)


@pytest.mark.parametrize("hidden, expected", [(128, "tiny"), (312, "small"), (512, "small"), (767, "small"),
                                              (768, "base"), (1024, "base")])
def test_class_goes_by_the_hidden_size_of_a_checkpoint(tmp_path, hidden, expected):
    assert model_class(model_facts(checkpoint(tmp_path / "m", hidden))) == expected


def test_model_tiny_is_tiny_whatever_its_sizes():
    assert model_class(model_facts("tiny", {"hidden_size": 512})) == "tiny"


def test_unreadable_folder_gets_the_base_profile(tmp_path):
    assert model_facts(str(tmp_path / "missing")) is None
    assert model_class(None) == "base"


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_mlm_head_is_read_from_the_weight_names(tmp_path, fmt):
    assert model_facts(checkpoint(tmp_path / "a", 312, fmt=fmt)).mlm_head
    assert not model_facts(checkpoint(tmp_path / "b", 312, head=False, fmt=fmt)).mlm_head


def test_an_nlpkit_pretrained_tiny_model_trains_with_the_tiny_recipe(tmp_path):
    """The issue's report: `model=<an mlm run of the tiny size>` got bert-base's lr 1e-5 (constant) and F1 0."""
    triples = get_task_class("triples")
    cfg = build_config(triples, [f"model={checkpoint(tmp_path / 'mlm_run', 128, layers=2)}"])
    assert cfg.trainer.lr == triples.tiny_profile["trainer"]["lr"]
    assert cfg.trainer.schedule == "linear" and cfg.trainer.threads == 1


def test_each_class_gets_its_own_profile(tmp_path):
    task = get_task_class("classify")
    small = build_config(task, [f"model={checkpoint(tmp_path / 's', 312)}"])
    base = build_config(task, [f"model={checkpoint(tmp_path / 'b', 768, layers=12)}"])
    tiny = build_config(task, [])
    assert small.trainer.lr == task.profiles()["small"]["trainer"]["lr"]
    assert base.trainer.lr == task.pretrained_profile["trainer"]["lr"]
    assert tiny.trainer.lr == task.tiny_profile["trainer"]["lr"]
    assert len({small.trainer.lr, base.trainer.lr, tiny.trainer.lr}) == 3


def test_a_checkpoint_does_not_get_the_tiny_sizes(tmp_path):
    """tiny.* keys size the random model; the tiny profile of a checkpoint of tiny size leaves them alone."""
    task = get_task_class("classify")
    default = build_config(get_task_class("classify"), ["model=tiny"]).tiny.num_attention_heads
    cfg = build_config(task, [f"model={checkpoint(tmp_path / 'm', 128)}"])
    assert default == task.tiny_profile["tiny"]["num_attention_heads"]
    assert cfg.tiny.num_attention_heads != default


def test_the_run_says_which_profile_applied_and_why(tmp_path):
    task = get_task_class("ner")
    line = describe(task.profiles(), checkpoint(tmp_path / "m", 312, model_type="albert", head=False))
    assert line.startswith("profile small: albert checkpoint, hidden 312, 4 layers, without an MLM head")
    assert f"lr {task.profiles()['small']['trainer']['lr']}" in line
    assert describe(task.profiles(), "tiny", {"hidden_size": 128}).startswith("profile tiny: random tiny model")

"""Which training profile a run starts from, chosen from what the model is -- not from whether `model=`
names a folder (issue 24: an nlpkit-pretrained tiny model got bert-base's lr 1e-5 and learnt nothing).

A task declares one profile per class of model (tasks/<name>/config.py); the classes go by the
encoder's hidden size, the width that sets how large a step its weights take well:

  tiny   hidden <= 128: model=tiny (random), or a model of that size pretrained by `nlpkit train task=mlm`
  small  hidden < 768: a small pretrained checkpoint (albert-tiny-chinese 312, m3e-small 512)
  base   hidden >= 768: bert-base-chinese and larger, the published recipes of the task's family

The tiny and small profiles were picked by scripts/sweep_profiles.py on real dev data (each task's
card has the sweep). A run says in one line which profile applied and why (`describe`).
"""
import functools
import json
from dataclasses import dataclass
from pathlib import Path

#: a small checkpoint's rate over bert-base's, where a task declares no small profile of its own: on
#: albert-tiny, classify's dev sweep (scripts/sweep_profiles.py) found 1e-4 best, 5 x bert-base's 2e-5
SMALL_LR_FACTOR = 5.0
#: (class, largest hidden size in it)
CLASSES = (("tiny", 128), ("small", 767), ("base", None))
#: first parts of weight names that belong to a masked-LM head, per transformers architecture
HEAD_ROOTS = ("cls", "predictions", "lm_head", "generator_lm_head", "lm_predictions")


@dataclass(frozen=True)
class ModelFacts:
    """What the profile depends on, read from config.json and the weights' names (no weights loaded)."""

    source: str
    model_type: str
    hidden_size: int
    layers: int
    pretrained: bool  # weights come from a checkpoint (not model=tiny)
    mlm_head: bool  # the checkpoint holds a masked-LM head


def model_facts(model: str, tiny: dict | None = None) -> ModelFacts | None:
    """Facts of `model` ("tiny", with the tiny section's sizes, or a checkpoint folder); None when the
    folder cannot be read (loading it will say why)."""
    if str(model) == "tiny":
        tiny = tiny or {}
        return ModelFacts("tiny", tiny.get("architecture", "bert"), int(tiny.get("hidden_size", 128)),
                          int(tiny.get("num_hidden_layers", 2)), False, False)
    folder = Path(str(model))
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        return ModelFacts(str(model), str(config.get("model_type")), int(config["hidden_size"]),
                          int(config.get("num_hidden_layers", 0)), True, _has_mlm_head(folder))
    except (OSError, ValueError, KeyError, TypeError):
        return None


@functools.lru_cache(maxsize=8)  # a run reads it twice: choosing the profile, then saying which
def _has_mlm_head(folder: Path) -> bool:
    return any(name.split(".")[0] in HEAD_ROOTS for name in _weight_names(folder))


def _weight_names(folder: Path) -> list[str]:
    """Tensor names of a checkpoint's weights, read without loading the tensors."""
    if (folder / "model.safetensors").exists():
        from safetensors import safe_open

        with safe_open(str(folder / "model.safetensors"), "pt") as f:
            return list(f.keys())
    if (folder / "model.safetensors.index.json").exists():
        return list(json.loads((folder / "model.safetensors.index.json").read_text(encoding="utf-8"))["weight_map"])
    if (folder / "pytorch_model.bin").exists():
        import torch

        return list(torch.load(folder / "pytorch_model.bin", map_location="cpu", mmap=True, weights_only=True))
    return []


def scaled(profile: dict, factor: float) -> dict:
    """`profile` with its learning rate times `factor`, the rest as it is."""
    trainer = profile.get("trainer", {})
    return {**profile, "trainer": {**trainer, "lr": float(f"{trainer['lr'] * factor:.3g}")}} if "lr" in trainer else profile


def model_class(facts: ModelFacts | None) -> str:
    """tiny, small or base (see the module docstring); model=tiny is tiny whatever its sizes, a folder
    that could not be read is base."""
    if facts is None:
        return "base"
    if not facts.pretrained:
        return "tiny"
    return next(name for name, largest in CLASSES if largest is None or facts.hidden_size <= largest)


def choose(profiles: dict, model: str) -> dict:
    """The profile for `model` from a task's {class: profile}; a checkpoint's has no tiny.* section
    (those keys size the random model only)."""
    name = model_class(model_facts(model))
    profile = dict(profiles[name])
    if str(model) != "tiny":
        profile.pop("tiny", None)
    return profile


def describe(profiles: dict, model: str, tiny: dict | None = None) -> str:
    """One line: which profile applied and why, e.g. "profile small: albert checkpoint, hidden 312, 4
    layers, pretrained encoder (tiny <= 128 < small < 768 <= base); lr 0.0001, 3 epochs, linear"."""
    facts = model_facts(model, tiny)
    name = model_class(facts)
    trainer = profiles[name].get("trainer", {})
    if facts is None:
        why = f"{model}: config.json unreadable"
    elif facts.pretrained:
        why = (f"{facts.model_type} checkpoint, hidden {facts.hidden_size}, {facts.layers} layers, "
               f"{'with' if facts.mlm_head else 'without'} an MLM head")
    else:
        why = f"random tiny model, hidden {facts.hidden_size}"
    settings = ", ".join(f"{k} {trainer[k]}" for k in ("lr", "epochs", "schedule") if k in trainer)
    return f"profile {name}: {why} (hidden <= 128 tiny, < 768 small, else base); {settings}"

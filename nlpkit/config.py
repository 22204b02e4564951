"""Configuration: core defaults + the task's config.yaml + `key=value` overrides (OmegaConf dotted form)."""
from pathlib import Path

import yaml

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .errors import NlpkitError

CORE_DEFAULTS = {
    "task": None,
    "model": "tiny",  # "tiny" (random small BERT, local vocab) or a local Hugging Face BERT checkpoint folder
    "output_dir": None,  # default runs/<task>
    "seed": 42,
    "resume": False,
    "data": {"train": None, "dev": None, "num_proc": 1, "cache": True},
    # the randomly initialised model used when model=tiny
    "tiny": {
        "hidden_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 512,
        "max_position_embeddings": 512,
        "vocab_size": 8000,
    },
    "trainer": {
        "epochs": 3,
        "batch_size": 16,
        "eval_batch_size": 64,
        "lr": 5e-5,
        "weight_decay": 0.01,
        "max_steps": None,  # stop after this many optimizer steps (overrides epochs)
        "warmup": 0.1,  # fraction of steps (or an int step count)
        "schedule": "linear",  # linear | constant | piecewise
        "schedule_points": None,  # piecewise: [[step_fraction, lr_multiplier], ...]
        "grad_accum": 1,
        "max_grad_norm": 1.0,
        "ema": 0.0,  # EMA decay of weights, 0 = off
        "mixed_precision": "no",  # no | bf16 | fp16 (GPU)
        "cpu": False,  # train on the CPU even when a GPU is present
        "save_every_steps": None,  # also checkpoint for resume inside an epoch
        "group_by_length": True,
        "progress": True,
    },
}


def task_defaults(task_cls):
    path = Path(task_cls.folder()) / "config.yaml"
    return OmegaConf.load(path) if path.exists() else OmegaConf.create({})


def build_config(task_cls, overrides=(), base=None):
    """Merge core defaults, the task's defaults (or a saved run config) and CLI overrides.

    Unknown keys are an error listing the valid ones, so a typo never trains silently with defaults.
    """
    cfg = OmegaConf.merge(OmegaConf.create(CORE_DEFAULTS), task_defaults(task_cls))
    if base is not None:
        cfg = OmegaConf.merge(cfg, base)
    cfg.task = task_cls.name
    OmegaConf.set_struct(cfg, True)
    return apply_overrides(cfg, overrides)


def apply_overrides(cfg, overrides):
    for item in overrides:
        if "=" not in item:
            raise NlpkitError(f"expected key=value, got '{item}'")
        key, value = item.split("=", 1)
        if OmegaConf.select(cfg, key, default="__missing__") == "__missing__":
            raise NlpkitError(f"unknown config key '{key}'; valid keys: {', '.join(valid_keys(cfg))}")
        try:
            OmegaConf.update(cfg, key, _parse(value), merge=False)
        except OmegaConfBaseException as e:
            raise NlpkitError(f"bad value for '{key}': {e}") from None
    return cfg


def _parse(value):
    """Parse a CLI value as YAML (numbers, booleans, null, lists), keeping anything else a plain string."""
    try:
        parsed = yaml.safe_load(value) if value.strip() else value
    except yaml.YAMLError:
        return value
    if "#" in value and (parsed is None or isinstance(parsed, str)):
        return value  # YAML would drop '#...' as a comment: answer_sep=# means the character
    if isinstance(parsed, str):  # YAML 1.1 reads 1e-3 as a string
        try:
            return float(parsed)
        except ValueError:
            pass
    return parsed


def valid_keys(cfg, prefix=""):
    keys = []
    for k, v in cfg.items():
        full = f"{prefix}{k}"
        if OmegaConf.is_dict(v):
            keys += valid_keys(v, full + ".")
        else:
            keys.append(full)
    return keys


def to_yaml(cfg):
    return OmegaConf.to_yaml(cfg)

"""Run directories: a Hugging Face-style checkpoint (config.json, model.safetensors, tokenizer files)
plus the resolved config (nlpkit.yaml), the task's learnt state (task_state.json) and metrics.json.
Every file is written to a temporary name first and renamed, so a crash never leaves a torn file."""
import json
from pathlib import Path

from omegaconf import OmegaConf
from safetensors.torch import load_model, save_model

from .config import build_config, to_yaml
from .data import atomic_path, write_json, write_text
from .errors import NlpkitError
from .registry import get_task_class

CONFIG_FILE = "nlpkit.yaml"
STATE_FILE = "task_state.json"
METRICS_FILE = "metrics.json"


def save_weights(model, path):
    """safetensors, shared (tied) tensors stored once."""
    with atomic_path(path) as tmp:
        save_model(model, tmp)


def load_weights(model, path):
    missing, unexpected = load_model(model, str(path), strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise NlpkitError(f"{path}: weights do not fit the model (missing {missing[:5]}, unexpected {unexpected[:5]})")


def save_run(run_dir, task, model, cfg, metrics=None):
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    bert = model.bert
    write_text(run_dir / "config.json", bert.config.to_json_string())
    save_weights(model, run_dir / "model.safetensors")
    task.tokenizer.save(run_dir)
    write_text(run_dir / CONFIG_FILE, to_yaml(cfg))
    write_json(run_dir / STATE_FILE, task.state)
    if metrics is not None:
        write_json(run_dir / METRICS_FILE, metrics)


def read_run_config(run_dir):
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise NlpkitError(f"{run_dir}: not an nlpkit run directory (no {CONFIG_FILE}); train one with `nlpkit train`")
    return OmegaConf.load(path)


def load_task(run_dir, overrides=(), expect_task=None):
    """The task of a finished run, configured as it was trained (plus overrides)."""
    saved = read_run_config(run_dir)
    if expect_task and expect_task != saved.task:
        raise NlpkitError(f"{run_dir} holds a '{saved.task}' model, not '{expect_task}'")
    task_cls = get_task_class(saved.task)
    cfg = build_config(task_cls, overrides, base=saved)
    state_path = Path(run_dir) / STATE_FILE
    state = json.loads(state_path.read_text(encoding="utf-8")) if state_path.exists() else {}
    return task_cls(cfg, state=state)


def load_run(run_dir, overrides=(), expect_task=None):
    """(task, model) of a finished run, ready for predict/evaluate (model in eval mode)."""
    task = load_task(run_dir, overrides, expect_task)
    return task, task.load_run(run_dir)


def load_bert_run(task, run_dir):
    """Rebuild a BERT task model from its run directory (the default Task.load_run)."""
    from transformers import BertConfig

    from .tokenizer import Tokenizer

    task.tokenizer = Tokenizer.from_dir(run_dir)
    model = task.build_model(BertConfig.from_pretrained(str(run_dir), local_files_only=True))
    load_weights(model, Path(run_dir) / "model.safetensors")
    return model.eval()

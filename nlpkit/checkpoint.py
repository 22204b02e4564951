"""Run directories: what a training run writes, how it is known to be finished, and how it is read back.

A run directory is a Hugging Face-style checkpoint (config.json, model.safetensors, the tokenizer's
files: `transformers.AutoModel.from_pretrained(run_dir)` loads it as the architecture it was trained
with, config.json keeping its model_type and naming `architectures`) plus nlpkit's own files:

    nlpkit.yaml       the resolved config (resume/overwrite recorded as false)
    task_state.json   what the task learnt from its training data (label names, ...)
    metrics.json      the best dev metrics and the history of the run; written LAST
    resume/           while training only: a resume point (see nlpkit.training.resume)
    nlpkit.lock       while training only: who trains into the folder (run_lock)

What is read back from a run folder never decides where nlpkit writes (WRITE_KEYS are dropped from
a saved config) and its nlpkit.yaml is read with bounds (size, no YAML aliases).

The lifecycle, one scheme for every task (BERT tasks go through nlpkit.training.train_task; a task
with its own fit(), such as jose, calls the same three functions):

0. `run_lock(out)` holds the folder for the whole run (the trainer and jose's fit take it first): a
   second training into it is refused, naming the holder.
1. `plan_run(out, cfg)` decides, reading only, before anything is written: a file at `out` is an
   error; a run there (finished or not) is refused unless overwrite=true (replace it) or
   resume=true (continue it, with the settings it was trained with, else the changed keys are
   named; a finished run has nothing left to do); a non-empty folder that is no nlpkit run is refused.
2. `start_run(out, cfg, fresh)` then removes metrics.json FIRST (with overwrite: the old run's other
   files too) and writes nlpkit.yaml, before the first training step.
3. Training writes the best model as it goes (`save_run`), never metrics.json.
4. `finish_run(out, metrics)` writes metrics.json last and removes resume/.

A task that writes files of its own (jose's vectors) names them in its class attribute `run_files`,
so that overwrite=true removes them too; nothing else in the folder is ever removed.

So metrics.json present <=> the run finished and every file beside it belongs to it. A run killed
at any point has nlpkit.yaml without metrics.json: `run_status` calls it "unfinished",
`load_run` refuses it and `nlpkit train ... resume=true` continues it. Every file is written to a
temporary name first and renamed (data.atomic_path), so none is ever torn; model.safetensors is
written deterministically (sorted tensors, fixed metadata), identical runs give identical bytes.
"""
import contextlib
import dataclasses
import json
import os
import shutil
import socket
import time
from pathlib import Path

import yaml
from omegaconf import OmegaConf

from .config import build_config, to_yaml, upgrade
from .data import atomic_path, write_json, write_text
from .errors import NlpkitError
from .registry import get_task_class
from .telemetry import LOG_FILE, TRACKER_DIR

CONFIG_FILE = "nlpkit.yaml"
STATE_FILE = "task_state.json"
METRICS_FILE = "metrics.json"
WEIGHTS_FILE = "model.safetensors"
#: a resume point, and the two names it has while being replaced (nlpkit.training.resume)
RESUME_DIRS = ("resume", "resume.new", "resume.old")
#: what a BERT run writes besides nlpkit's own files (overwrite=true removes these, nothing else)
HF_FILES = ("config.json", WEIGHTS_FILE, "vocab.txt", "tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "added_tokens.json", "generation_config.json")
#: keys that may differ when a run is resumed (how it runs, not what it trains)
RESUME_MAY_CHANGE = ("output_dir", "resume", "overwrite", "eval_output", "trainer.progress", "trainer.eval_batch_size",
                     "trainer.log_with", "data.num_proc", "data.cache")

#: held (flock) by the main process of the run training in the folder; says who that is
LOCK_FILE = "nlpkit.lock"
#: keys that choose where nlpkit writes: only the command line given now sets them, never a run folder
WRITE_KEYS = ("output_dir", "eval_output")
#: nlpkit.yaml is a few KiB: a larger one is not nlpkit's, and must not cost minutes to read
MAX_CONFIG_BYTES = 1 << 20

FINISHED, UNFINISHED = "finished", "unfinished"
NEW, RESUME = "new", "resume"


# ---- the lifecycle -----------------------------------------------------------------------------
def run_status(run_dir):
    """FINISHED, UNFINISHED (interrupted or still training), or None (no nlpkit run there)."""
    p = Path(run_dir)
    if not p.is_dir():
        return None
    if (p / CONFIG_FILE).exists():
        return FINISHED if (p / METRICS_FILE).exists() else UNFINISHED
    return UNFINISHED if any((p / d).is_dir() for d in RESUME_DIRS) else None


def plan_run(out, cfg, may_change=()):
    """What training into `out` will do: NEW (start from scratch), RESUME (continue the run there) or
    FINISHED (resume=true on a finished run: nothing left to do). Reads only; raises NlpkitError.
    may_change: the task's keys that a resumed run may set differently (Task.resume_may_change)."""
    out = Path(out)
    _check_folder(out)
    resume, overwrite = bool(cfg.resume), bool(getattr(cfg, "overwrite", False))
    if resume and overwrite:
        raise NlpkitError("resume=true and overwrite=true: pass one of them (continue the run, or replace it)")
    if (out / "export.json").is_file():  # its graphs would go on answering for the new weights
        raise NlpkitError(f"output_dir={out}: holds an nlpkit export (nlpkit export -o); choose another output_dir")
    status = run_status(out)
    if status is None:
        # the user's own files (vocab.txt, log.jsonl, ...) would be replaced by the run's: never train there
        foreign = sorted(p.name for p in out.iterdir() if p.name != LOCK_FILE) if out.is_dir() else []
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise NlpkitError(f"output_dir={out}: holds {shown} but is no nlpkit run (no {CONFIG_FILE}); "
                              "choose an empty or new output_dir")
        return NEW
    if resume:
        changed = config_changes(read_run_config(out), cfg, may_change)
        if changed:
            raise NlpkitError(f"{out}: resume=true with changed settings: {'; '.join(changed)}; resume with the "
                              "run's settings, or pass overwrite=true to start over")
        return FINISHED if status == FINISHED else RESUME
    if overwrite:
        return NEW
    if status == FINISHED:
        raise NlpkitError(f"{out} holds a finished run; pass overwrite=true to replace it or resume=true to continue")
    raise NlpkitError(f"{out} holds an unfinished run (interrupted or still training); pass resume=true to continue "
                      "it or overwrite=true to start over")


def _check_folder(out):
    if out.exists() and not out.is_dir():
        raise NlpkitError(f"output_dir={out}: is a file, expected a folder for the run")


@contextlib.contextmanager
def run_lock(out):
    """Hold `out` for one training run, from before plan_run to the end: a second training (or
    overwrite=true) into it is refused, naming the holder. Only the main process of a data-parallel
    run (RANK 0) takes it. An flock: a killed run's lock is free again, its file says who held it.
    A folder made here and left empty (a refused run) is removed again."""
    out = Path(out)
    if os.environ.get("RANK", "0") != "0":
        yield
        return
    _check_folder(out)
    made = [p for p in (out, *out.parents) if not p.exists()]
    fd = None
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = _take_lock(out / LOCK_FILE)
        yield
    except OSError as e:
        if fd is None:  # before training: a folder nlpkit may not write to (permission, a full disk)
            raise NlpkitError(f"output_dir={out}: cannot write there ({e.strerror or e})") from None
        raise
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):  # before closing: nobody can lock the old file after us
                (out / LOCK_FILE).unlink()
            os.close(fd)
        for folder in made:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()


def _take_lock(path):
    import fcntl

    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise NlpkitError(f"output_dir={path.parent}: {_holder(path)} is training into it ({path}); wait "
                              "for it to end or choose another output_dir") from None
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == os.fstat(fd).st_ino:  # not a file its holder unlinked meanwhile
                break
        os.close(fd)
    info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps(info).encode())
    return fd


def _holder(path):
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return f"process {info['pid']} on {info['host']} (since {info['started']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def start_run(out, cfg, fresh, run_files=()):
    """Mark `out` as a run in progress: (fresh) remove the old run's files, metrics.json first; then
    write nlpkit.yaml. `run_files`: the files of a task's own layout (e.g. jose's vectors)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / METRICS_FILE).unlink(missing_ok=True)  # first: from here on `out` is no finished run
    if fresh:
        clear_run(out, run_files)
    write_text(out / CONFIG_FILE, config_text(cfg))


def finish_run(out, metrics):
    """Write metrics.json, which marks the run finished, and drop the resume point."""
    out = Path(out)
    write_json(out / METRICS_FILE, metrics)
    for name in RESUME_DIRS:
        shutil.rmtree(out / name, ignore_errors=True)


def clear_run(out, run_files=()):
    """Remove the files of the run in `out`: metrics.json first, then nlpkit's and Hugging Face's files,
    the resume point, `run_files` and those the old run's task lists in its `run_files`. Anything
    else in the folder is left alone."""
    out = Path(out)
    (out / METRICS_FILE).unlink(missing_ok=True)
    names = [*RESUME_DIRS, *HF_FILES, STATE_FILE, LOG_FILE, TRACKER_DIR, *run_files, *_task_run_files(out),
             CONFIG_FILE]
    for name in names:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    for tmp in out.glob(".*.tmp"):  # left by a write that was killed (data.atomic_path)
        tmp.unlink(missing_ok=True)


def _task_run_files(out):
    try:
        name = _load_yaml(out / CONFIG_FILE)["task"]
        return tuple(getattr(get_task_class(name), "run_files", ()))
    except Exception:  # no config, a broken one, an unknown task: only the known files go
        return ()


def require_finished(run_dir):
    if run_status(run_dir) == UNFINISHED:
        raise NlpkitError(f"{run_dir}: unfinished run (interrupted or still training); continue it with "
                          "`nlpkit train ... resume=true`")


# ---- the recorded config -----------------------------------------------------------------------
def config_text(cfg):
    """nlpkit.yaml's text: the resolved config, with the per-invocation resume/overwrite as false."""
    cfg = OmegaConf.create(OmegaConf.to_container(cfg))
    for key in ("resume", "overwrite"):
        if key in cfg:
            cfg[key] = False
    return to_yaml(cfg)


def read_run_config(run_dir):
    """The saved config of a run directory (an OmegaConf mapping); one-line errors for broken ones."""
    run_dir = Path(run_dir)
    path = run_dir / CONFIG_FILE
    if run_dir.exists() and not run_dir.is_dir():
        raise NlpkitError(f"{run_dir}: is a file, expected a run directory")
    if not path.exists():
        raise NlpkitError(f"{run_dir}: not an nlpkit run directory (no {CONFIG_FILE}); train one with `nlpkit train`")
    data = _load_yaml(path)
    if not isinstance(data, dict):
        raise NlpkitError(f"{path}: expected a mapping of config keys, found {type(data).__name__}")
    if not isinstance(data.get("task"), str):
        raise NlpkitError(f"{path}: names no task (expected a 'task: NAME' line)")
    return OmegaConf.create(data)


class _NoAliases(yaml.SafeLoader):
    """YAML without aliases: nlpkit never writes one, and nested aliases (a "billion laughs" bomb)
    expand into billions of nodes when the config is built."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("an alias (*name), which nlpkit.yaml never has")
        return super().compose_node(parent, index)


def _load_yaml(path):
    """A run folder's YAML, bounded: a regular file, at most MAX_CONFIG_BYTES, no aliases."""
    if not path.is_file():  # a FIFO or a device would block or never end
        raise NlpkitError(f"{path}: not a regular file")
    with open(path, "rb") as f:
        raw = f.read(MAX_CONFIG_BYTES + 1)
    if len(raw) > MAX_CONFIG_BYTES:
        raise NlpkitError(f"{path}: larger than {MAX_CONFIG_BYTES >> 20} MiB, not a config nlpkit wrote")
    try:
        return yaml.load(raw.decode("utf-8"), Loader=_NoAliases)
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as e:
        raise NlpkitError(f"{path}: not valid YAML ({_first_line(e)})") from None


def config_changes(saved, cfg, may_change=()):
    """'key: saved -> now' for every key (outside RESUME_MAY_CHANGE and may_change) where cfg differs from `saved`."""
    kind = OmegaConf.get_type(cfg) if OmegaConf.is_config(cfg) else type(cfg)
    old = _flat(OmegaConf.to_container(upgrade(saved, kind)))  # a renamed key compares under its new name
    new = _flat(yaml.safe_load(config_text(cfg)))
    # a key added to nlpkit after the run was saved changes nothing while it holds its default
    if dataclasses.is_dataclass(kind):
        defaults = _flat(OmegaConf.to_container(OmegaConf.structured(kind)))
        old.update({k: v for k, v in defaults.items() if k not in old and new.get(k) == v})
    keys = sorted(k for k in set(old) | set(new) if old.get(k, "<unset>") != new.get(k, "<unset>")
                  and not any(k == a or k.startswith(a + ".") for a in (*RESUME_MAY_CHANGE, *may_change)))
    shown = [f"{k} ({_show(old.get(k, '<unset>'))} -> {_show(new.get(k, '<unset>'))})" for k in keys[:8]]
    return shown + ([f"and {len(keys) - 8} more"] if len(keys) > 8 else [])


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _show(v):
    return "null" if v is None else json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v


def _first_line(e, limit=200):
    text = (str(e).strip().splitlines() or [type(e).__name__])[0]
    return text[:limit]


# ---- weights -------------------------------------------------------------------------------------
def tied_groups(state_dict):
    """Names of the state dict grouped by the storage they share (a tied weight is one group)."""
    groups = {}
    for name in sorted(state_dict):
        t = state_dict[name]
        key = (t.device, t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape)) if t.numel() else name
        groups.setdefault(key, []).append(name)
    return list(groups.values())


def backbone_prefix(model):
    """The name transformers gives the backbone's weights (its base_model_prefix: bert, ernie, roformer,
    electra, albert, deberta); task models hold it as `.bert`, renamed on saving and back on loading,
    so that AutoModel finds it in a run directory. None: no backbone (or it is called bert already)."""
    prefix = getattr(getattr(model, "bert", None), "base_model_prefix", "bert")
    return None if prefix == "bert" else prefix


def _renamed(names, old, new):
    return {n: (new + n[len(old):] if n.startswith(old) else n) for n in names}


def save_weights(model, path):
    """safetensors, tied tensors stored once; byte-identical for identical weights (sorted names, and
    only the fixed {"format": "pt"} metadata that transformers expects)."""
    from safetensors.torch import save_file

    state = model.state_dict()
    prefix = backbone_prefix(model)
    hf = _renamed(state, "bert.", f"{prefix}.") if prefix else {n: n for n in state}
    # each tied tensor once: under its backbone name (where AutoModel looks), else its alphabetically first
    keep = [next((n for n in names if n.startswith("bert.")), names[0]) for names in tied_groups(state)]
    tensors = dict(sorted((hf[n], state[n].detach().contiguous()) for n in keep))
    bad = next((n for n, t in tensors.items() if t.is_floating_point() and not t.isfinite().all()), None)
    if bad:  # a diverged model is no checkpoint: it would load and predict garbage
        raise NlpkitError(f"{path}: not saved: the weights hold NaN or inf ({bad}); training diverged "
                          "(learning rate too high?)")
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata={"format": "pt"})


def read_tensors(path, device="cpu"):
    """All tensors of a safetensors file; a missing, empty, truncated or foreign file is one NlpkitError."""
    from safetensors.torch import load_file

    if not Path(path).exists():
        raise NlpkitError(f"{path}: missing")
    try:
        return load_file(str(path), device=str(device))
    except Exception as e:  # SafetensorError (truncated, empty, not safetensors), OSError
        raise NlpkitError(f"{path}: unreadable weights file, empty or truncated? ({_first_line(e)})") from None


def load_weights(model, path):
    """Load a safetensors file into `model`, which it must fit exactly (names and shapes)."""
    tensors = read_tensors(path)
    prefix = backbone_prefix(model)
    if prefix:
        tensors = {new: tensors[old] for old, new in _renamed(tensors, f"{prefix}.", "bert.").items()}
    expected = model.state_dict()
    missing = [names[0] for names in tied_groups(expected)  # a tied weight needs one of its names
               if not any(n in tensors for n in names) and not names[0].endswith("position_ids")]
    unexpected = [k for k in tensors if k not in expected]
    wrong = [f"{k} {list(tensors[k].shape)} vs {list(expected[k].shape)}" for k in sorted(tensors)
             if k in expected and tensors[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        parts = [f"{len(wrong)} of another shape (file vs model: {', '.join(wrong[:2])})" if wrong else "",
                 f"{len(missing)} missing ({', '.join(missing[:3])})" if missing else "",
                 f"{len(unexpected)} unexpected ({', '.join(unexpected[:3])})" if unexpected else ""]
        raise NlpkitError(f"{path}: weights do not fit the model, saved for another task or model? "
                          f"Tensors: {'; '.join(p for p in parts if p)}")
    model.load_state_dict(tensors, strict=False)


# ---- whole runs ----------------------------------------------------------------------------------
def save_run(run_dir, task, model, cfg):
    """A BERT task's run files: config.json, model.safetensors, tokenizer, nlpkit.yaml, task_state.json.
    The same code writes the final run and the resume point (which adds its own files)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    config = model.bert.config
    # what AutoModel builds from this folder; a task model may name its transformers class (BertForMaskedLM)
    config.architectures = [getattr(model, "architecture", None) or type(model.bert).__name__]
    write_text(run_dir / "config.json", config.to_json_string())
    save_weights(model, run_dir / WEIGHTS_FILE)
    task.tokenizer.save(run_dir)
    write_text(run_dir / CONFIG_FILE, config_text(cfg))
    write_json(run_dir / STATE_FILE, task.state)


def read_task_state(run_dir):
    path = Path(run_dir) / STATE_FILE
    if not path.exists():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise NlpkitError(f"{path}: not valid JSON ({_first_line(e)})") from None
    if not isinstance(state, dict):
        raise NlpkitError(f"{path}: expected a JSON object, found {type(state).__name__}")
    return state


def read_bert_config(run_dir):
    """The backbone config a run was trained with (its config.json's model_type: bert, ernie, ...)."""
    from .model.backbone import read_config

    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise NlpkitError(f"{run_dir}: no config.json")
    return read_config(run_dir, str(path))


def load_task(run_dir, overrides=(), expect_task=None):
    """The task of a finished run, configured as it was trained (plus overrides); with expect_task, a
    plain checkpoint folder of a task whose checkpoint_is_model, configured by its profile for it."""
    task_cls = get_task_class(expect_task) if expect_task else None
    if task_cls and is_plain_checkpoint(run_dir, task_cls):
        return task_cls(build_config(task_cls, [f"model={run_dir}", *overrides]))
    saved = read_run_config(run_dir)
    require_finished(run_dir)
    for key in WRITE_KEYS:  # a run folder never chooses where nlpkit writes (eval_output=/etc/...)
        if key in saved:
            saved[key] = None
    if expect_task and expect_task != saved.task:
        raise NlpkitError(f"{run_dir} holds a '{saved.task}' model, not '{expect_task}'")
    task_cls = get_task_class(saved.task)
    cfg = build_config(task_cls, overrides, base=saved)
    return task_cls(cfg, state=read_task_state(run_dir))


def is_plain_checkpoint(folder, task_cls):
    """A published checkpoint (config.json, no nlpkit run) that task_cls takes as its model as it is."""
    folder = Path(folder)
    return (task_cls.checkpoint_is_model and (folder / "config.json").is_file()
            and not (folder / CONFIG_FILE).exists())


def load_run(run_dir, overrides=(), expect_task=None):
    """(task, model) of a finished run, ready for predict/evaluate (model in eval mode)."""
    task = load_task(run_dir, overrides, expect_task)
    return task, task.load_run(run_dir)


def load_bert_run(task, run_dir):
    """Rebuild a BERT task model from its run directory (BertTask.load_run)."""
    from .tokenizer import Tokenizer

    run_dir = Path(run_dir)
    if is_plain_checkpoint(run_dir, type(task)):  # its weights as published, the task's head included
        task.tokenizer = Tokenizer.from_dir(run_dir)
        return task.build_model(str(run_dir)).eval()
    require_finished(run_dir)
    if (run_dir / "export.json").is_file():  # `nlpkit export`'s folder: its graphs run in onnxruntime
        from .export import load_export

        return load_export(task, run_dir)
    if not (run_dir / WEIGHTS_FILE).exists():
        if (run_dir / "pytorch_model.bin").exists():
            raise NlpkitError(f"{run_dir}: has pytorch_model.bin but no {WEIGHTS_FILE}; nlpkit reads weights only "
                              "from safetensors (convert it, e.g. save_pretrained(..., safe_serialization=True))")
        raise NlpkitError(f"{run_dir}: no {WEIGHTS_FILE}; not a finished nlpkit run")
    task.tokenizer = Tokenizer.from_dir(run_dir)
    model = task.build_model(read_bert_config(run_dir))
    load_weights(model, run_dir / WEIGHTS_FILE)
    return model.eval()

"""Resume points: the loop's counters, and everything beside the weights a run needs to continue.

A resume point is the run's own files (nlpkit.checkpoint.save_run) plus optimizer.pt (the optimizer,
every process's random streams, the grad scaler), ema.safetensors and trainer.json (the counters,
the schedule, each process's open logging window), written last: its presence marks a whole point.
It is read back and checked in full (`ResumePoint.find`) before the run writes anything.
"""
import contextlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator, Optional

import torch

from ..checkpoint import (RESUME_DIRS, STATE_FILE, WEIGHTS_FILE, read_bert_config, read_task_state, read_tensors,
                          save_run)
from ..data import atomic_path, write_json
from ..errors import NlpkitError
from ..tokenizer import Tokenizer

RESUME_DIR, RESUME_NEW, RESUME_OLD = RESUME_DIRS


@dataclass
class TrainerState:
    """The loop's counters; with the weights, optimizer and RNG in a resume point, all it needs."""

    epoch: int = 0  # epochs finished
    batch: int = 0  # batches of the current epoch done by this process (a resume point inside an epoch)
    step: int = 0  # optimizer steps
    best: Optional[float] = None  # best dev score so far
    best_metrics: dict = field(default_factory=dict)
    history: list = field(default_factory=list)  # {"epoch", "step", "metrics"} per epoch

    @classmethod
    def from_dict(cls, d: Any) -> "TrainerState":
        names = [f.name for f in fields(cls)]
        if not isinstance(d, dict) or sorted(d) != sorted(names):
            raise ValueError(f"expected the keys {', '.join(names)}")
        if not all(isinstance(d[k], int) and d[k] >= 0 for k in ("epoch", "batch", "step")):
            raise ValueError("epoch, batch and step must be integers >= 0")
        return cls(**d)


def rng_state(device: torch.device) -> dict:
    """This process's random streams (CPU, and the GPU's when it trains on one)."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def write_resume_point(t: Any, rng: list, log_windows: list) -> None:
    """Write the resume point of `t` (a nlpkit.training.trainer.Trainer) into resume.new/, then swap
    it in for resume/: a run killed at any moment leaves one whole point (resume/, else resume.new/
    or resume.old/, each with trainer.json). `rng`, `log_windows`: every process's, gathered."""
    new, final, old = (t.out / name for name in (RESUME_NEW, RESUME_DIR, RESUME_OLD))
    shutil.rmtree(new, ignore_errors=True)
    save_run(new, t.task, t.raw, t.cfg)  # the same files as the run itself
    if t.ema:
        from safetensors.torch import save_file

        with atomic_path(new / "ema.safetensors") as tmp:
            save_file({k: t.ema.shadow[k].contiguous() for k in sorted(t.ema.shadow)}, tmp)
    extra = {"optimizer": t.optimizer.state_dict(), "rng": rng}
    if t.accelerator.scaler is not None:
        extra["scaler"] = t.accelerator.scaler.state_dict()
    with atomic_path(new / "optimizer.pt") as tmp:
        torch.save(extra, tmp)
    # trainer.json last: its presence marks a complete point
    write_json(new / "trainer.json", {"state": asdict(t.state), "scheduler": t.scheduler.state_dict(),
                                      "processes": t.accelerator.num_processes, "log_window": log_windows})
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)


def _log_windows(windows, processes):
    """trainer.json's log_window: one RunLog.window() per process, or None (a point from before it)."""
    if windows is None:
        return None
    keys = {"loss_sum": float, "batches": int, "samples": int, "seconds": float, "elapsed": float}
    ok = isinstance(windows, list) and len(windows) == processes and all(
        isinstance(w, dict) and sorted(w) == sorted(keys) and all(_window_value(k, w[k]) for k in keys)
        for w in windows)
    if not ok:
        raise ValueError(f"log_window: expected {processes} x {{{', '.join(keys)}}} (counts and seconds >= 0)")
    return [{k: cast(w[k]) for k, cast in keys.items()} for w in windows]


def _window_value(key, v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and (key == "loss_sum" or v >= 0)


@contextlib.contextmanager
def _resume_file(path: Path) -> Iterator[None]:
    """Any failure reading or applying `path` -> one NlpkitError line."""
    try:
        yield
    except NlpkitError:
        raise
    except Exception as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise NlpkitError(f"{path}: cannot resume from this file ({type(e).__name__}: {reason}); "
                          "pass overwrite=true to start the run over") from None


@dataclass
class ResumePoint:
    """A resume point as read back: everything is read and checked before anything is written."""

    folder: Path
    state: TrainerState
    scheduler: dict
    processes: int
    saved: dict  # optimizer.pt: the optimizer, every process's RNG states, the grad scaler
    bert_config: Any
    tokenizer: Tokenizer
    task_state: dict  # what the task learnt from the training data (task_state.json)
    log_windows: Optional[list] = None  # each process's open log window (points before it had none)

    @classmethod
    def find(cls, out: Path, cfg: Any) -> Optional["ResumePoint"]:
        """The run's resume point (None if it has none yet), read and checked."""
        for name in RESUME_DIRS:
            if (out / name / "trainer.json").exists():
                return cls.read(out / name, cfg)
        return None

    @classmethod
    def read(cls, folder: Path, cfg: Any) -> "ResumePoint":
        path = folder / "trainer.json"
        with _resume_file(path):
            trainer = json.loads(path.read_text(encoding="utf-8"))
            state = TrainerState.from_dict(trainer["state"])
            scheduler, processes = dict(trainer["scheduler"]), int(trainer["processes"])
            windows = _log_windows(trainer.get("log_window"), processes)
        path = folder / "optimizer.pt"
        with _resume_file(path):
            saved = torch.load(path, map_location="cpu", weights_only=True)  # never unpickles code
            if not isinstance(saved, dict) or not {"optimizer", "rng"} <= set(saved):
                raise ValueError("expected the optimizer state and the RNG states")
        needed = [WEIGHTS_FILE, STATE_FILE] + (["ema.safetensors"] if cfg.trainer.ema else [])
        for name in needed:
            if not (folder / name).exists():
                raise NlpkitError(f"{folder / name}: missing from the resume point; pass overwrite=true to start over")
        return cls(folder, state, scheduler, processes, saved, read_bert_config(folder), Tokenizer.from_dir(folder),
                   read_task_state(folder), windows)

    def restore(self, t: Any) -> None:
        """Put the trainer `t` (a nlpkit.training.trainer.Trainer) where the point left off."""
        acc = t.accelerator
        if self.processes != acc.num_processes:
            raise NlpkitError(f"{self.folder}: saved by {self.processes} processes, resumed with "
                              f"{acc.num_processes}; resume with {self.processes}")
        with _resume_file(self.folder / "optimizer.pt"):
            t.optimizer.load_state_dict(self.saved["optimizer"])
            if acc.scaler is not None and self.saved.get("scaler"):
                acc.scaler.load_state_dict(self.saved["scaler"])
            rng = self.saved["rng"][acc.process_index]
        with _resume_file(self.folder / "trainer.json"):
            t.scheduler.load_state_dict(self.scheduler)
        if t.ema:
            path = self.folder / "ema.safetensors"
            t.ema.load(read_tensors(path), path)
        t.state = self.state
        if self.state.batch:  # inside an epoch: continue this process's random streams where they stopped
            with _resume_file(self.folder / "optimizer.pt"):
                torch.set_rng_state(rng["cpu"])
                if "cuda" in rng and acc.device.type == "cuda":
                    torch.cuda.set_rng_state(rng["cuda"], acc.device)

    def log_window(self, process_index: int) -> Optional[dict]:
        """The logging window process `process_index` had open (None: the point predates them)."""
        return self.log_windows[process_index] if self.log_windows else None

"""A run's telemetry: `log.jsonl` in the run directory (written by the main process, flushed line by
line) and, with `trainer.log_with=tensorboard|wandb|mlflow|...`, accelerate's trackers.

Every `trainer.log_every_steps` optimizer steps one line {"step", "epoch", "loss" (mean over the
window, over every process), "lr", "grad_norm", "samples_per_second", "elapsed"}; after every
evaluation one line {"step", "epoch", "eval": {metrics}}. A resumed run first drops the lines past its
resume point and takes up the window open there (its loss sum, batch and sample counts, kept in the
resume point), so the log has the lines of an uninterrupted run: equal but for the wall-clock fields
`samples_per_second` and `elapsed`.
"""
import json
import math
import time
from pathlib import Path

LOG_FILE = "log.jsonl"
TRACKER_DIR = "trackers"


def read_log(run_dir):
    """The records of a run's log.jsonl (a torn last line, from a kill, is skipped)."""
    rows = []
    path = Path(run_dir) / LOG_FILE
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


class RunLog:
    """Accumulates the training window on every process; the main process writes the lines."""

    def __init__(self, accelerator, out, cfg, resume_step=0, window=None):
        """`window`: this process's `window()` as saved in the resume point (None: an empty one)."""
        self.acc, self.out, self.every = accelerator, Path(out), cfg.trainer.log_every_steps
        self.trackers = bool(cfg.trainer.log_with)
        self.loss_sum, self.batches, self.samples = 0.0, 0, 0
        self.window_started = self.started = time.time()
        self.elapsed_before = 0.0
        if window:  # the window open at the resume point goes on: its sums and its seconds so far
            self.loss_sum, self.batches, self.samples = window["loss_sum"], window["batches"], window["samples"]
            self.window_started -= window["seconds"]
        if accelerator.is_main_process:
            kept = self._truncate(resume_step)
            self.elapsed_before = window["elapsed"] if window else kept
            self.file = open(self.out / LOG_FILE, "a", encoding="utf-8")
        if self.trackers:
            from omegaconf import OmegaConf

            flat = {k: v for k, v in _flatten(OmegaConf.to_container(cfg)).items() if v is not None}
            accelerator.init_trackers(self.out.name or "run", config=flat)

    def _truncate(self, resume_step):
        """Keep the lines up to the resume point (all of them for a new run: the file starts empty)."""
        path = self.out / LOG_FILE
        if not path.exists() or not resume_step:
            path.write_text("", encoding="utf-8")
            return 0.0
        kept = [r for r in read_log(self.out) if r["step"] <= resume_step]
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept), encoding="utf-8")
        return max((r.get("elapsed", 0.0) for r in kept), default=0.0)

    def window(self):
        """The open window (for a resume point): a resumed run logs it as if it had never stopped."""
        now = time.time()
        return {"loss_sum": self.loss_sum, "batches": self.batches, "samples": self.samples,
                "seconds": now - self.window_started, "elapsed": self.elapsed_before + now - self.started}

    def batch(self, loss, n_samples):
        self.loss_sum += float(loss)
        self.batches += 1
        self.samples += n_samples

    def step(self, step, epoch, lr, grad_norm):
        """After an optimizer step: every `every` steps, reduce the window over processes and log it."""
        if step % self.every:
            return
        import torch

        window = torch.tensor([self.loss_sum, self.batches, self.samples], device=self.acc.device,
                              dtype=torch.float64)
        window = self.acc.reduce(window, "sum")
        now = time.time()
        row = {"step": step, "epoch": round(epoch, 4), "loss": window[0].item() / max(window[1].item(), 1),
               "lr": lr, "grad_norm": None if grad_norm is None or not math.isfinite(grad_norm) else grad_norm,
               "samples_per_second": round(window[2].item() / max(now - self.window_started, 1e-9), 2),
               "elapsed": round(self.elapsed_before + now - self.started, 2)}
        self.loss_sum, self.batches, self.samples, self.window_started = 0.0, 0, 0, now
        self._write(row, {"train/loss": row["loss"], "train/lr": lr, "train/grad_norm": row["grad_norm"],
                          "train/samples_per_second": row["samples_per_second"]})

    def evaluation(self, step, epoch, metrics):
        numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        self._write({"step": step, "epoch": epoch, "eval": numbers}, {f"eval/{k}": v for k, v in numbers.items()})

    def _write(self, row, scalars):
        if self.trackers:
            self.acc.log({k: v for k, v in scalars.items() if v is not None}, step=row["step"])
        if self.acc.is_main_process:
            self.file.write(json.dumps(row, ensure_ascii=False) + "\n")
            self.file.flush()

    def close(self):
        if self.acc.is_main_process:
            self.file.close()


def _flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v if isinstance(v, (int, float, str, bool)) else json.dumps(v)
    return out

"""The trainer: what the steps of the loop share (model, AdamW, schedule, EMA, counters, log) and
the steps themselves: backward, optimizer step, evaluate-and-keep-the-best, resume point, finish."""
import contextlib
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional

import torch
from tqdm.auto import tqdm

from ..checkpoint import WEIGHTS_FILE, finish_run, load_weights, save_run, start_run
from ..devices import eval_mode
from ..errors import NlpkitError
from ..telemetry import RunLog, read_log
from .optim import EMA, make_optimizer, make_scheduler
from .resume import TrainerState, rng_state, write_resume_point

if TYPE_CHECKING:
    from accelerate import Accelerator

    from ..task import BertTask
    from .plan import RunPlan


@dataclass
class Trainer:
    """What the steps of the loop share."""

    accelerator: Any
    task: Any
    cfg: Any
    out: Path
    model: Any  # prepared by accelerate (DDP-wrapped with several processes)
    optimizer: Any
    scheduler: Any
    ema: Optional[EMA]
    total: int  # optimizer steps of the whole run
    state: TrainerState = field(default_factory=TrainerState)
    log: Optional[RunLog] = None
    positions: int = 0  # token positions (padding included) this process trained on since it started

    @property
    def raw(self) -> torch.nn.Module:
        return self.accelerator.unwrap_model(self.model)

    @property
    def main(self) -> bool:
        return self.accelerator.is_main_process

    def start(self, run: "RunPlan") -> None:
        """Mark the run started (nlpkit.yaml, and no metrics.json until the end) and open its log."""
        if self.main:
            start_run(self.out, self.cfg, fresh=run.fresh)
        self.accelerator.wait_for_everyone()
        window = run.point.log_window(self.accelerator.process_index) if run.point else None
        self.log = RunLog(self.accelerator, self.out, self.cfg, resume_step=self.state.step, window=window)

    def backward(self, batch: dict, sync: bool) -> torch.Tensor:
        """Loss and gradients of one batch; processes average gradients only when `sync`."""
        acc = self.accelerator
        batch = {k: v.to(acc.device) if torch.is_tensor(v) else v for k, v in batch.items()}
        with (contextlib.nullcontext() if sync else acc.no_sync(self.model)), acc.autocast():
            loss = self.task.loss(self.model, batch)
            acc.backward(loss / self.cfg.trainer.grad_accum)
        self.log.batch(loss.detach(), _batch_size(batch))
        ids = batch.get("input_ids")
        self.positions += ids.numel() if torch.is_tensor(ids) else 0
        return loss

    def optimizer_step(self, loss: Optional[torch.Tensor] = None) -> Optional[float]:
        """Clip (max_grad_norm 0: measure only), step, schedule, EMA; returns the gradient norm. A
        non-finite `loss` (the last batch's) or gradient norm stops the run before it reaches the weights."""
        clip = self.cfg.trainer.max_grad_norm
        norm = self.accelerator.clip_grad_norm_(self.model.parameters(), clip or float("inf"))
        check_finite(self.state.step + 1, loss, norm, scaled=self.accelerator.scaler is not None)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema:
            self.ema.update(self.raw, self.state.step)
        self.state.step += 1
        return None if norm is None else float(norm)

    def evaluate(self, dev: Optional[list], epoch: Optional[float] = None) -> None:
        """Evaluate on dev (main process) and save the run when the score improved; `epoch`: how far
        training is, in epochs (default: the epochs finished)."""
        if self.main:
            self._evaluate_and_keep(dev, self.state.epoch if epoch is None else round(epoch, 4))
        self.accelerator.wait_for_everyone()

    def _evaluate_and_keep(self, dev, epoch):
        task, raw, st = self.task, self.raw, self.state
        with self._ema_weights(), eval_mode(raw):
            metrics, score = {}, None
            if dev:
                with torch.no_grad(), task.doing("evaluate"):
                    metrics = dict(task.evaluate(raw, dev))
                score = metrics.get(task.metric)
                if score is None:
                    raise NlpkitError(f"task {task.name}: evaluate() returned no '{task.metric}'")
            improved = not dev or st.best is None or score >= st.best  # ties: the later, longer-trained epoch
            if improved:
                st.best, st.best_metrics = score, metrics
                save_run(self.out, task, raw, self.cfg)
        st.history.append({"epoch": epoch, "step": st.step, "metrics": metrics})
        if dev:
            self.log.evaluation(st.step, epoch, metrics)
            shown = {k: round(v, 4) for k, v in metrics.items() if isinstance(v, (int, float))}
            tqdm.write(f"step {st.step} (epoch {epoch:g}): {json.dumps(shown, ensure_ascii=False)}"
                       + (" (best, saved)" if improved else ""), file=sys.stderr)

    @contextlib.contextmanager
    def _ema_weights(self) -> Iterator[None]:
        if self.ema:
            self.ema.swap(self.raw)
        try:
            yield
        finally:
            if self.ema:
                self.ema.swap(self.raw)

    def save_resume_point(self) -> None:
        from accelerate.utils import gather_object

        # every process's random streams and open logging window
        rng, windows = zip(*gather_object([(rng_state(self.accelerator.device), self.log.window())]))
        if self.main:
            write_resume_point(self, list(rng), list(windows))
        self.accelerator.wait_for_everyone()

    def finish(self, seconds: float) -> None:
        """metrics.json (once, by the main process) marks the run finished; the resume point goes."""
        self.log.close()
        # every process's padded positions: tokens/s that compares engines, not batching policies
        positions = int(self.accelerator.reduce(torch.tensor(self.positions, device=self.accelerator.device), "sum"))
        if self.main:
            st = self.state
            finish_run(self.out, {**st.best_metrics, "steps": st.step, "history": st.history,
                                  "processes": self.accelerator.num_processes, "train_seconds": round(seconds, 2),
                                  "train_positions": positions})
        self.accelerator.wait_for_everyone()
        self.accelerator.end_training()

    def summary(self, seconds: float) -> str:
        """One line: the best dev metric and its step, wall time, samples/s."""
        st, name = self.state, self.task.metric
        # ties keep the later evaluation, so the saved model is the last one with the best score
        best = next((h for h in reversed(st.history) if h["metrics"].get(name) == st.best), None) if st.best is not None else None
        rows = [r for r in read_log(self.out) if "samples_per_second" in r]
        speed = sum(r["samples_per_second"] for r in rows) / len(rows) if rows else None
        parts = [f"best {name} {st.best:.4f} at step {best['step']}" if best else "no dev data",
                 f"{st.step} steps in {seconds:.1f} s"] + ([f"{speed:.1f} samples/s"] if speed else [])
        return "trained: " + ", ".join(parts)


def build_trainer(task: "BertTask", cfg: Any, run: "RunPlan", accelerator: "Accelerator", total: int) -> Trainer:
    """Model, AdamW, schedule and EMA, on accelerate's device; restored from the resume point if any."""
    from accelerate.utils import set_seed

    tc, point = cfg.trainer, run.point
    set_seed(cfg.seed)
    model = task.build_model(point.bert_config if point else cfg.model)
    if point:
        load_weights(model, point.folder / WEIGHTS_FILE)
    optimizer = make_optimizer(model, tc)
    scheduler = make_scheduler(optimizer, total, tc.schedule, tc.warmup, tc.schedule_points)
    model, optimizer = accelerator.prepare(model, optimizer)
    ema = EMA(accelerator.unwrap_model(model), tc.ema) if tc.ema else None  # after prepare: on the device
    t = Trainer(accelerator, task, cfg, run.out, model, optimizer, scheduler, ema, total)
    if point:
        point.restore(t)
    return t


def check_finite(step: int, loss: Any, norm: Any, scaled: bool = False) -> None:
    """NlpkitError naming the step when the loss or the gradient norm is NaN or inf (with fp16's
    gradient scaler an inf norm is an overflow the scaler skips itself: only the loss counts)."""
    values = [("loss", loss)] + ([] if scaled else [("gradient norm", norm)])
    for what, value in values:
        value = float(value.detach()) if torch.is_tensor(value) else value
        if value is not None and not math.isfinite(value):
            raise NlpkitError(f"step {step}: the {what} is {value}: training diverged and stopped before "
                              "the weights took it (lower trainer.lr, check trainer.schedule_points); the run "
                              "stays unfinished")


def _batch_size(batch):
    return next((len(v) for v in batch.values() if torch.is_tensor(v) and v.dim()), 0)

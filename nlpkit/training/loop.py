"""The run, top to bottom: plan it (read and check everything, write nothing), set up accelerate,
encode the data (main process first, so every process shares one vocabulary and one cache), build
the trainer (model, AdamW, a warmup + linear/cosine/constant/polynomial/piecewise schedule, EMA,
restored from a resume point if resuming), mark the run started, then loop: gradient accumulation,
clipping, mixed precision; each epoch evaluate on dev, keep the best model and save a resume point;
finish."""
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import torch

from ..checkpoint import run_lock
from ..progress import progress_bar
from .accelerator import make_accelerator
from .batches import ShardedBatches, count_steps, make_loader
from .encode import encode_records, prepare_task
from .plan import RunPlan, plan_training
from .trainer import Trainer, build_trainer

if TYPE_CHECKING:
    from ..task import BertTask


def train_task(task: "BertTask", cfg: Any) -> Path:
    """Train a BERT task into cfg.output_dir (default runs/<task>) and return that path."""
    threads = torch.get_num_threads()
    if cfg.trainer.threads:
        torch.set_num_threads(cfg.trainer.threads)
    try:
        with run_lock(cfg.output_dir or f"runs/{task.name}"):  # held from the folder's check to the end
            return _train(task, cfg)
    finally:
        torch.set_num_threads(threads)


def _train(task, cfg):
    tc = cfg.trainer
    run = plan_training(task, cfg)  # reads only: every refusal comes before anything is written
    if run.finished:
        say(f"{run.out} already holds the finished run: nothing to resume")
        return run.out
    announce_start(task, cfg, run)
    accelerator = make_accelerator(task, tc, run.out)
    with accelerator.main_process_first():  # the main process builds and caches, the others reuse
        prepare_task(task, cfg, run)
        if run.dev:  # dev data the trained model could not score: stop now, not after epoch 1
            task.check_dev(run.dev)
        train_ds = encode_records(task, task.training_records(run.train), cfg, "encode train")
    sampler, loader = make_loader(task, train_ds, cfg, accelerator)
    total, epochs = count_steps(len(sampler), tc, accelerator.num_processes)
    t = build_trainer(task, cfg, run, accelerator, total)
    t.start(run)
    seconds = train_epochs(t, sampler, loader, epochs, run.dev)
    t.finish(seconds)
    if t.main:
        say(t.summary(seconds))
    return run.out


def train_epochs(t: Trainer, sampler: ShardedBatches, loader: Any, epochs: int, dev: Optional[list]) -> float:
    """Epochs from t.state on until t.total steps, each evaluated and ended by a resume point; the seconds taken."""
    st, seed = t.state, t.cfg.seed
    bar = progress_bar(total=t.total, initial=st.step, enabled=t.main and t.cfg.trainer.progress,
                       desc=f"train {t.task.name}", dynamic_ncols=True)
    started = time.time()
    t.model.train()
    for epoch in range(st.epoch, epochs):
        sampler.set_epoch(epoch)
        sampler.skip = st.batch
        if st.batch == 0:  # each epoch's randomness follows from (seed, epoch) alone
            torch.manual_seed(seed * 1000 + epoch)
        if st.step < t.total:
            train_epoch(t, loader, len(sampler), bar, dev)
        st.epoch, st.batch = epoch + 1, 0
        if not st.history or st.history[-1]["step"] != st.step:  # not evaluated at this very step yet
            t.evaluate(dev)
        t.save_resume_point()
        if st.step >= t.total:
            break
    bar.close()
    return time.time() - started


def train_epoch(t: Trainer, loader: Any, n_batches: int, bar: Any, dev: Optional[list]) -> None:
    """One pass over this process's batches (from t.state.batch on), stopping at t.total steps."""
    st, tc = t.state, t.cfg.trainer
    for i, batch in enumerate(loader, start=st.batch):
        boundary = (i + 1) % tc.grad_accum == 0 or i + 1 == n_batches
        loss = t.backward(batch, sync=boundary)
        if not boundary:
            continue
        grad_norm = t.optimizer_step(loss)
        st.batch = i + 1
        lr = t.scheduler.get_last_lr()[0]
        t.log.step(st.step, st.epoch + st.batch / n_batches, lr, grad_norm)
        bar.update(1)
        if not bar.disable:
            bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{lr:.2e}", epoch=st.epoch + 1)
        if tc.eval_every_steps and st.step % tc.eval_every_steps == 0 and st.batch < n_batches:
            t.evaluate(dev, st.epoch + st.batch / n_batches)  # inside the epoch; its end evaluates anyway
        if tc.save_every_steps and st.step % tc.save_every_steps == 0:
            t.save_resume_point()
        if st.step >= t.total:
            return


def announce_start(task: "BertTask", cfg: Any, run: RunPlan) -> None:
    """The run's start line(s) on stderr, once planned and before anything is written: what the run
    starts from (a resume=true that found no resume point starts fresh)."""
    if cfg.resume and run.fresh:
        say(f"nothing to resume in {run.out}, starting fresh")


def say(message: str) -> None:
    """One `nlpkit: ...` line on stderr, from the main process only."""
    if os.environ.get("RANK", "0") == "0":
        print(f"nlpkit: {message}", file=sys.stderr)

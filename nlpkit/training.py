"""The training loop every BERT task shares, on accelerate (one GPU, several GPUs, or CPU processes).

`train_task` reads top to bottom: check the output folder (nlpkit.checkpoint's run lifecycle), read
the data, set up accelerate, build the vocabulary and encode the data (main process first, so every
process shares one vocabulary and one cache), build the `Trainer` (model, AdamW, a warmup +
linear/cosine/constant/polynomial/piecewise schedule, EMA of the weights, restored from a resume
point if resuming), mark the run started, then loop: gradient accumulation, clipping, mixed
precision; each epoch evaluate on dev, keep the best model and save a resume point; finish.

Batches are sharded across processes by our own sampler (every process draws the same permutation
from (seed, epoch) and takes its slice), each epoch's randomness follows from (seed, epoch), and a
resume point keeps every process's random streams, so a run resumed with resume=true retraces the
uninterrupted one exactly.
"""
import contextlib
import functools
import hashlib
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

import torch
from tqdm.auto import tqdm

from . import __version__
from .checkpoint import (FINISHED, RESUME, RESUME_DIRS, STATE_FILE, WEIGHTS_FILE, finish_run, load_weights,
                         plan_run, read_bert_config, read_task_state, read_tensors, run_lock, save_run,
                         start_run, tied_groups)
from .data import LengthGroupedBatches, atomic_path, write_json
from .devices import eval_mode
from .errors import NlpkitError
from .progress import progress_bar
from .telemetry import TRACKER_DIR, RunLog, read_log
from .tokenizer import Tokenizer

RESUME_DIR, RESUME_NEW, RESUME_OLD = RESUME_DIRS


# ---- the run ---------------------------------------------------------------------------------
def train_task(task, cfg):
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
    out = Path(cfg.output_dir or f"runs/{task.name}")
    plan = plan_run(out, cfg, task.resume_may_change)  # reads only: every refusal comes before anything is written
    if plan == FINISHED:
        _say(f"{out} already holds the finished run: nothing to resume")
        return out
    point = ResumePoint.find(out, cfg) if plan == RESUME else None
    if cfg.resume and point is None:
        _say(f"nothing to resume in {out}, starting fresh")
    train, dev = read_data(task, cfg, check_model=point is None)

    accelerator = make_accelerator(task, tc, out)
    with accelerator.main_process_first():  # the main process builds and caches, the others reuse
        prepare_task(task, cfg, train, point)
        if dev:  # dev data the trained model could not score: stop now, not after epoch 1
            task.check_dev(dev)
        train_ds = encode_records(task, task.training_records(train), cfg, "encode train")
    sampler, loader = make_loader(task, train_ds, cfg, accelerator)
    total, epochs = count_steps(len(sampler), tc, accelerator.num_processes)
    t = build_trainer(task, cfg, out, accelerator, total, point)
    if accelerator.is_main_process:
        start_run(out, cfg, fresh=point is None)  # nlpkit.yaml, and no metrics.json until the end
    accelerator.wait_for_everyone()
    t.log = RunLog(accelerator, out, cfg, resume_step=t.state.step,
                   window=point.log_windows[accelerator.process_index] if point and point.log_windows else None)

    st = t.state
    bar = progress_bar(total=total, initial=st.step, enabled=t.main and tc.progress, desc=f"train {task.name}",
                       dynamic_ncols=True)
    started = time.time()
    t.model.train()
    for epoch in range(st.epoch, epochs):
        sampler.set_epoch(epoch)
        sampler.skip = st.batch
        if st.batch == 0:  # each epoch's randomness follows from (seed, epoch) alone
            torch.manual_seed(cfg.seed * 1000 + epoch)
        if st.step < total:
            train_epoch(t, loader, len(sampler), bar, dev)
        st.epoch, st.batch = epoch + 1, 0
        if not st.history or st.history[-1]["step"] != st.step:  # not evaluated at this very step yet
            t.evaluate(dev)
        t.save_resume_point()
        if st.step >= total:
            break
    bar.close()
    t.finish(time.time() - started)
    return out


def train_epoch(t, loader, n_batches, bar, dev):
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


def _say(message):
    if os.environ.get("RANK", "0") == "0":
        print(f"nlpkit: {message}", file=sys.stderr)


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
    def from_dict(cls, d):
        names = [f.name for f in fields(cls)]
        if not isinstance(d, dict) or sorted(d) != sorted(names):
            raise ValueError(f"expected the keys {', '.join(names)}")
        if not all(isinstance(d[k], int) and d[k] >= 0 for k in ("epoch", "batch", "step")):
            raise ValueError("epoch, batch and step must be integers >= 0")
        return cls(**d)


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
    ema: Optional["EMA"]
    total: int  # optimizer steps of the whole run
    state: TrainerState = field(default_factory=TrainerState)
    log: Optional[RunLog] = None
    positions: int = 0  # token positions (padding included) this process trained on since it started

    @property
    def raw(self):
        return self.accelerator.unwrap_model(self.model)

    @property
    def main(self):
        return self.accelerator.is_main_process

    def backward(self, batch, sync):
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

    def optimizer_step(self, loss=None):
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

    def evaluate(self, dev, epoch=None):
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
    def _ema_weights(self):
        if self.ema:
            self.ema.swap(self.raw)
        try:
            yield
        finally:
            if self.ema:
                self.ema.swap(self.raw)

    def save_resume_point(self):
        from accelerate.utils import gather_object

        # every process's random streams and open logging window
        rng, windows = zip(*gather_object([(_rng_state(self.accelerator.device), self.log.window())]))
        if self.main:
            write_resume_point(self, list(rng), list(windows))
        self.accelerator.wait_for_everyone()

    def finish(self, seconds):
        """metrics.json (once, by the main process) marks the run finished; the resume point goes."""
        self.log.close()
        # every process's padded positions: tokens/s that compares engines, not batching policies
        positions = int(self.accelerator.reduce(torch.tensor(self.positions, device=self.accelerator.device), "sum"))
        if self.main:
            st = self.state
            finish_run(self.out, {**st.best_metrics, "steps": st.step, "history": st.history,
                                  "processes": self.accelerator.num_processes, "train_seconds": round(seconds, 2),
                                  "train_positions": positions})
            _say(self.summary(seconds))
        self.accelerator.wait_for_everyone()
        self.accelerator.end_training()

    def summary(self, seconds):
        """One line: the best dev metric and its step, wall time, samples/s."""
        st, name = self.state, self.task.metric
        # ties keep the later evaluation, so the saved model is the last one with the best score
        best = next((h for h in reversed(st.history) if h["metrics"].get(name) == st.best), None) if st.best is not None else None
        rows = [r for r in read_log(self.out) if "samples_per_second" in r]
        speed = sum(r["samples_per_second"] for r in rows) / len(rows) if rows else None
        parts = [f"best {name} {st.best:.4f} at step {best['step']}" if best else "no dev data",
                 f"{st.step} steps in {seconds:.1f} s"] + ([f"{speed:.1f} samples/s"] if speed else [])
        return "trained: " + ", ".join(parts)


def check_finite(step, loss, norm, scaled=False):
    """NlpkitError naming the step when the loss or the gradient norm is NaN or inf (with fp16's
    gradient scaler an inf norm is an overflow the scaler skips itself: only the loss counts)."""
    values = [("loss", loss)] + ([] if scaled else [("gradient norm", norm)])
    for what, value in values:
        value = float(value.detach()) if torch.is_tensor(value) else value
        if value is not None and not math.isfinite(value):
            raise NlpkitError(f"step {step}: the {what} is {value}: training diverged and stopped before "
                              "the weights took it (lower trainer.lr, check trainer.schedule_points); the run "
                              "stays unfinished")


def make_accelerator(task, tc, out):
    from datetime import timedelta

    from accelerate import Accelerator, DistributedDataParallelKwargs, InitProcessGroupKwargs
    from accelerate.utils import ProjectConfiguration

    # accelerate only sets up gloo for several CPU processes when told it runs on the CPU
    has_device = torch.accelerator.is_available() if hasattr(torch, "accelerator") else torch.cuda.is_available()
    # a task whose heads are not all used by every batch (e.g. a padded-away pointer) says so
    ddp = DistributedDataParallelKwargs(find_unused_parameters=bool(getattr(task, "find_unused_parameters", False)))
    project = ProjectConfiguration(project_dir=str(out), logging_dir=str(Path(out) / TRACKER_DIR))
    # the other ranks wait at a barrier while the main process scores dev: a long dev set must not
    # run into the process group's default 30-minute timeout
    group = InitProcessGroupKwargs(timeout=timedelta(days=7))
    # accelerate keeps one mixed precision per process: a later run in it (Python, tests) may ask for
    # another (bf16 after fp32); the process group (PartialState) is kept
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()
    try:
        return Accelerator(mixed_precision=tc.mixed_precision, cpu=tc.cpu or not has_device, kwargs_handlers=[ddp, group],
                           log_with=tc.log_with, project_config=project)
    except (ImportError, ValueError) as e:  # e.g. a tracker whose package is not installed
        raise NlpkitError(f"trainer.log_with={tc.log_with}: {str(e).splitlines()[0]}") from None


def _batch_size(batch):
    return next((len(v) for v in batch.values() if torch.is_tensor(v) and v.dim()), 0)


def build_trainer(task, cfg, out, accelerator, total, point=None):
    """Model, AdamW, schedule and EMA, on accelerate's device; restored from `point` when resuming."""
    from accelerate.utils import set_seed

    tc = cfg.trainer
    set_seed(cfg.seed)
    model = task.build_model(point.bert_config if point else cfg.model)
    if point:
        load_weights(model, point.folder / WEIGHTS_FILE)
    optimizer = make_optimizer(model, tc)
    scheduler = make_scheduler(optimizer, total, tc.schedule, tc.warmup, tc.schedule_points)
    model, optimizer = accelerator.prepare(model, optimizer)
    ema = EMA(accelerator.unwrap_model(model), tc.ema) if tc.ema else None  # after prepare: on the device
    t = Trainer(accelerator, task, cfg, out, model, optimizer, scheduler, ema, total)
    if point:
        point.restore(t)
    return t


def count_steps(batches_per_epoch, tc, world):
    """(optimizer steps of the run, epochs to run)."""
    steps_per_epoch = math.ceil(batches_per_epoch / tc.grad_accum)
    if steps_per_epoch == 0:
        raise NlpkitError(f"too little training data for {world} processes")
    total = tc.max_steps or steps_per_epoch * tc.epochs
    return total, math.ceil(total / steps_per_epoch)


# ---- data ------------------------------------------------------------------------------------
def resolve_data(task, cfg):
    """(train_path, dev_path): the given files, or the task's bundled sample."""
    train = cfg.data.train or task.sample_path("train")
    dev = cfg.data.dev if cfg.data.train or cfg.data.dev else task.sample_path("dev")
    if not train:
        raise NlpkitError(f"task {task.name} has no bundled sample: give data.train=FILE")
    return train, dev


def read_data(task, cfg, check_model=True):
    """(train records, dev records or None); also checks model=DIR. Raises before anything is written."""
    train_path, dev_path = resolve_data(task, cfg)
    train = task.read_data(train_path)
    dev = task.read_data(dev_path) if dev_path else None
    if not train:
        raise NlpkitError(f"{train_path}: no training records")
    if check_model and cfg.model != "tiny":
        from .model.backbone import backbone_config

        backbone_config(cfg.model, None)  # the folder is a checkpoint, before the tokenizer lookup
    return train, dev


def prepare_task(task, cfg, train, point=None):
    """Set the task's tokenizer and learnt state: from the resume point, or from the training records
    (model=tiny: a vocabulary built from the training texts only; never the dev data)."""
    if point is not None:
        task.tokenizer = Tokenizer.from_dir(point.folder)
        task.state = read_task_state(point.folder)
        return
    if cfg.model == "tiny":
        task.tokenizer = Tokenizer.build(task.texts(train), vocab_size=cfg.tiny.vocab_size)
    else:
        task.tokenizer = Tokenizer.from_dir(cfg.model)
    task.prepare(train)


#: config keys that do not change the encoded features
NOT_ENCODING = ("trainer", "output_dir", "resume", "overwrite", "data", "eval_output")


@functools.lru_cache(maxsize=None)
def core_digest():
    """Hash of the core's code (nlpkit/*.py, nlpkit/model/*.py): a tokenizer change is a new cache."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha1()
    for src in sorted([*root.glob("*.py"), *(root / "model").glob("*.py")]):
        h.update(src.relative_to(root).as_posix().encode())
        h.update(src.read_bytes())
    return h.hexdigest()


def _cache_key(task, records, cfg):
    from omegaconf import OmegaConf

    h = hashlib.sha1()
    h.update(json.dumps(records, ensure_ascii=False, sort_keys=True, default=str).encode())
    h.update(json.dumps(task.tokenizer.vocab, sort_keys=True).encode())
    h.update(json.dumps(task.state, sort_keys=True, default=str).encode())
    settings = {k: v for k, v in OmegaConf.to_container(cfg).items() if k not in NOT_ENCODING}
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    for src in sorted(task.folder().glob("*.py")):  # the task's code
        h.update(src.read_bytes())
    h.update(core_digest().encode())
    h.update(__version__.encode())
    return h.hexdigest()[:20]


def encode_records(task, records, cfg, desc="encode"):
    """Encode records through `datasets` (Arrow), cached on disk and optionally multi-process.

    `records` is a list, or an iterable a task streams from disk (a corpus larger than memory): that
    is written to an Arrow file as it is read, and str(records) identifies it in the cache key."""
    import datasets

    from .cache import cache_dir

    listed = isinstance(records, list)
    show = cfg.trainer.progress and os.environ.get("RANK", "0") == "0" and (not listed or len(records) >= 1000)
    show = show and sys.stderr.isatty()  # datasets redraws its bars with "\r": no use in a log file
    (datasets.enable_progress_bars if show else datasets.disable_progress_bars)()
    ds = _record_table(records) if listed else _streamed_record_table(records)
    cache_file = None
    if cfg.data.cache:
        folder = cache_dir("encoded")
        cache_file = str(folder / f"{task.name}-{_cache_key(task, records, cfg)}.arrow")
    num_proc = cfg.data.num_proc if cfg.data.num_proc and cfg.data.num_proc > 1 else None
    return ds.map(
        _Encoder(task),
        remove_columns=["_record"],
        num_proc=num_proc,
        cache_file_name=cache_file,
        load_from_cache_file=cache_file is not None,
        desc=desc,
    )


def _record_table(records):
    import datasets

    return datasets.Dataset.from_dict({"_record": [json.dumps(r, ensure_ascii=False) for r in records]})


def _streamed_record_table(records):
    import datasets

    from .cache import cache_dir

    features = datasets.Features({"_record": datasets.Value("string")})
    fingerprint = hashlib.sha1(str(records).encode()).hexdigest()[:20]
    return datasets.Dataset.from_generator(_json_rows, features=features, gen_kwargs={"records": records},
                                           cache_dir=str(cache_dir("records")), fingerprint=fingerprint)


def _json_rows(records):
    for r in records:
        yield {"_record": json.dumps(r, ensure_ascii=False)}


class _Encoder:
    """Picklable map function for worker processes."""

    def __init__(self, task):
        self.task = task

    def __call__(self, example):
        return self.task.encode(json.loads(example["_record"]))


class ShardedBatches(LengthGroupedBatches):
    """Length-grouped batches, every rank taking an equal, disjoint share."""

    def __init__(self, lengths, batch_size, seed, rank=0, world=1, **kw):
        super().__init__(lengths, batch_size, seed=seed, **kw)
        self.rank, self.world, self.skip = rank, world, 0

    def all_batches(self):
        batches = list(super().__iter__())
        per_rank = len(batches) // self.world if self.world > 1 else len(batches)
        return batches[self.rank : per_rank * self.world : self.world]

    def __iter__(self):
        return iter(self.all_batches()[self.skip :])

    def __len__(self):
        n = super().__len__()
        return n // self.world if self.world > 1 else n


def make_loader(task, train_ds, cfg, accelerator):
    tc = cfg.trainer
    sampler = ShardedBatches([task.length(f) for f in train_ds], tc.batch_size, seed=cfg.seed,
                             rank=accelerator.process_index, world=accelerator.num_processes,
                             group=tc.group_by_length)
    # a private generator: creating the loader's iterator must not draw from the global RNG (resume)
    loader = torch.utils.data.DataLoader(train_ds, batch_sampler=sampler, collate_fn=task.collate,
                                         generator=torch.Generator())
    return sampler, loader


# ---- optimisation ----------------------------------------------------------------------------
def make_optimizer(model, tc):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.dim() < 2 or "LayerNorm" in name else decay).append(p)
    # fused: one kernel for all tensors (CPU and GPU) instead of a Python loop over them; 7-9% of a
    # tiny model's training time on CPU (triples, 1,500 DuIE records: 10.4 s -> 9.4-9.7 s)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": tc.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=tc.lr,
        fused=True,
    )


#: trainer.schedule -> transformers.get_scheduler's name (all with linear warmup)
HF_SCHEDULES = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup",
                "polynomial": "polynomial"}


def warmup_steps(warmup, total):
    """trainer.warmup as a step count: a fraction of the run (< 1) or a number of steps."""
    return int(warmup * total) if warmup < 1 else int(warmup)


def make_scheduler(optimizer, total, schedule="linear", warmup=0.0, points=None):
    """Linear warmup, then the schedule: transformers' linear, cosine, constant, polynomial, or
    nlpkit's piecewise (bert4keras style: `points` [[fraction_of_training, lr_multiplier], ...])."""
    warm = warmup_steps(warmup, total)
    if schedule == "piecewise":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, piecewise_lambda(total, warm, points))
    if schedule not in HF_SCHEDULES:
        raise NlpkitError(f"trainer.schedule={schedule}: expected one of {', '.join([*HF_SCHEDULES, 'piecewise'])}")
    from transformers import get_scheduler

    extra = {"lr_end": 0.0} if schedule == "polynomial" and optimizer.defaults["lr"] <= 1e-7 else None
    return get_scheduler(HF_SCHEDULES[schedule], optimizer, num_warmup_steps=warm, num_training_steps=total,
                         scheduler_specific_kwargs=extra)


def piecewise_lambda(total, warm, points):
    """lr multiplier at a step: linear warmup, then linear between the points, (0, 1) implied."""
    pts = [(0.0, 1.0)]
    for p in points or []:
        ok = isinstance(p, Sequence) and not isinstance(p, str) and len(p) == 2
        ok = ok and all(isinstance(v, (int, float)) for v in p) and p[0] >= pts[-1][0]
        if not ok:
            raise NlpkitError(f"trainer.schedule_points: expected [[fraction, multiplier], ...] with rising "
                              f"fractions, got {_plain(points)}")
        pts.append((float(p[0]), float(p[1])))

    def f(step):
        if step < warm:
            return step / max(1, warm)
        x = step / max(total, 1)
        for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
            if x <= x1:
                return y0 + (y1 - y0) * (x - x0) / max(x1 - x0, 1e-12)
        return pts[-1][1]

    return f


def _plain(value):
    from omegaconf import OmegaConf

    return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value


class EMA:
    """Exponential moving average of the weights, swapped in for evaluation and saving."""

    def __init__(self, model, decay):
        self.decay = decay
        state = model.state_dict()
        # a tied weight (embeddings = LM decoder) once: a second copy would swap the first one's values back
        names = [group[0] for group in tied_groups(state)]
        self.shadow = {k: state[k].detach().clone().float() for k in names if state[k].is_floating_point()}

    @torch.no_grad()
    def update(self, model, step=None):
        # warm-up: early averages must not keep a large share of the random initial weights
        decay = self.decay if step is None else min(self.decay, (1 + step) / (10 + step))
        for k, v in model.state_dict().items():
            if k in self.shadow:
                self.shadow[k].mul_(decay).add_(v.float(), alpha=1 - decay)

    @torch.no_grad()
    def swap(self, model):
        """Exchange model weights and EMA weights (call twice to restore)."""
        state = model.state_dict()
        for k, s in self.shadow.items():
            tmp = state[k].detach().clone()
            state[k].copy_(s)
            self.shadow[k] = tmp.float()

    @torch.no_grad()
    def load(self, tensors, path):
        if sorted(tensors) != sorted(self.shadow) or any(tensors[k].shape != v.shape for k, v in self.shadow.items()):
            raise NlpkitError(f"{path}: EMA weights do not fit the model")
        for k, v in self.shadow.items():
            v.copy_(tensors[k])  # onto the model's device


# ---- resume points ---------------------------------------------------------------------------
def _rng_state(device):
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def write_resume_point(t, rng, log_windows):
    """Write the resume point into resume.new/, then swap it in for resume/: a run killed at any
    moment leaves one whole point (resume/, else resume.new/ or resume.old/, each with trainer.json)."""
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
def _resume_file(path):
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
    log_windows: Optional[list] = None  # each process's open log window (points before it had none)

    @classmethod
    def find(cls, out, cfg):
        """The run's resume point (None if it has none yet), read and checked."""
        for name in RESUME_DIRS:
            if (out / name / "trainer.json").exists():
                return cls.read(out / name, cfg)
        return None

    @classmethod
    def read(cls, folder, cfg):
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
        return cls(folder, state, scheduler, processes, saved, read_bert_config(folder), windows)

    def restore(self, t):
        """Put the trainer where the point left off."""
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

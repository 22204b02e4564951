"""The training loop every BERT task shares, on accelerate (one GPU, several GPUs, or CPU processes).

AdamW, warmup + linear/constant/piecewise-linear schedule, gradient accumulation, clipping, EMA of
weights, mixed precision, dev evaluation each epoch keeping the best checkpoint, and resume.
Batches are sharded across ranks by our own sampler (every rank draws the same permutation from
(seed, epoch) and takes its slice), so an interrupted run resumed with resume=true retraces the
uninterrupted one exactly.
"""
import contextlib
import hashlib
import json
import math
import shutil
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import __version__
from .checkpoint import load_weights, save_run, save_weights
from .data import LengthGroupedBatches, write_json
from .errors import NlpkitError
from .tokenizer import Tokenizer

RESUME_DIR = "resume"


# ---- data ------------------------------------------------------------------------------------
def resolve_data(task, cfg):
    """(train_path, dev_path): the given files, or the task's bundled sample."""
    train = cfg.data.train or task.sample_path("train")
    dev = cfg.data.dev if cfg.data.train or cfg.data.dev else task.sample_path("dev")
    if not train:
        raise NlpkitError(f"task {task.name} has no bundled sample: give data.train=FILE")
    return train, dev


def _cache_key(task, records, cfg):
    h = hashlib.sha1()
    h.update(json.dumps(records, ensure_ascii=False, sort_keys=True, default=str).encode())
    h.update(json.dumps(task.tokenizer.vocab, sort_keys=True).encode())
    h.update(json.dumps(task.state, sort_keys=True, default=str).encode())
    task_cfg = {k: v for k, v in cfg.items() if k not in ("trainer", "output_dir", "resume", "data")}
    h.update(repr(sorted(task_cfg.items(), key=lambda kv: kv[0])).encode())
    for src in sorted(task.folder().glob("*.py")):  # a code change invalidates the cache
        h.update(src.read_bytes())
    h.update(__version__.encode())
    return h.hexdigest()[:20]


def encode_records(task, records, cfg, desc="encode"):
    """Encode records through `datasets` (Arrow), cached on disk and optionally multi-process."""
    import datasets

    from .cache import cache_dir

    datasets.disable_progress_bars()
    ds = datasets.Dataset.from_dict({"_record": [json.dumps(r, ensure_ascii=False) for r in records]})
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


# ---- optimisation ----------------------------------------------------------------------------
def lr_lambda(total, warmup, schedule="linear", points=None):
    warm = int(warmup * total) if isinstance(warmup, float) and warmup < 1 else int(warmup)

    def f(step):
        if step < warm:
            return (step + 1) / warm
        if schedule == "constant":
            return 1.0
        if schedule == "piecewise":
            # [[fraction_of_training, multiplier], ...] linearly interpolated (bert4keras style)
            x = step / max(total, 1)
            pts = [(0.0, 1.0)] + [tuple(p) for p in points or []]
            for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
                if x <= x1:
                    return y0 + (y1 - y0) * (x - x0) / max(x1 - x0, 1e-12)
            return pts[-1][1]
        if schedule == "linear":
            return max(0.0, (total - step) / max(total - warm, 1))
        raise NlpkitError(f"trainer.schedule={schedule}: expected linear, constant or piecewise")

    return f


def make_optimizer(model, tc):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.dim() < 2 or "LayerNorm" in name else decay).append(p)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": tc.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=tc.lr
    )


class EMA:
    """Exponential moving average of the weights, swapped in for evaluation and saving."""

    def __init__(self, model, decay):
        self.decay = decay
        self.shadow = {k: v.detach().clone().float() for k, v in model.state_dict().items() if v.is_floating_point()}

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


# ---- the run ---------------------------------------------------------------------------------
def prepare_task(task, cfg, resume_dir=None):
    """Read data, build or load the tokenizer and the task state. Raises before anything is written."""
    train_path, dev_path = resolve_data(task, cfg)
    train = task.read(train_path)
    dev = task.read(dev_path) if dev_path else None
    if not train:
        raise NlpkitError(f"{train_path}: no training records")
    if resume_dir is not None:
        task.tokenizer = Tokenizer.from_dir(resume_dir)
        task.state = json.loads((resume_dir / "task_state.json").read_text(encoding="utf-8"))
        return train, dev
    if cfg.model == "tiny":
        texts = list(task.texts(train)) + (list(task.texts(dev)) if dev else [])
        task.tokenizer = Tokenizer.build(texts, vocab_size=cfg.tiny.vocab_size)
    else:
        from .model.backbone import backbone_config

        backbone_config(cfg.model, None)  # validates the folder before the tokenizer lookup
        task.tokenizer = Tokenizer.from_dir(cfg.model)
    task.prepare(train)
    return train, dev


def train_task(task, cfg):
    from accelerate import Accelerator, DistributedDataParallelKwargs
    from accelerate.utils import set_seed

    tc = cfg.trainer
    out = Path(cfg.output_dir or f"runs/{task.name}")
    resume_dir = out / RESUME_DIR
    resuming = bool(cfg.resume) and (resume_dir / "trainer.json").exists()
    if cfg.resume and not resuming:
        print(f"nlpkit: nothing to resume in {out}, starting fresh", file=sys.stderr)
    train, dev = prepare_task(task, cfg, resume_dir if resuming else None)

    # accelerate only sets up gloo for several CPU processes when told it runs on the CPU
    has_device = torch.accelerator.is_available() if hasattr(torch, "accelerator") else torch.cuda.is_available()
    # some heads are not used by every batch (e.g. a padded-away pointer), which DDP must be told
    ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
    accelerator = Accelerator(mixed_precision=tc.mixed_precision, cpu=tc.cpu or not has_device, kwargs_handlers=[ddp])
    main = accelerator.is_main_process
    set_seed(cfg.seed)
    model = task.build_model(cfg.model if not resuming else _resumed_config(resume_dir))

    train_ds = encode_records(task, train, cfg, "encode train")
    sampler = ShardedBatches(
        [task.length(f) for f in train_ds],
        tc.batch_size,
        seed=cfg.seed,
        rank=accelerator.process_index,
        world=accelerator.num_processes,
        group=tc.group_by_length,
    )
    # a private generator: creating the loader's iterator must not draw from the global RNG (resume)
    loader = torch.utils.data.DataLoader(train_ds, batch_sampler=sampler, collate_fn=task.collate,
                                         generator=torch.Generator())
    steps_per_epoch = math.ceil(len(sampler) / tc.grad_accum)
    if steps_per_epoch == 0:
        raise NlpkitError(f"too little training data for {accelerator.num_processes} processes")
    total = tc.max_steps or steps_per_epoch * tc.epochs
    epochs = math.ceil(total / steps_per_epoch)

    optimizer = make_optimizer(model, tc)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(total, tc.warmup, tc.schedule, tc.schedule_points)
    )
    ema = EMA(model, tc.ema) if tc.ema else None
    state = {"epoch": 0, "batch": 0, "step": 0, "best": None, "best_metrics": {}, "history": []}
    if resuming:
        state = _load_resume(resume_dir, model, optimizer, scheduler, ema)
    model, optimizer = accelerator.prepare(model, optimizer)
    raw = accelerator.unwrap_model(model)

    if main:
        out.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=total, initial=state["step"], disable=not (main and tc.progress), desc=f"train {task.name}",
               dynamic_ncols=True)
    model.train()
    started = time.time()
    for epoch in range(state["epoch"], epochs):
        sampler.set_epoch(epoch)
        if state["batch"] == 0:  # each epoch's randomness follows from (seed, epoch) alone
            torch.manual_seed(cfg.seed * 1000 + epoch)
        sampler.skip = state["batch"]
        for i, batch in enumerate(loader, start=state["batch"]):
            batch = {k: v.to(accelerator.device) if torch.is_tensor(v) else v for k, v in batch.items()}
            boundary = (i + 1) % tc.grad_accum == 0 or i + 1 == len(sampler)
            ctx = accelerator.no_sync(model) if not boundary else contextlib.nullcontext()
            with ctx, accelerator.autocast():
                loss = task.loss(model, batch)
                accelerator.backward(loss / tc.grad_accum)
            if not boundary:
                continue
            if tc.max_grad_norm:
                accelerator.clip_grad_norm_(model.parameters(), tc.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if ema:
                ema.update(raw, state["step"])
            state["step"] += 1
            state["batch"] = i + 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}", epoch=epoch + 1)
            if tc.save_every_steps and state["step"] % tc.save_every_steps == 0:
                _save_resume(accelerator, resume_dir, task, raw, optimizer, scheduler, ema, state, cfg)
            if state["step"] >= total:
                break
        state["epoch"], state["batch"] = epoch + 1, 0
        _end_of_epoch(accelerator, task, raw, ema, dev, cfg, out, state)
        _save_resume(accelerator, resume_dir, task, raw, optimizer, scheduler, ema, state, cfg)
        if state["step"] >= total:
            break
    bar.close()

    if main:
        metrics = {**state["best_metrics"], "steps": state["step"], "history": state["history"],
                   "train_seconds": round(time.time() - started, 2)}
        write_json(out / "metrics.json", metrics)
        shutil.rmtree(resume_dir, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return out


def _end_of_epoch(accelerator, task, raw, ema, dev, cfg, out, state):
    """Evaluate on dev (main process) and keep the best run directory."""
    if accelerator.is_main_process:
        if ema:
            ema.swap(raw)
        raw.eval()
        metrics = {}
        if dev:
            with torch.no_grad():
                metrics = dict(task.evaluate(raw, dev))
            score = metrics.get(task.metric)
            if score is None:
                raise NlpkitError(f"task {task.name}: evaluate() returned no '{task.metric}'")
        improved = not dev or state["best"] is None or score >= state["best"]  # ties: the later, longer-trained epoch
        if improved:
            state["best"], state["best_metrics"] = (score if dev else None), metrics
            save_run(out, task, raw, cfg)
        state["history"].append({"epoch": state["epoch"], "step": state["step"], "metrics": metrics})
        if dev:
            shown = {k: round(v, 4) for k, v in metrics.items() if isinstance(v, (int, float))}
            tqdm.write(f"epoch {state['epoch']}: {json.dumps(shown, ensure_ascii=False)}"
                       + (" (best, saved)" if improved else ""), file=sys.stderr)
        raw.train()
        if ema:
            ema.swap(raw)
    accelerator.wait_for_everyone()


def _resumed_config(resume_dir):
    from transformers import BertConfig

    return BertConfig.from_pretrained(str(resume_dir), local_files_only=True)


def _save_resume(accelerator, resume_dir, task, raw, optimizer, scheduler, ema, state, cfg):
    """Everything needed to continue exactly: weights, optimizer, EMA, RNG, counters."""
    if accelerator.is_main_process:
        resume_dir.mkdir(parents=True, exist_ok=True)
        from .config import to_yaml
        from .data import atomic_path, write_text

        write_text(resume_dir / "config.json", raw.bert.config.to_json_string())
        task.tokenizer.save(resume_dir)
        write_json(resume_dir / "task_state.json", task.state)
        write_text(resume_dir / "nlpkit.yaml", to_yaml(cfg))
        save_weights(raw, resume_dir / "model.safetensors")
        if ema:
            from safetensors.torch import save_file

            with atomic_path(resume_dir / "ema.safetensors") as tmp:
                save_file({k: v.contiguous() for k, v in ema.shadow.items()}, tmp)
        with atomic_path(resume_dir / "optimizer.pt") as tmp:
            torch.save({"optimizer": optimizer.state_dict(), "rng": torch.get_rng_state()}, tmp)
        # trainer.json last: its presence marks a complete resume point
        write_json(resume_dir / "trainer.json", {**state, "scheduler": scheduler.state_dict()})
    accelerator.wait_for_everyone()


def _load_resume(resume_dir, model, optimizer, scheduler, ema):
    state = json.loads((resume_dir / "trainer.json").read_text(encoding="utf-8"))
    load_weights(model, resume_dir / "model.safetensors")
    saved = torch.load(resume_dir / "optimizer.pt", weights_only=True)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(state.pop("scheduler"))
    if ema:
        from safetensors.torch import load_file

        ema.shadow = load_file(str(resume_dir / "ema.safetensors"))
    if state["batch"]:  # mid-epoch: continue the RNG stream where it stopped
        torch.set_rng_state(saved["rng"])
    return state

"""Optimisation: AdamW, the learning-rate schedules (with warmup), and the EMA of the weights."""
from collections.abc import Sequence
from typing import Any, Callable, Optional

import torch

from ..checkpoint import tied_groups
from ..errors import NlpkitError


def make_optimizer(model: torch.nn.Module, tc: Any) -> torch.optim.Optimizer:
    """AdamW with weight decay `tc.weight_decay` on the matrices (not on biases and LayerNorms)."""
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


def warmup_steps(warmup: float, total: int) -> int:
    """trainer.warmup as a step count: a fraction of the run (< 1) or a number of steps."""
    return int(warmup * total) if warmup < 1 else int(warmup)


def make_scheduler(optimizer: torch.optim.Optimizer, total: int, schedule: str = "linear", warmup: float = 0.0,
                   points: Optional[Sequence] = None) -> torch.optim.lr_scheduler.LRScheduler:
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


def piecewise_lambda(total: int, warm: int, points: Optional[Sequence]) -> Callable[[int], float]:
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

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        state = model.state_dict()
        # a tied weight (embeddings = LM decoder) once: a second copy would swap the first one's values back
        names = [group[0] for group in tied_groups(state)]
        self.shadow = {k: state[k].detach().clone().float() for k in names if state[k].is_floating_point()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: Optional[int] = None) -> None:
        # warm-up: early averages must not keep a large share of the random initial weights
        decay = self.decay if step is None else min(self.decay, (1 + step) / (10 + step))
        for k, v in model.state_dict().items():
            if k in self.shadow:
                self.shadow[k].mul_(decay).add_(v.float(), alpha=1 - decay)

    @torch.no_grad()
    def swap(self, model: torch.nn.Module) -> None:
        """Exchange model weights and EMA weights (call twice to restore)."""
        state = model.state_dict()
        for k, s in self.shadow.items():
            tmp = state[k].detach().clone()
            state[k].copy_(s)
            self.shadow[k] = tmp.float()

    @torch.no_grad()
    def load(self, tensors: dict, path: Any) -> None:
        if sorted(tensors) != sorted(self.shadow) or any(tensors[k].shape != v.shape for k, v in self.shadow.items()):
            raise NlpkitError(f"{path}: EMA weights do not fit the model")
        for k, v in self.shadow.items():
            v.copy_(tensors[k])  # onto the model's device

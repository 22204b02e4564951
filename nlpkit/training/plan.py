"""Run planning: everything a run starts from, read and checked before anything is written.

`plan_training` is the one place a run reads what exists already: the output folder's verdict
(nlpkit.checkpoint.plan_run), the resume point, the data, and the model folder (a checkpoint, its
tokenizer). The later stages take the `RunPlan` and never go back to disk for any of it.
"""
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Tuple

from ..checkpoint import FINISHED, RESUME, plan_run
from ..errors import NlpkitError
from ..tokenizer import Tokenizer
from .resume import ResumePoint

if TYPE_CHECKING:
    from ..task import BertTask


@dataclass
class RunPlan:
    """What a training run starts from."""

    out: Path  # the run folder
    finished: bool = False  # resume=true on a finished run: nothing left to do (and nothing else is read)
    train: list = field(default_factory=list)
    dev: Optional[list] = None
    point: Optional[ResumePoint] = None  # resuming: where the run left off
    # the model folder's tokenizer or the resume point's; None: one is built from the training texts (model=tiny)
    tokenizer: Optional[Tokenizer] = None

    @property
    def fresh(self) -> bool:
        return self.point is None


def plan_training(task: "BertTask", cfg: Any) -> RunPlan:
    """The run `cfg` asks for, read and checked; raises NlpkitError before anything is written."""
    out = Path(cfg.output_dir or f"runs/{task.name}")
    verdict = plan_run(out, cfg, task.resume_may_change)
    if verdict == FINISHED:
        return RunPlan(out, finished=True)
    point = ResumePoint.find(out, cfg) if verdict == RESUME else None
    train, dev = read_data(task, cfg)
    tokenizer = point.tokenizer if point else model_tokenizer(cfg)
    return RunPlan(out, train=train, dev=dev, point=point, tokenizer=tokenizer)


def resolve_data(task: "BertTask", cfg: Any) -> Tuple[str, Optional[str]]:
    """(train_path, dev_path): the given files, or the task's bundled sample."""
    train = cfg.data.train or task.sample_path("train")
    dev = cfg.data.dev if cfg.data.train or cfg.data.dev else task.sample_path("dev")
    if not train:
        raise NlpkitError(f"task {task.name} has no bundled sample: give data.train=FILE")
    return train, dev


def read_data(task: "BertTask", cfg: Any) -> Tuple[list, Optional[list]]:
    """(train records, dev records or None)."""
    train_path, dev_path = resolve_data(task, cfg)
    train = task.read_data(train_path)
    dev = task.read_data(dev_path) if dev_path else None
    if not train:
        raise NlpkitError(f"{train_path}: no training records")
    return train, dev


def model_tokenizer(cfg: Any) -> Optional[Tokenizer]:
    """The tokenizer of the checkpoint folder cfg.model (checked to be one first); None for model=tiny."""
    if cfg.model == "tiny":
        return None
    from ..model.backbone import backbone_config

    backbone_config(cfg.model, None)  # the folder is a checkpoint, before the tokenizer lookup
    return Tokenizer.from_dir(cfg.model)

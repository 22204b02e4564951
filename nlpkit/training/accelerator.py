"""accelerate's Accelerator for a run: devices, mixed precision, DDP, the process group, trackers."""
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..errors import NlpkitError
from ..telemetry import TRACKER_DIR

if TYPE_CHECKING:
    from accelerate import Accelerator

    from ..task import BertTask


def make_accelerator(task: "BertTask", tc: Any, out: Path) -> "Accelerator":
    """The Accelerator of a run into `out` with the trainer settings `tc` (cfg.trainer)."""
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

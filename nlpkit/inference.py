"""The inference plumbing every task shares: `Task.predict` and `Task.evaluate` are templates over it.

A task implements two hooks: `predict_batch(model, items, **options)` (one batch in, one prediction
per item out) and `score(records, predictions) -> (metrics, rows)`. A task whose metrics are not
about its predictions (a language model's likelihoods, masked tokens) overrides
`eval_predictions(model, records)` -- by default predict() -- to return what its score() reads,
running its batches through `batched()`. The core does the rest, once: it unwraps an accelerate/DDP
model (`.module`), switches dropout off and runs under `torch.inference_mode()`, batches by one
knob (`trainer.eval_batch_size`), shows a progress bar labelled by what the user asked for, reads
long inputs in windows, and writes `eval_output` (the rows of score()) for every task. An input cut
to fit the model is said once per run (`warn_cut`).

Long inputs plug in here too. A task whose `windows(record, **options)` returns a list reads that
record in those pieces (nlpkit.windows):
- a task that defines `merge(record, windows, outputs, **options)` gets every window of every record
  of a call flattened into batches of `eval_batch_size` windows (predict_batch sees windows, not
  records), then each record's outputs to merge into its prediction (ner, triples, classify);
- a task without `merge` reads a record's windows together (reading: its passages vote); records are
  packed so that a batch holds about `eval_batch_size` windows (at least one record), and
  predict_batch gets them as `windows=` (one list per record) beside the records.

The model is anything callable like the task's model: a torch module (placed by `Task.place`), or a
stand-in without parameters (an exported model), whose inputs stay on the CPU.
"""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Sequence, Union

if TYPE_CHECKING:
    import torch

    from .task import Task


def unwrap(model: Any) -> Any:
    """The task model inside an accelerate/DDP wrapper (the model itself when not wrapped)."""
    return getattr(model, "module", model)


def device_of(model: Any) -> "torch.device":
    """Where a model's inputs go: its first weight's device; the CPU for a model without torch weights."""
    import torch

    parameters = getattr(model, "parameters", None)
    first = next(iter(parameters()), None) if callable(parameters) else None
    return first.device if first is not None else torch.device("cpu")


def to_device(batch: dict, model: Any) -> dict:
    """A batch dict with its tensors on the model's device."""
    device = device_of(model)
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}


@contextlib.contextmanager
def inference(model: Any) -> Iterator[Any]:
    """Dropout off (the training mode restored after: a trainer evaluates mid-run) and no autograd."""
    import torch

    from .devices import eval_mode

    with eval_mode(model) if hasattr(model, "train") else contextlib.nullcontext(), torch.inference_mode():
        yield model


@contextlib.contextmanager
def call_batch_size(task: "Task", size: int) -> Iterator[None]:
    """Batches of `size` inside the block: a pipeline's or `nlpkit predict`'s batch_size, which hand the
    core all their inputs at once so that it can sort them by length across the whole call."""
    before = task.__dict__.get("call_batch_size")
    task.call_batch_size = size
    try:
        yield
    finally:
        task.call_batch_size = before


def batch_size(task: "Task") -> int:
    """The one knob: the call's batch_size (call_batch_size), else trainer.eval_batch_size (64 for a task
    whose config has no trainer section)."""
    if getattr(task, "call_batch_size", None):
        return int(task.call_batch_size)
    trainer = getattr(task.cfg, "trainer", None)
    return int(trainer.eval_batch_size) if trainer is not None and "eval_batch_size" in trainer else 64


def packed(items: Sequence, size: int, rows: Callable[[Any], int]) -> Iterator[list]:
    """Consecutive runs of `items` holding about `size` rows in all (rows(item) each), at least one item."""
    chunk, count = [], 0
    for item in items:
        if chunk and count + rows(item) > size:
            yield chunk
            chunk, count = [], 0
        chunk.append(item)
        count += rows(item)
    if chunk:
        yield chunk


def warn_cut(task: "Task", what: str, cut: int, total: Optional[int], limit: Union[int, str], key: str,
             hint: str = "") -> None:
    """Never silent: one warning line, once per task object (a run, a CLI call, a pipeline) and kind of
    cut, saying how many inputs (of `total`, when known) were cut to `limit` tokens and which key (or
    `hint`) keeps more."""
    import warnings

    warned = task.__dict__.setdefault("_cut_warned", set())
    if cut and what not in warned:
        warned.add(what)
        of = "" if total is None else f" of {total}"
        warnings.warn(f"{task.name}: {cut}{of} {what} were cut to {limit} tokens "
                      f"({hint or f'raise {key} to keep more'}; said once per run)", stacklevel=3)


def predict(task: "Task", model: Any, records: Sequence[dict], options: dict) -> list:
    """Task.predict: records -> one prediction each, through the task's hooks (see the module's doc)."""
    model = unwrap(model)

    def run(items: list) -> list:
        return task.predict_batch(model, items, **options)

    parts = [task.windows(r, **options) for r in records]
    if not parts or parts[0] is None:  # the task reads records whole
        return by_length(task, model, records, run)
    if task.merge is not None:  # every window of every record in batches, then each record's merged
        outputs = by_length(task, model, [w for p in parts for w in p], run)
        results, at = [], 0
        for record, windows in zip(records, parts):
            results.append(task.merge(record, windows, outputs[at : at + len(windows)], **options))
            at += len(windows)
        return results
    groups = list(packed(list(zip(records, parts)), batch_size(task), lambda p: len(p[1])))
    return batched(task, model, groups, lambda chunk: task.predict_batch(
        model, [r for r, _ in chunk[0]], windows=[w for _, w in chunk[0]], **options), size=1)


def size_of(item: Any) -> int:
    """How long an input is, for batching: a window's tokens, else a record's characters."""
    encoding = getattr(item, "encoding", None)
    if encoding is not None:
        return len(encoding.input_ids)
    return sum(len(v) for v in item.values() if isinstance(v, str)) if isinstance(item, dict) else 0


def by_length(task: "Task", model: Any, items: Sequence, run: Callable[[list], list]) -> list:
    """batched() over the items sorted by length, the outputs back in the items' order: a batch is padded
    to its longest input, so mixing lengths pads the short ones (2.3x the texts/s at batch 32 on real
    reviews, scripts/bench_infer.py)."""
    order = sorted(range(len(items)), key=lambda i: size_of(items[i]))
    outputs = batched(task, model, [items[i] for i in order], run)
    result = [None] * len(items)
    for i, output in zip(order, outputs):
        result[i] = output
    return result


def batched(task: "Task", model: Any, items: Sequence, run: Callable[[list], list], size: int = 0) -> list:
    """run(batch) over `items` in batches of `size` (default: eval_batch_size), the outputs concatenated;
    under inference mode with the model unwrapped, a progress bar labelled by what the user asked for."""
    model = unwrap(model)
    out = []
    with inference(model):
        for chunk in task.batches(items, size or batch_size(task), "predict"):
            out += run(chunk)
    return out


def evaluate(task: "Task", model: Any, records: Sequence[dict], options: dict) -> dict:
    """Task.evaluate: score the task's eval_predictions() (by default its predictions) of the gold records,
    write score()'s rows to eval_output."""
    from .data import write_jsonl

    metrics, rows = task.score(records, task.eval_predictions(model, records, **options))
    if task.cfg.eval_output:
        write_jsonl(task.cfg.eval_output, rows)
    return metrics

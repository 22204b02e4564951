"""Encoding: the task's tokenizer and learnt state, then the records through `datasets` (Arrow),
cached on disk under a key of everything that shapes the features, optionally multi-process."""
import functools
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, List

from .. import __version__
from ..tokenizer import Tokenizer

if TYPE_CHECKING:
    import datasets

    from ..task import BertTask
    from .plan import RunPlan

#: config keys that do not change the encoded features
NOT_ENCODING = ("trainer", "output_dir", "resume", "overwrite", "data", "eval_output")


def prepare_task(task: "BertTask", cfg: Any, run: "RunPlan") -> None:
    """Set the task's tokenizer and learnt state: the resume point's, or from the training records
    (model=tiny: a vocabulary built from the training texts only; never the dev data)."""
    if run.point is not None:
        task.tokenizer, task.state = run.point.tokenizer, run.point.task_state
        return
    task.tokenizer = run.tokenizer or Tokenizer.build(task.texts(run.train), vocab_size=cfg.tiny.vocab_size)
    task.prepare(run.train)


def core_sources() -> List[Path]:
    """The core's code (nlpkit/*.py, model/, training/) that shapes encoded features, sorted."""
    root = Path(__file__).resolve().parent.parent
    return sorted([*root.glob("*.py"), *(root / "model").glob("*.py"), *(root / "training").glob("*.py")])


@functools.lru_cache(maxsize=None)
def core_digest() -> str:
    """Hash of the core's code: a tokenizer change is a new cache."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha1()
    for src in core_sources():
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


def encode_records(task: "BertTask", records: Iterable[dict], cfg: Any, desc: str = "encode") -> "datasets.Dataset":
    """Encode records through `datasets` (Arrow), cached on disk and optionally multi-process.

    `records` is a list, or an iterable a task streams from disk (a corpus larger than memory): that
    is written to an Arrow file as it is read, and str(records) identifies it in the cache key."""
    import datasets

    from ..cache import cache_dir

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

    from ..cache import cache_dir

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

"""The count-then-merge driver shared by every engine.

Chunks stream to the executor with a bounded number in flight; each file's chunk counts are merged into
that file's Counter, and a finished file is saved as a partial count (when resumable) and merged into the
total. Addition is commutative, so the result is the same for any number of workers or engine.
"""
import logging
import lzma
import os
import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field

from ..data import atomic_open
from ..errors import NlpkitError
from .counting import Settings
from .engines import make_executor
from .sources import STDIN, expand, open_stream, ranges, stream_chunks
from .state import PartStore, parts_dir, write_json

log = logging.getLogger("nlpkit.wordcount")

DEFAULT_CHUNK = 1 << 20
MIN_CHUNK = 64 << 10
STREAM_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError)  # unreadable / corrupt compressed input


@dataclass
class Result:
    counts: Counter  # after min_count / top, in output order (count descending, then word)
    stats: dict


@dataclass
class _File:
    source: object
    counts: Counter = field(default_factory=Counter)
    lines: int = 0
    bytes: int = 0
    tokens: int = 0
    replaced: int = 0
    outstanding: int = 0
    submitted: bool = False
    done: bool = False
    error: str = None

    def stats(self):
        return {"lines": self.lines, "bytes": self.bytes, "tokens": self.tokens, "replaced_bytes": self.replaced}


def default_workers():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _check_int(name, value, minimum, allow_none=False):
    if value is None and allow_none:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise NlpkitError(f"{name} must be an integer >= {minimum}, got {value!r}")


def run(paths, output=None, workers=None, min_count=1, top=None, tokenizer="jieba", hmm=True, user_dict=None,
        stopwords=None, keep_punct=False, encoding="utf-8", engine="local", scheduler=None, resume=False,
        stats=None, progress=False, chunk_bytes=None, on_file=None):
    """Count words over PATHs; returns Result(counts, stats). See nlpkit.wordcount.count for the options."""
    t0 = time.perf_counter()
    _check_int("workers", workers, 1, allow_none=True)
    _check_int("min_count", min_count, 1)
    _check_int("top", top, 1, allow_none=True)
    _check_int("chunk_bytes", chunk_bytes, 1, allow_none=True)
    if engine not in ("local", "dask"):
        raise NlpkitError(f"unknown engine {engine!r}: expected local or dask")
    if scheduler and engine != "dask":
        raise NlpkitError("--scheduler only applies to --engine dask")
    to_file = output is not None and os.fspath(output) != STDIN
    if resume and not to_file:
        raise NlpkitError("--resume needs -o FILE: partial counts are kept next to the output")
    settings = Settings.create(tokenizer, hmm, user_dict, stopwords, keep_punct, encoding)

    exclude = [output, parts_dir(output)] if to_file else []
    if stats is not None:
        exclude.append(stats)
    sources, skipped = expand(paths, exclude)
    if not sources:
        why = "; ".join(f"{p}: {r}" for p, r in skipped) if skipped else "the given paths hold no files"
        raise NlpkitError(f"no readable input ({why})")
    for path, reason in skipped:
        log.warning("skipped %s: %s", path, reason)

    try:  # fail now, not after hours of counting, if nothing can be written next to the output
        store = PartStore(output, settings.describe(), resume) if to_file else None
    except OSError as e:
        raise NlpkitError(f"{output}: cannot write next to the output: {e.strerror or e}") from None
    files = [_File(s) for s in sources]
    total = Counter()
    resumed = 0
    for f in files:
        part = store.load(f.source) if store and f.source.path != STDIN else None
        if part is not None:
            counts, st = part
            total.update(counts)
            f.lines, f.bytes, f.tokens, f.replaced = st["lines"], st["bytes"], st["tokens"], st["replaced_bytes"]
            f.done = True
            resumed += 1
    todo = [f for f in files if not f.done]

    known = sum(f.source.size for f in todo)
    if workers is None:  # all CPUs, but no process start-up for a small input (the counts are the same)
        workers = default_workers()
        if engine == "local" and all(f.source.seekable for f in todo):
            workers = max(1, min(workers, -(-known // DEFAULT_CHUNK)))
    if chunk_bytes is None:  # small corpora: smaller chunks so every worker gets a share
        chunk_bytes = max(MIN_CHUNK, min(DEFAULT_CHUNK, known // (4 * workers) or DEFAULT_CHUNK))
    tokens_now = 0
    if todo:
        tokens_now = _count_files(todo, settings, engine, workers, scheduler, chunk_bytes, store, total,
                                  skipped, progress, on_file)
    seconds = time.perf_counter() - t0

    ok = [f for f in files if f.done and f.error is None]
    if not ok:  # every input was skipped: an empty result must not replace a good output
        if store and not resume:
            store.finish()
        why = "; ".join(f"{p}: {r}" for p, r in skipped)
        raise NlpkitError(f"no readable input, nothing written (every input was skipped: {why})")

    items = sorted(((w, n) for w, n in total.items() if n >= min_count), key=lambda kv: (-kv[1], kv[0]))
    if top is not None:
        items = items[:top]
    result = Counter(dict(items))
    summary = {
        "files": len(ok),
        "files_resumed": resumed,
        "files_skipped": len(skipped),
        "skipped": [{"path": p, "error": r} for p, r in skipped],
        "lines": sum(f.lines for f in ok),
        "bytes": sum(f.bytes for f in ok),
        "tokens": sum(f.tokens for f in ok),
        "types": len(total),
        "types_written": len(items),
        "replaced_bytes": sum(f.replaced for f in ok),
        "seconds": round(seconds, 3),
        "tokens_per_s": round(tokens_now / seconds, 1) if seconds > 0 else None,
        "engine": engine,
        "workers": workers,
        **{k: v for k, v in settings.describe().items()},
    }
    try:
        if output is not None:
            _write_tsv(output, items)
        if stats is not None:
            write_json(stats, summary, indent=2)
    except OSError as e:
        raise NlpkitError(f"cannot write the results: {e}") from None
    if store:
        store.finish()
    return Result(result, summary)


def _write_tsv(output, items):
    if os.fspath(output) == STDIN:
        out = sys.stdout
        out.writelines(f"{w}\t{n}\n" for w, n in items)
        out.flush()
        return
    with atomic_open(output) as out:
        out.writelines(f"{w}\t{n}\n" for w, n in items)


def _plan(todo, chunk_bytes):
    """(file, spec) pairs, then (file, None) once all of a file's chunks are out."""
    for f in todo:
        src = f.source
        if src.seekable:
            for spec in ranges(src, chunk_bytes):
                yield f, spec
        else:
            try:
                stream = open_stream(src)
                try:
                    first = True
                    for data in stream_chunks(stream, chunk_bytes):
                        yield f, ("bytes", data, first)
                        first = False
                finally:
                    if src.path != STDIN:
                        stream.close()
            except STREAM_ERRORS as e:
                f.error = getattr(e, "strerror", None) or str(e) or type(e).__name__
        yield f, None


def _count_files(todo, settings, engine, workers, scheduler, chunk_bytes, store, total, skipped, progress, on_file):
    from tqdm import tqdm

    sized = all(f.source.seekable for f in todo)
    bar = tqdm(
        total=sum(f.source.size for f in todo) if sized else None, unit="B", unit_scale=True, unit_divisor=1024,
        desc="wordcount", file=sys.stderr, dynamic_ncols=True,
        disable=(not sys.stderr.isatty()) if progress is None else not progress,
    )
    t0 = time.perf_counter()
    tokens = 0

    def finish(f):
        if not (f.submitted and f.outstanding == 0) or f.done:
            return
        f.done = True
        if f.error is not None:
            skipped.append((f.source.path, f.error))
            log.warning("skipped %s: %s", f.source.path, f.error)
            f.counts = None
            return
        counts, f.counts = f.counts, None
        if store and f.source.path != STDIN:
            store.save(f.source, counts, f.stats())
        total.update(counts)
        if on_file is not None:
            on_file(f.source.path, f.stats())

    executor = make_executor(engine, settings, workers, scheduler)
    aborted = True
    try:
        plan = _plan(todo, chunk_bytes)
        pending = {}
        exhausted = False
        while True:
            while not exhausted and len(pending) < executor.limit:
                item = next(plan, None)
                if item is None:
                    exhausted = True
                    break
                f, spec = item
                if spec is None:
                    f.submitted = True
                    finish(f)
                else:
                    pending[executor.submit(spec)] = f
                    f.outstanding += 1
            if not pending:
                break
            for fut in executor.wait(pending):
                f = pending.pop(fut)
                f.outstanding -= 1
                try:
                    counts, lines, nbytes, ntok, replaced = executor.result(fut)
                except OSError as e:  # the file became unreadable under a worker
                    f.error = f.error or e.strerror or str(e)
                else:
                    bar.update(nbytes)
                    if f.error is None:
                        f.counts.update(counts)
                        f.lines += lines
                        f.bytes += nbytes
                        f.tokens += ntok
                        f.replaced += replaced
                        tokens += ntok
                        bar.set_postfix_str(f"{tokens / max(time.perf_counter() - t0, 1e-9):,.0f} tok/s", refresh=False)
                finish(f)
        aborted = False
    finally:
        executor.close(abort=aborted)
        bar.close()
    return tokens

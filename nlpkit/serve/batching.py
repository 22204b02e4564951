"""Dynamic batching: requests wait in one bounded queue; one worker thread merges those for the same model
with the same options (arriving within max_wait_ms, bounded by size and padded tokens) into one pipeline
call, and advances open streams a piece at a time between batches, so the event loop only ever waits.

One worker for every model: the models share the CPU (or GPU), and two threads running torch on the same
cores would only slow each other down.
"""
import asyncio
import collections
import json
import threading
import time

from ..errors import NlpkitError


class QueueFull(Exception):
    """The queue holds max_queue requests: the client should retry later (503)."""


class Job:
    """One request: its inputs, answered through an asyncio future on the loop that submitted it."""

    def __init__(self, served, inputs, options, loop, stream=False):
        self.served, self.inputs, self.options, self.loop = served, inputs, options, loop
        self.stream = stream
        self.key = (served.name, json.dumps(options, sort_keys=True, ensure_ascii=False, default=str))
        self.tokens = max((input_size(x) for x in inputs), default=0)
        self.future = loop.create_future()
        self.pieces = asyncio.Queue() if stream else None  # a stream's pieces, then None (or an error)
        self.cancelled = False  # the client went away: dropped from the queue, a stream stops
        self.enqueued = time.monotonic()

    def finish(self, result=None, error=None):
        self.loop.call_soon_threadsafe(_settle, self.future, result, error)

    def emit(self, piece):
        self.loop.call_soon_threadsafe(self.pieces.put_nowait, piece)


def _settle(future, result, error):
    if future.done():  # its request was cancelled meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def input_size(item):
    """Characters in an input's strings: about its tokens for Chinese text (one character, one token)."""
    if isinstance(item, str):
        return len(item)
    if isinstance(item, dict):
        return sum(input_size(v) for v in item.values())
    if isinstance(item, (list, tuple)):
        return sum(input_size(v) for v in item)
    return 1


class Batcher:
    def __init__(self, metrics, max_batch_size=32, max_batch_tokens=8192, max_wait_ms=5.0, max_queue=256):
        self.metrics = metrics
        self.max_batch_size, self.max_batch_tokens = max_batch_size, max_batch_tokens
        self.max_wait, self.max_queue = max_wait_ms / 1000, max_queue
        self._queue = collections.deque()
        self._streams = []  # open streams: (job, iterator)
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="nlpkit-serve-worker", daemon=True)

    def start(self):
        self._thread.start()

    def close(self):
        """Finish everything queued or streaming, then stop the worker (graceful shutdown)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()

    def depth(self):
        with self._cond:
            return len(self._queue)

    def submit(self, job):
        with self._cond:
            if self._closing:
                raise QueueFull("the server is shutting down")
            if len(self._queue) >= self.max_queue:
                raise QueueFull(f"the queue is full ({self.max_queue} requests waiting)")
            self._queue.append(job)
            self.metrics.queue_depth(len(self._queue))
            self._cond.notify_all()

    def cancel(self, job):
        """The client disconnected: drop its job if still queued; a running stream stops at its next piece."""
        with self._cond:
            job.cancelled = True
            if job in self._queue:
                self._queue.remove(job)
                self.metrics.dropped(job.served.name)
                self.metrics.queue_depth(len(self._queue))

    # ---- the worker thread ----------------------------------------------------------------------
    def _run(self):
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            if batch:
                self._run_batch(batch)
            self._advance_streams()

    def _next_batch(self):
        """The jobs to run next (maybe none, when only streams are open), or None to stop."""
        with self._cond:
            while not self._queue and not self._streams:
                if self._closing:
                    return None
                self._cond.wait()
            if not self._queue:
                return []
            first = self._queue[0]
            if not first.stream:  # wait a little for company, unless the batch is already full
                deadline = first.enqueued + self.max_wait
                while not self._full(first) and time.monotonic() < deadline and not self._closing:
                    self._cond.wait(max(0.0, deadline - time.monotonic()))
                    if not self._queue or self._queue[0] is not first:
                        return []  # first was cancelled meanwhile: start over
            batch = self._take(first)
            self.metrics.queue_depth(len(self._queue))
            return batch

    def _fits(self, jobs):
        n = sum(len(j.inputs) for j in jobs)
        # padded cost: every row as long as the longest
        return n <= self.max_batch_size and n * max(j.tokens for j in jobs) <= self.max_batch_tokens

    def _full(self, first):
        jobs = [j for j in self._queue if j.key == first.key and not j.stream]
        return sum(len(j.inputs) for j in jobs) >= self.max_batch_size or not self._fits(jobs)

    def _take(self, first):
        """first, then the queued jobs with its model and options while the batch bounds allow (a stream
        goes alone)."""
        batch = [first]
        if not first.stream:
            for job in list(self._queue)[1:]:
                if job.key == first.key and not job.stream and self._fits(batch + [job]):
                    batch.append(job)
        for job in batch:
            self._queue.remove(job)
        return batch

    def _run_batch(self, batch):
        if batch[0].stream:
            self._open_stream(batch[0])
            return
        served = batch[0].served
        inputs = [x for job in batch for x in job.inputs]
        start = time.monotonic()
        try:
            outputs = served.predict(inputs, batch[0].options, batch_size=self.max_batch_size)
        except NlpkitError as e:
            if len(batch) == 1:
                batch[0].finish(error=e)
            else:  # one request's input failed the batch: run each alone, so only it gets the error
                for job in batch:
                    self._run_batch([job])
            return
        except Exception as e:  # noqa: BLE001 -- a bug answers 500 to its requests; the worker goes on
            for job in batch:
                job.finish(error=e)
            return
        self.metrics.batch(served.name, len(inputs), time.monotonic() - start)
        at = 0
        for job in batch:
            job.finish(outputs[at : at + len(job.inputs)])
            at += len(job.inputs)

    def _open_stream(self, job):
        try:
            pieces = iter(job.served.stream(job.inputs[0], job.options))
        except Exception as e:  # noqa: BLE001 -- answered as the stream's error (see app.py)
            job.finish(error=e)
            return
        job.finish(True)  # the handler starts sending events
        self._streams.append((job, pieces))

    def _advance_streams(self):
        """One piece of every open stream; a finished, failed or abandoned one is closed."""
        for job, pieces in list(self._streams):
            try:
                piece = None if job.cancelled else next(pieces, None)
            except Exception as e:  # noqa: BLE001
                piece = e
            if piece is None or isinstance(piece, Exception):
                self._streams.remove((job, pieces))
                getattr(pieces, "close", lambda: None)()
            job.emit(piece)

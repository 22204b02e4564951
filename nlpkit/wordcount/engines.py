"""Where chunks are counted. Three executors share one small interface (submit / wait / result / close,
plus `limit`, the number of chunks kept in flight so memory stays flat however large the corpus):

- InlineExecutor: in this process (-j 1), no start-up cost.
- ProcessExecutor: a pool of spawned processes; each loads the segmenter once, from the settings
  passed at start-up (user dictionary, HMM flag, stopwords), so every worker counts the same way.
- DaskExecutor: the same chunks as tasks on a Dask cluster (a scheduler address, or a LocalCluster).
"""
import concurrent.futures as cf
import logging
import multiprocessing
import os
import signal
import threading
import time

from ..errors import NlpkitError
from .counting import count_chunk


class InlineExecutor:
    limit = 1

    def __init__(self, settings):
        self.settings = settings
        settings.segmenter()

    def submit(self, spec):
        fut = cf.Future()
        try:
            fut.set_result(count_chunk(spec, self.settings))
        except Exception as e:  # delivered through result(), like the other executors
            fut.set_exception(e)
        return fut

    def wait(self, pending):
        return set(pending)

    def result(self, fut):
        return fut.result()

    def close(self, abort=False):
        pass


_worker_settings = None


def _init_worker(settings, parent):
    global _worker_settings
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    _worker_settings = settings
    settings.segmenter()  # load the dictionary once, before the first chunk


def _exit_with_parent(parent):
    """A killed parent (SIGTERM, SIGKILL, OOM) must not leave workers waiting forever on their queue."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)


def _count_in_worker(spec):
    return count_chunk(spec, _worker_settings)


class ProcessExecutor:
    def __init__(self, settings, workers):
        # spawn, not fork: safe with threads (tqdm, the caller's) and identical on every OS
        self.pool = cf.ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
            initargs=(settings, os.getpid()),
        )
        self.limit = 2 * workers

    def submit(self, spec):
        return self.pool.submit(_count_in_worker, spec)

    def wait(self, pending):
        return cf.wait(pending, return_when=cf.FIRST_COMPLETED).done

    def result(self, fut):
        try:
            return fut.result()
        except cf.process.BrokenProcessPool:
            raise NlpkitError("a wordcount worker process died (out of memory?); rerun with --resume") from None

    def close(self, abort=False):
        if abort:  # interrupted: chunks in progress are lost anyway (their files are recounted on --resume)
            if hasattr(self.pool, "terminate_workers"):  # Python >= 3.14
                self.pool.terminate_workers()
            else:
                for proc in list(getattr(self.pool, "_processes", {}).values()):
                    proc.terminate()
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    def __init__(self, settings, workers, scheduler=None):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise NlpkitError("--engine dask needs the optional extra: pip install 'nlpkit[dask]'") from None
        self.cluster = None
        try:
            if scheduler:
                self.client = Client(scheduler, timeout="20s")
            else:
                self.cluster = LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True,
                    dashboard_address=None, silence_logs=logging.WARNING,
                )
                self.client = Client(self.cluster)
        except (OSError, TimeoutError) as e:
            raise NlpkitError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
        # one copy of the settings per worker, not one per task (user dictionaries can be large)
        self.settings = self.client.scatter(settings, broadcast=True, hash=False)
        self.limit = max(2, 2 * sum(self.client.nthreads().values()))

    def submit(self, spec):
        return self.client.submit(count_chunk, spec, self.settings, pure=False)

    def wait(self, pending):
        from distributed import wait

        return wait(list(pending), return_when="FIRST_COMPLETED").done

    def result(self, fut):
        return fut.result()

    def close(self, abort=False):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make_executor(engine, settings, workers, scheduler=None):
    if engine == "dask":
        return DaskExecutor(settings, workers, scheduler)
    if engine != "local":
        raise NlpkitError(f"unknown engine {engine!r}: expected local or dask")
    if scheduler:
        raise NlpkitError("--scheduler only applies to --engine dask")
    return InlineExecutor(settings) if workers == 1 else ProcessExecutor(settings, workers)

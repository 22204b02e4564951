"""Prometheus text exposition, written by hand (the format is a few lines; no client library to install):
requests and errors by model, endpoint and status, request latency and batch size histograms, queue depth,
requests dropped by disconnected clients."""
import collections
import threading

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Histogram:
    def __init__(self, buckets):
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.sum, self.count = 0.0, 0

    def observe(self, value):
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1
        self.sum += value
        self.count += 1

    def lines(self, name, labels):
        out = [f"{name}_bucket{_labels({**labels, 'le': _num(b)})} {c}" for b, c in zip(self.buckets, self.counts)]
        out.append(f"{name}_bucket{_labels({**labels, 'le': '+Inf'})} {self.count}")
        return out + [f"{name}_sum{_labels(labels)} {_num(self.sum)}", f"{name}_count{_labels(labels)} {self.count}"]


class Metrics:
    def __init__(self):
        self._lock = threading.Lock()  # the worker thread and the event loop both record
        self.requests = collections.Counter()  # (model, endpoint, code) -> n
        self.errors = collections.Counter()  # (model, code) -> n
        self.drops = collections.Counter()  # model -> n
        self.latency = {}  # (model, endpoint) -> Histogram
        self.batches = {}  # model -> Histogram of inputs per batch
        self.batch_seconds = collections.Counter()
        self.depth = 0

    def request(self, model, endpoint, code, seconds):
        with self._lock:
            self.requests[(model, endpoint, str(code))] += 1
            if code >= 400:
                self.errors[(model, str(code))] += 1
            self.latency.setdefault((model, endpoint), Histogram(LATENCY_BUCKETS)).observe(seconds)

    def batch(self, model, size, seconds):
        with self._lock:
            self.batches.setdefault(model, Histogram(BATCH_BUCKETS)).observe(size)
            self.batch_seconds[model] += seconds

    def dropped(self, model):
        with self._lock:
            self.drops[model] += 1

    def queue_depth(self, n):
        self.depth = n

    def render(self):
        with self._lock:
            return "\n".join(self._lines()) + "\n"

    def _lines(self):
        out = _family("nlpkit_requests_total", "counter", "HTTP requests by model, endpoint and status code")
        out += [f"nlpkit_requests_total{_labels(dict(zip(('model', 'endpoint', 'code'), k)))} {n}"
                for k, n in sorted(self.requests.items())]
        out += _family("nlpkit_errors_total", "counter", "requests answered with a status >= 400")
        out += [f"nlpkit_errors_total{_labels({'model': m, 'code': c})} {n}" for (m, c), n in sorted(self.errors.items())]
        out += _family("nlpkit_request_seconds", "histogram", "time from request to answer")
        for (m, e), h in sorted(self.latency.items()):
            out += h.lines("nlpkit_request_seconds", {"model": m, "endpoint": e})
        out += _family("nlpkit_batch_size", "histogram", "inputs per batch run by the worker")
        for m, h in sorted(self.batches.items()):
            out += h.lines("nlpkit_batch_size", {"model": m})
        out += _family("nlpkit_batch_seconds_total", "counter", "worker time spent running batches")
        out += [f"nlpkit_batch_seconds_total{_labels({'model': m})} {_num(s)}" for m, s in sorted(self.batch_seconds.items())]
        out += _family("nlpkit_dropped_total", "counter", "queued requests dropped because their client disconnected")
        out += [f"nlpkit_dropped_total{_labels({'model': m})} {n}" for m, n in sorted(self.drops.items())]
        out += _family("nlpkit_queue_depth", "gauge", "requests waiting for the worker")
        return out + [f"nlpkit_queue_depth {self.depth}"]


def _family(name, kind, doc):
    return [f"# HELP {name} {doc}", f"# TYPE {name} {kind}"]


def _labels(labels):
    def esc(v):
        return str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in labels.items()) + "}"


def _num(x):
    return repr(float(x)) if isinstance(x, float) else str(x)

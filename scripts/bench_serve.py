"""A bounded load test of `nlpkit serve` on the loopback address only: a fixed number of requests (one text
each) at concurrency 1, 8 and 32, with dynamic batching on (the defaults) and off (--max-batch-size 1),
against calling pipeline() once per request in this process. It reports requests/s and p50/p95/p99
latency, checks that every request was answered exactly once (each answer equals pipeline()'s for its
text, and the server counted exactly the requests sent), overloads a small queue (503s, not timeouts),
and samples the server's RSS over a long run (memory must stay flat). It stops by itself.

    python scripts/bench_serve.py RUN_DIR [RUN_DIR ...] [--requests 512] [--long 10000] [--threads 2]

The texts are each run's own dev data (its first --texts records).
"""
import argparse
import concurrent.futures
import contextlib
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOST = "127.0.0.1"  # loopback only, by design


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="finished run directories (e.g. a classify and a ner run)")
    p.add_argument("--requests", type=int, default=512, help="requests per (setting, model, concurrency)")
    p.add_argument("--concurrency", default="1,8,32")
    p.add_argument("--long", type=int, default=10000, help="requests of the memory run (0: skip)")
    p.add_argument("--texts", type=int, default=500, help="distinct texts per model")
    p.add_argument("--threads", type=int, default=2, help="torch threads of the server and of pipeline()")
    p.add_argument("--baseline-requests", type=int, default=256, help="pipeline() calls per model")
    p.add_argument("--max-chars", type=int, default=0, help="cut each text to its first N characters (0: whole)")
    p.add_argument("--long-model", help="the served name of the model of the memory run (default: the first)")
    return p.parse_args()


# ---- the server -------------------------------------------------------------------------------------
class Server:
    def __init__(self, runs, threads, *flags):
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        self.proc = subprocess.Popen([sys.executable, "-m", "nlpkit", "serve", *runs, "--host", HOST, "--port", "0",
                                      *flags], stderr=self.log, stdout=subprocess.DEVNULL, env=env)
        self.port = self._port()

    def _port(self):
        while True:
            found = re.search(r"on http://127\.0\.0\.1:(\d+)/", Path(self.log.name).read_text())
            if found:
                return int(found.group(1))
            if self.proc.poll() is not None:
                sys.exit("the server did not start: " + Path(self.log.name).read_text())
            time.sleep(0.2)

    def rss_mb(self):
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024

    def served_requests(self, model):
        """Requests the server counted for `model` (every status), from /metrics."""
        _, text = request(self.port, "GET", "/metrics")
        return sum(int(n) for n in re.findall(rf'nlpkit_requests_total\{{model="{model}",endpoint="predict",'
                                              rf'code="\d+"\}} (\d+)', text))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=300)
        os.unlink(self.log.name)
        return code


def request(port, method, path, body=None, conn=None):
    own = conn is None
    conn = conn or http.client.HTTPConnection(HOST, port, timeout=300)
    conn.request(method, path, body=None if body is None else json.dumps(body, ensure_ascii=False).encode(),
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read().decode()
    if own:
        conn.close()
    return r.status, json.loads(data) if r.getheader("content-type", "").startswith("application/json") else data


# ---- load -------------------------------------------------------------------------------------------
def load(server, model, texts, expected, n, concurrency):
    """n requests from `concurrency` clients (keep-alive connections); latencies and a correctness tally."""
    import threading

    local = threading.local()

    def one(i):
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection(HOST, server.port, timeout=300)
        text = texts[i % len(texts)]
        start = time.perf_counter()
        status, body = request(server.port, "POST", f"/v1/models/{model}/predict", {"inputs": [text]}, local.conn)
        seconds = time.perf_counter() - start
        return status, seconds, status == 200 and match(body["outputs"], [expected[text]])

    before = server.served_requests(model)
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, range(n)))
    wall = time.perf_counter() - start
    counted = server.served_requests(model) - before
    ok = [r for r in results if r[0] == 200]
    return {"requests": n, "rps": len(ok) / wall, "latency": [r[1] for r in ok], "rejected": n - len(ok),
            "once": len(results) == n and counted == n, "equal": tally(r[2] for r in ok)}


def match(got, want):
    """"exact", "rounding" (numbers differ by at most one unit of the 6 digits kept), or "different"."""
    if got == want:
        return "exact"
    return "rounding" if _close(got, want) else "different"


def _close(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= 1.01e-6
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    return a == b


def tally(kinds):
    counts = {"exact": 0, "rounding": 0, "different": 0}
    for kind in kinds:
        counts[kind] += 1
    if counts["different"]:
        return f"NO: {counts['different']} differ"
    return "yes" + (f" ({counts['rounding']} by 1e-6 rounding)" if counts["rounding"] else "")


def percentiles(latencies):
    if len(latencies) < 2:
        return [float("nan")] * 3
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return [cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000]


def row(setting, model, concurrency, r):
    p50, p95, p99 = percentiles(r["latency"])
    return (f"| {setting} | {model} | {concurrency} | {r['requests']} | {r['rps']:.1f} | {p50:.1f} | {p95:.1f} | "
            f"{p99:.1f} | {r['rejected']} | {'yes' if r['once'] else 'NO'} | {r['equal']} |")


def baseline(pipes, texts, n):
    """pipeline() once per request, in this process: requests/s and latencies."""
    out = {}
    for model, pipe in pipes.items():
        latencies = []
        for i in range(n):
            start = time.perf_counter()
            pipe(texts[model][i % len(texts[model])])
            latencies.append(time.perf_counter() - start)
        out[model] = {"requests": n, "rps": n / sum(latencies), "latency": latencies, "rejected": 0,
                      "once": True, "equal": "(reference)"}
    return out


def memory_run(server, model, texts, expected, n, samples=10):
    """n requests at concurrency 32 in `samples` slices; the server's RSS after each (MB)."""
    rss, ok = [], True
    for _ in range(samples):
        r = load(server, model, texts, expected, n // samples, 32)
        ok &= r["once"] and r["rejected"] == 0 and not r["equal"].startswith("NO")
        rss.append(server.rss_mb())
    return rss, ok


def main():
    args = parse_args()
    import torch

    from nlpkit import pipeline
    from nlpkit.checkpoint import load_task

    torch.set_num_threads(args.threads)
    names = {run: Path(run).resolve().name for run in args.runs}
    pipes, texts, expected = {}, {}, {}
    for run, name in names.items():
        task = load_task(run)
        records = task.read_data(task.eval_data())[: args.texts]
        texts[name] = list(dict.fromkeys(r["text"][: args.max_chars or None] for r in records))
        pipes[name] = pipeline(task.name, model=run, device="cpu")
        expected[name] = dict(zip(texts[name], pipes[name](texts[name])))
    levels = [int(c) for c in args.concurrency.split(",")]
    print("| setting | model | concurrency | requests | req/s | p50 ms | p95 ms | p99 ms | 503s | answered once | "
          "equal to pipeline() |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for model, r in baseline(pipes, texts, args.baseline_requests).items():
        print(row("pipeline() per request", model, 1, r), flush=True)
    del pipes
    for setting, flags in (("serve, batching", []), ("serve, --max-batch-size 1", ["--max-batch-size", "1"])):
        with serving(args, *flags) as server:
            for model in texts:
                for c in levels:
                    print(row(setting, model, c, load(server, model, texts[model], expected[model], args.requests,
                                                      c)), flush=True)
    model = args.long_model or next(iter(texts))
    overload(args, model, texts, expected)
    if args.long:
        with serving(args) as server:
            rss, ok = memory_run(server, model, texts[model], expected[model], args.long)
        print(f"\nmemory, {args.long} requests to {model} at concurrency 32: server RSS (MB) after each tenth: "
              f"{', '.join(f'{x:.0f}' for x in rss)}; growth after the first tenth {rss[-1] - rss[0]:+.1f} MB; "
              f"every request answered once and equal: {'yes' if ok else 'NO'}")


def overload(args, model, texts, expected):
    """More clients than the queue holds: the excess is refused at once (503), the rest stay bounded."""
    with serving(args, "--max-queue", "8") as server:
        r = load(server, model, texts[model], expected[model], args.requests, 64)
        print(row("serve, --max-queue 8 (overload)", model, 64, r), flush=True)


@contextlib.contextmanager
def serving(args, *flags):
    """A server for the block; stopped (SIGTERM, which must exit 0) whatever happens in it."""
    server = Server(args.runs, args.threads, *flags)
    try:
        yield server
    finally:
        code = server.stop()
    if code != 0:
        sys.exit(f"the server exited {code} on SIGTERM")


if __name__ == "__main__":
    main()

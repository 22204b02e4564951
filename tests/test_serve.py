"""`nlpkit serve`: a real server on a free loopback port over tiny trained runs -- every endpoint and
status, answers equal to pipeline()'s under concurrent (batched) requests, streaming, the queue limit,
disconnects, the API key, graceful shutdown on SIGTERM, and the page in headless Chromium."""
import concurrent.futures
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/browser.py
pytest.importorskip("starlette", reason="the serve extra is not installed")
pytest.importorskip("uvicorn", reason="the serve extra is not installed")

from nlpkit import pipeline  # noqa: E402
from nlpkit.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["这家酒店很好，服务周到", "房间太差了", "早餐不错", "位置很方便，下次还来", "前台态度恶劣", "一般般吧",
         "我在北京见到了王小明", "上海的天气很好", "环境安静干净", "价格偏贵", "交通便利", "不推荐"]


# ---- the runs and the servers ------------------------------------------------------------------------
def train(out, task, *overrides):
    code = main(["train", f"task={task}", f"output_dir={out}", "trainer.progress=false", *overrides])
    assert code == 0
    return str(out)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve_runs")
    return {"classify": train(root / "classify", "classify", "trainer.max_steps=4"),
            "ner": train(root / "ner", "ner", "trainer.max_steps=4"),
            "seq2seq": train(root / "seq2seq", "seq2seq", "trainer.max_steps=3")}


class Server:
    """`nlpkit serve` in a subprocess on a free port; its stderr goes to a file the tests can read."""

    def __init__(self, tmp, *args):
        self.log = tmp / f"serve-{time.monotonic_ns()}.log"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "nlpkit", "serve", "--port", "0", *args],
                                         stderr=err, stdout=subprocess.DEVNULL, env=env, cwd=tmp)
        self.port = self._wait_for_port()

    def _wait_for_port(self):
        for _ in range(1200):
            found = re.search(r"serving .* on http://127\.0\.0\.1:(\d+)/", self.log.read_text())
            if found:
                return int(found.group(1))
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited {self.proc.returncode}: {self.log.read_text()}")
            time.sleep(0.5)
        raise AssertionError("the server did not start: " + self.log.read_text())

    def call(self, method, path, body=None, headers=None, raw=None):
        """(status, headers, JSON or text) of one request."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        data = raw if raw is not None else None if body is None else json.dumps(body, ensure_ascii=False).encode()
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        r = conn.getresponse()
        text = r.read().decode()
        conn.close()
        kind = r.getheader("content-type", "")
        return r.status, dict(r.getheaders()), json.loads(text) if kind.startswith("application/json") else text

    def predict(self, name, inputs, options=None, headers=None):
        return self.call("POST", f"/v1/models/{name}/predict", {"inputs": inputs, "options": options or {}}, headers)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=120)


@pytest.fixture(scope="module")
def server(runs, tmp_path_factory):
    """classify, ner and seq2seq; requests wait up to 200 ms for company, batches of at most 8."""
    s = Server(tmp_path_factory.mktemp("srv"), runs["classify"], runs["ner"], runs["seq2seq"],
               "--max-wait-ms", "200", "--max-batch-size", "8", "--max-body-bytes", "8192")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def slow_server(runs, tmp_path_factory):
    """classify behind an API key; a request waits 3 s for company and at most 3 wait: the queue fills."""
    tmp = tmp_path_factory.mktemp("slow")
    (tmp / "key.txt").write_text("s3cret-key\n")
    s = Server(tmp, runs["classify"], "--max-wait-ms", "3000", "--max-queue", "3", "--max-batch-size", "64",
               "--api-key-file", str(tmp / "key.txt"))
    yield s
    s.stop()


KEY = {"Authorization": "Bearer s3cret-key"}


@pytest.fixture(scope="module")
def pipes(runs):
    return {name: pipeline(name, model=runs[name], device="cpu") for name in runs}


def same(got, want):
    """Equal, but for classify's probabilities, kept to 6 digits: a batch of other lengths (other padding)
    can move one across a rounding boundary, in pipeline() itself too (pipe(texts) vs pipe(texts[:8]) + ...)."""
    if isinstance(got, float) and isinstance(want, float):
        return abs(got - want) <= 1.01e-6
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(same(got[k], want[k]) for k in got)
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(same(x, y) for x, y in zip(got, want))
    return got == want


def no_trace(body):
    assert "Traceback" not in json.dumps(body, ensure_ascii=False)


# ---- endpoints --------------------------------------------------------------------------------------
def test_health_models_and_page(server, pipes):
    status, _, body = server.call("GET", "/health")
    assert status == 200 and body["status"] == "ok" and body["models"] == ["classify", "ner", "seq2seq"]
    status, _, body = server.call("GET", "/v1/models")
    models = {m["name"]: m for m in body["models"]}
    assert status == 200 and set(models) == {"classify", "ner", "seq2seq"}
    assert models["classify"]["task"] == "classify" and models["classify"]["labels"] == pipes["classify"].task.labels
    threshold = next(o for o in models["classify"]["options"] if o["name"] == "threshold")
    assert threshold["default"] == pipes["classify"].task.cfg.threshold and "(0, 1)" in threshold["accepts"]
    assert models["ner"]["schema"]["types"] == pipes["ner"].task.state["types"]
    assert [m["stream"] for m in body["models"]] == [False, False, True]
    beam = next(o for o in models["seq2seq"]["options"] if o["name"] == "beam_size")
    assert beam["key"] == "decode.beam_size" and beam["default"] == pipes["seq2seq"].task.cfg.decode.beam_size
    status, _, one = server.call("GET", "/v1/models/ner")
    assert status == 200 and one == models["ner"]
    status, headers, page = server.call("GET", "/")
    assert status == 200 and headers["content-type"].startswith("text/html") and "/static/app.js" in page
    for name in ("app.js", "style.css"):
        assert server.call("GET", f"/static/{name}")[0] == 200
    assert server.call("GET", "/static/..%2F__init__.py")[0] == 404


def test_concurrent_requests_are_batched_and_equal_pipeline(server, pipes):
    """One text per request, 12 at a time, to two models: every answer equals pipeline()'s on all texts."""
    jobs = [(name, [t]) for t in TEXTS for name in ("classify", "ner")] + [("classify", TEXTS[:5])]
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda job: server.predict(*job), jobs))
    expected = {name: dict(zip(TEXTS, pipes[name](TEXTS))) for name in ("classify", "ner")}
    for (name, inputs), (status, _, body) in zip(jobs, answers):
        assert status == 200 and body["model"] == name
        assert same(body["outputs"], [expected[name][t] for t in inputs])
        if name == "ner":
            assert body["outputs"] == [expected[name][t] for t in inputs]
    metrics = server.call("GET", "/metrics")[2]
    count = int(re.search(r'nlpkit_batch_size_count\{model="classify"\} (\d+)', metrics).group(1))
    total = float(re.search(r'nlpkit_batch_size_sum\{model="classify"\} (\S+)', metrics).group(1))
    assert total >= len(TEXTS) + 5 and count < total  # some batch held several requests' inputs


def test_options_are_the_pipelines(server, pipes):
    status, _, body = server.predict("classify", TEXTS[:2], {"threshold": "0.3"})
    assert status == 200 and same(body["outputs"], pipes["classify"](TEXTS[:2], threshold="0.3"))
    status, _, body = server.predict("seq2seq", ["本文提出一种基于图神经网络的电力负荷预测方法。"], {"num_beams": 2})
    assert status == 200 and body["outputs"] == pipes["seq2seq"](["本文提出一种基于图神经网络的电力负荷预测方法。"], beam_size=2)


@pytest.mark.parametrize("options", [{"thresh": 0.3}, {"threshold": 2}, {"threshold": "abc"}])
def test_bad_option_is_422_with_the_pipelines_message(server, pipes, options):
    with pytest.raises(Exception) as raised:
        pipes["classify"]("好", **options)
    status, _, body = server.predict("classify", ["好"], options)
    assert status == 422 and body == {"error": str(raised.value)}


@pytest.mark.parametrize("path, raw, status, says", [
    ("/v1/models/classify/predict", b"{bad json", 400, "malformed JSON"),
    ("/v1/models/classify/predict", b"\xff\xfe", 400, "malformed JSON"),
    ("/v1/models/classify/predict", b'{"inputs": []}', 422, "non-empty list"),
    ("/v1/models/classify/predict", b'{"inputs": "text"}', 422, "non-empty list"),
    ("/v1/models/classify/predict", b'{"inputs": ["a"], "model": "/etc"}', 422, "unknown field"),
    ("/v1/models/classify/predict", b'{"inputs": [3]}', 422, "inputs[0]: classify: expected a string"),
    ("/v1/models/seq2seq/predict", b'{"inputs": [{"src": 5}]}', 422, "inputs[0]: input: expected a non-empty"),
    ("/v1/models/classify/predict", b'{"inputs": ["a"], "options": {"batch_size": 2}}', 422, "batches requests"),
    ("/v1/models/classify/predict", b'{"inputs": ["a"], "options": []}', 422, "JSON object"),
    ("/v1/models/classify/stream", b'{"inputs": ["a"]}', 422, "does not stream"),
    ("/v1/models/seq2seq/stream", b'{"inputs": ["a", "b"]}', 422, "one input"),
    ("/v1/models/../etc/predict", b'{"inputs": ["a"]}', 404, ""),
    ("/v1/models/nope/predict", b'{"inputs": ["a"]}', 404, "no model 'nope'; served: classify, ner, seq2seq"),
    ("/v1/models/classify/predict", json.dumps({"inputs": ["好" * 5000]}).encode(), 413, "over the limit"),
])
def test_bad_requests_get_a_status_and_one_line(server, path, raw, status, says):
    got, _, body = server.call("POST", path, raw=raw)
    assert got == status and says in body["error"] and "\n" not in body["error"]
    no_trace(body)


def test_wrong_method_and_path_are_json(server):
    status, _, body = server.call("GET", "/v1/models/classify/predict")
    assert status == 405 and body["error"]
    status, _, body = server.call("GET", "/nothing")
    assert status == 404 and body["error"]


def test_a_bad_input_in_a_batch_fails_only_its_request():
    """A batch that raises (an input the task refuses only when predicting) is rerun request by request."""
    import asyncio

    from nlpkit.errors import NlpkitError
    from nlpkit.serve.batching import Batcher, Job
    from nlpkit.serve.metrics import Metrics

    calls = []

    class Fake:
        name = "fake"

        def predict(self, inputs, options, batch_size=32):
            calls.append(list(inputs))
            if "bad" in inputs:
                raise NlpkitError("bad input")
            return [x.upper() for x in inputs]

    async def go():
        batcher = Batcher(Metrics(), max_batch_size=8, max_wait_ms=2000, max_queue=10)
        loop = asyncio.get_running_loop()
        jobs = [Job(Fake(), [x], {}, loop) for x in ("a", "bad", "c")]
        for job in jobs:  # queued before the worker starts: one batch
            batcher.submit(job)
        batcher.start()
        results = await asyncio.gather(*(j.future for j in jobs), return_exceptions=True)
        await loop.run_in_executor(None, batcher.close)
        return results

    results = asyncio.run(go())
    assert results[0] == ["A"] and str(results[1]) == "bad input" and results[2] == ["C"]
    assert calls == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]


# ---- streaming ----------------------------------------------------------------------------------------
def sse(server, name, body):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    conn.request("POST", f"/v1/models/{name}/stream", body=json.dumps(body).encode())
    r = conn.getresponse()
    assert r.status == 200 and r.getheader("content-type").startswith("text/event-stream")
    events = []
    for block in r.read().decode().split("\n\n"):
        if block.strip():
            kind = re.search(r"^event: (\S+)", block, re.M)
            events.append((kind.group(1) if kind else "message", json.loads(block.split("data: ", 1)[1])))
    conn.close()
    return events


def test_stream_equals_the_pipelines_stream(server, pipes):
    text = "本文提出一种基于图神经网络的电力负荷预测方法。"
    events = sse(server, "seq2seq", {"inputs": [text]})
    assert events[-1] == ("done", {}) and all(kind == "message" for kind, _ in events[:-1])
    assert [data["text"] for _, data in events[:-1]] == list(pipes["seq2seq"](text, stream=True))
    sampled = sse(server, "seq2seq", {"inputs": [text], "options": {"top_k": 5, "seed": 3}})
    assert "".join(d["text"] for _, d in sampled[:-1]) == "".join(pipes["seq2seq"](text, stream=True, top_k=5, seed=3))


def test_metrics_are_prometheus_text(server):
    server.predict("ner", ["上海"])
    status, headers, text = server.call("GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    assert re.search(r'^nlpkit_requests_total\{model="ner",endpoint="predict",code="200"\} \d+$', text, re.M)
    assert re.search(r'^nlpkit_errors_total\{model="classify",code="422"\} \d+$', text, re.M)
    assert re.search(r'^nlpkit_request_seconds_bucket\{model="ner",endpoint="predict",le="\+Inf"\} \d+$', text, re.M)
    assert re.search(r"^nlpkit_queue_depth 0$", text, re.M)
    assert "# TYPE nlpkit_batch_size histogram" in text
    for line in text.splitlines():  # every sample line is `name{labels} number`
        assert line.startswith("#") or re.fullmatch(r'[a-z_]+(\{[^}]*\})? [0-9.e+-]+', line), line


# ---- the API key, the queue limit, disconnects, shutdown --------------------------------------------
def test_api_key(slow_server):
    assert slow_server.call("GET", "/v1/models")[0] == 401
    status, headers, body = slow_server.predict("classify", ["好"], headers={"Authorization": "Bearer wrong"})
    assert status == 401 and headers["www-authenticate"] == "Bearer" and "API key" in body["error"]
    assert slow_server.call("GET", "/metrics")[0] == 401
    assert slow_server.call("GET", "/health")[0] == 200  # probes and the page need no key
    assert slow_server.call("GET", "/")[0] == 200
    assert slow_server.call("GET", "/v1/models", headers=KEY)[0] == 200
    status, _, body = slow_server.predict("classify", ["好"], headers=KEY)
    assert status == 200 and len(body["outputs"]) == 1


def test_full_queue_is_503_with_retry_after(slow_server, pipes):
    """Requests wait 3 s for company and 3 may wait: of 7 sent at once, 3 are answered and the rest are
    503 with Retry-After; each is answered exactly once."""
    with concurrent.futures.ThreadPoolExecutor(7) as pool:
        answers = list(pool.map(lambda t: slow_server.predict("classify", [t], headers=KEY), TEXTS[:7]))
    codes = sorted(a[0] for a in answers)
    assert codes.count(200) >= 3 and codes.count(503) >= 1 and set(codes) == {200, 503}
    for (status, headers, body), text in zip(answers, TEXTS):
        if status == 503:
            assert headers["retry-after"] == "1" and "queue is full" in body["error"]
        else:
            assert same(body["outputs"], pipes["classify"]([text]))


def _queue_depth(server):
    return server.call("GET", "/health")[2]["queue"]


def _send_and_close(server, body):
    sock = socket.create_connection(("127.0.0.1", server.port))
    data = json.dumps(body).encode()
    sock.sendall(b"POST /v1/models/classify/predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret-key\r\n"
                 b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(data), data))
    return sock


def _wait_until(check):
    for _ in range(600):
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition never held")


def test_a_disconnected_client_is_dropped_from_the_queue(slow_server):
    sock = _send_and_close(slow_server, {"inputs": ["好"]})
    _wait_until(lambda: _queue_depth(slow_server) == 1)
    sock.close()  # before its 3 s are up
    _wait_until(lambda: _queue_depth(slow_server) == 0)
    metrics = slow_server.call("GET", "/metrics", headers=KEY)[2]
    assert re.search(r'^nlpkit_dropped_total\{model="classify"\} [1-9]', metrics, re.M)


def test_sigterm_answers_in_flight_requests_and_exits_0(runs, tmp_path, pipes):
    s = Server(tmp_path, runs["classify"], "--max-wait-ms", "3000")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        pending = [pool.submit(s.predict, "classify", [t]) for t in TEXTS[:2]]
        _wait_until(lambda: _queue_depth(s) == 2)
        s.proc.send_signal(signal.SIGTERM)
        answers = [p.result() for p in pending]
    assert s.proc.wait(timeout=120) == 0
    assert same([a[2]["outputs"] for a in answers], [pipes["classify"]([t]) for t in TEXTS[:2]])
    with pytest.raises(OSError):  # it no longer accepts
        socket.create_connection(("127.0.0.1", s.port), timeout=5)
    assert "server stopped" in s.log.read_text() and "Traceback" not in s.log.read_text()


# ---- the command line ---------------------------------------------------------------------------------
def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "nothing")]) == 2
    assert main(["serve", str(tmp_path), "--max-batch-size", "0"]) == 2
    assert main(["serve"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("nlpkit: error: ") for line in lines)
    assert "--max-batch-size" in lines[1] and "RUN_DIR" in lines[2]


def test_without_the_extra_serve_says_what_to_install_and_the_core_never_imports_it(tmp_path):
    code = ("import sys; sys.modules['starlette'] = None; from nlpkit.cli import main; "
            "import nlpkit.pipelines; assert 'uvicorn' not in sys.modules; sys.exit(main(['serve', 'x']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip() == ('nlpkit: error: nlpkit serve needs the serve extra: '
                                                      'pip install -e ".[serve]" (Starlette and uvicorn)')


def test_requests_cannot_name_files():
    from types import SimpleNamespace

    from nlpkit.errors import NlpkitError
    from nlpkit.serve.models import Served

    served = Served("m", SimpleNamespace(file_options=("tables",), name="t"), pipe=None)
    with pytest.raises(NlpkitError, match="names a file"):
        served.check({"inputs": ["q"], "options": {"tables": "/etc/passwd"}})


# ---- the page in a real browser -----------------------------------------------------------------------
@pytest.fixture
def browser(tmp_path):
    from browser import Browser

    b = Browser(tmp_path / "profile")
    yield b
    b.close()


def show(browser, server, query):
    """The page's DOM once it has answered `query` (?autorun=1 makes the page run it on load)."""
    session = browser.open(f"http://127.0.0.1:{server.port}/?{query}&autorun=1")
    return session, browser.dom(session)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium (apt-get install chromium; .ci/run installs it)")
def test_page_in_chromium(server, pipes, browser, tmp_path):
    from urllib.parse import quote

    text = "我在北京见到了王小明"
    _, dom = show(browser, server, f"model=ner&text={quote(text)}")
    assert 'id="error" class="error" hidden' in dom
    marked = re.findall(r'<mark title="([^"]+)"[^>]*>([^<]+)<span class="tag">', dom)
    assert marked == [(e["type"], e["text"]) for e in pipes["ner"](text)]
    session, dom = show(browser, server, f"model=classify&text={quote(TEXTS[0])}")
    expected = pipes["classify"](TEXTS[0])
    bars = re.findall(r'<span>([^<]+)</span><div><div class="bar[^"]*" style="width: ([0-9.]+)%;"></div></div>'
                      r'<span>([0-9.]+)</span>', dom)
    assert [(label, float(p)) for label, _, p in bars] == sorted(
        ((k, round(v, 4)) for k, v in expected["scores"].items()), key=lambda x: -x[1])
    browser.screenshot(session, tmp_path / "classify.png")
    assert (tmp_path / "classify.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    source = "本文研究了迁移学习的应用。"
    _, dom = show(browser, server, "model=seq2seq&text=" + quote(source))
    generated = re.search(r'<div class="generated" id="generated">([^<]*)</div>', dom).group(1)
    assert generated == "".join(pipes["seq2seq"](source, stream=True))
    _, dom = show(browser, server, "model=classify&text=x&options=" + quote('{"thresh": 1}'))
    assert re.search(r'<div id="error" class="error">422: unknown option \'thresh\'', dom)

"""The ASGI app (Starlette): JSON endpoints over the served runs, Server-Sent Events for generating tasks,
Prometheus metrics and the page at `/`. Every error is a status and one line `{"error": "..."}`, never
a stack trace; requests name models from the server's own list, never a file."""
import asyncio
import contextlib
import hmac
import json
import sys
import time
import traceback
from importlib import resources

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from ..errors import NlpkitError
from .batching import Batcher, Job, QueueFull
from .metrics import Metrics

STATIC = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "style.css": "text/css; charset=utf-8"}


class HttpError(Exception):
    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class Settings:
    def __init__(self, max_batch_size=32, max_batch_tokens=16384, max_wait_ms=5.0, max_queue=256,
                 max_body_bytes=1 << 20, api_key=None):
        self.max_batch_size, self.max_batch_tokens = max_batch_size, max_batch_tokens
        self.max_wait_ms, self.max_queue = max_wait_ms, max_queue
        self.max_body_bytes, self.api_key = max_body_bytes, api_key


def build_app(served, settings):
    """The app over `served` (a list of serve.models.Served, names unique)."""
    models = {s.name: s for s in served}
    metrics = Metrics()
    batcher = Batcher(metrics, settings.max_batch_size, settings.max_batch_tokens, settings.max_wait_ms,
                      settings.max_queue)
    api = _Api(models, metrics, batcher, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        batcher.start()
        yield
        # uvicorn has stopped accepting and answered what was in flight; the worker finishes the rest
        await asyncio.get_running_loop().run_in_executor(None, batcher.close)

    routes = [Route("/", api.page), Route("/static/{name}", api.static), Route("/health", api.health),
              Route("/metrics", api.metrics_text), Route("/v1/models", api.list_models),
              Route("/v1/models/{name}", api.one_model),
              Route("/v1/models/{name}/predict", api.predict, methods=["POST"]),
              Route("/v1/models/{name}/stream", api.stream, methods=["POST"])]
    handlers = {HTTPException: _http_exception, HttpError: _http_error, Exception: _internal_error}
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    app.state.batcher, app.state.metrics = batcher, metrics
    return app


async def _http_exception(request, exc):  # Starlette's own 404 / 405, as JSON
    return JSONResponse({"error": exc.detail}, exc.status_code, headers=getattr(exc, "headers", None))


async def _http_error(request, exc):
    return JSONResponse({"error": exc.message}, exc.status, headers=exc.headers)


async def _internal_error(request, exc):
    traceback.print_exception(exc, file=sys.stderr)  # for the operator; the client gets one line
    return JSONResponse({"error": f"internal error ({type(exc).__name__})"}, 500)


class _Api:
    def __init__(self, models, metrics, batcher, settings):
        self.models, self.metrics, self.batcher, self.settings = models, metrics, batcher, settings

    # ---- pages and probes --------------------------------------------------------------------------
    async def page(self, request):
        return await self.static(request, "index.html")

    async def static(self, request, name=None):
        name = name or request.path_params["name"]
        if name not in STATIC:  # a fixed list: no path from the request reaches the file system
            raise HttpError(404, f"no such file: {name}")
        body = resources.files(__package__).joinpath("static", name).read_bytes()
        return Response(body, media_type=STATIC[name], headers={"Cache-Control": "no-cache"})

    async def health(self, request):
        return JSONResponse({"status": "ok", "models": sorted(self.models), "queue": self.batcher.depth()})

    async def metrics_text(self, request):
        self._authorize(request)
        return PlainTextResponse(self.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def list_models(self, request):
        self._authorize(request)
        return JSONResponse({"models": [m.describe() for m in self.models.values()]})

    async def one_model(self, request):
        self._authorize(request)
        return JSONResponse(self._model(request).describe())

    # ---- inference -------------------------------------------------------------------------------
    async def predict(self, request):
        start = time.monotonic()
        name, code = request.path_params["name"], 500
        try:
            served, inputs, options = await self._admit(request)
            job = Job(served, inputs, options, asyncio.get_running_loop())
            outputs = await self._wait(request, job)
            code = 200
            return JSONResponse({"model": served.name, "outputs": outputs})
        except HttpError as e:
            code = e.status
            raise
        finally:
            self.metrics.request(name if name in self.models else "(unknown)", "predict", code,
                                 time.monotonic() - start)

    async def stream(self, request):
        start = time.monotonic()
        name = request.path_params["name"]
        try:
            served, inputs, options = await self._admit(request, stream=True)
            job = Job(served, inputs, options, asyncio.get_running_loop(), stream=True)
            await self._wait(request, job)
        except HttpError as e:
            self.metrics.request(name if name in self.models else "(unknown)", "stream", e.status,
                                 time.monotonic() - start)
            raise
        return StreamingResponse(self._events(request, job, start), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def _events(self, request, job, start):
        """data: {"text": piece} per piece, then `event: done`; an error mid-stream is `event: error`."""
        watch = asyncio.ensure_future(_disconnect(request))
        watch.add_done_callback(lambda _: self.batcher.cancel(job))
        code = 200
        try:
            while True:
                piece = await job.pieces.get()
                if piece is None:
                    yield "event: done\ndata: {}\n\n"
                    return
                if isinstance(piece, Exception):
                    code = 422 if isinstance(piece, NlpkitError) else 500
                    yield f"event: error\ndata: {json.dumps({'error': _message(piece)}, ensure_ascii=False)}\n\n"
                    return
                yield f"data: {json.dumps({'text': piece}, ensure_ascii=False)}\n\n"
        finally:
            watch.cancel()
            self.batcher.cancel(job)  # the client went away mid-stream: the worker stops generating
            self.metrics.request(job.served.name, "stream", code, time.monotonic() - start)

    async def _admit(self, request, stream=False):
        """Check auth, model, body and options, in that order; returns (served, inputs, options)."""
        self._authorize(request)
        served = self._model(request)
        if stream and not served.streams:
            raise HttpError(422, f"task {served.task.name} does not stream its output; use /predict")
        body = await self._body(request)
        try:
            inputs, options = served.check(body)
        except NlpkitError as e:
            raise HttpError(422, str(e)) from None
        if stream and len(inputs) != 1:
            raise HttpError(422, "a stream takes one input: \"inputs\": [one text or record]")
        return served, inputs, options

    async def _wait(self, request, job):
        """Queue the job and wait for its answer; a client that disconnects first is dropped from the queue."""
        try:
            self.batcher.submit(job)
        except QueueFull as e:
            raise HttpError(503, str(e), {"Retry-After": "1"}) from None
        watch = asyncio.ensure_future(_disconnect(request))
        try:
            done, _ = await asyncio.wait({job.future, watch}, return_when=asyncio.FIRST_COMPLETED)
            if job.future not in done:
                self.batcher.cancel(job)
                raise HttpError(499, "client closed the request")
            return _result(job)
        finally:
            watch.cancel()

    # ---- checks ----------------------------------------------------------------------------------
    def _authorize(self, request):
        key = self.settings.api_key
        if key is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.encode()):
            raise HttpError(401, "missing or wrong API key (send Authorization: Bearer KEY)",
                            {"WWW-Authenticate": "Bearer"})

    def _model(self, request):
        name = request.path_params["name"]
        if name not in self.models:
            raise HttpError(404, f"no model '{name}'; served: {', '.join(sorted(self.models))}")
        return self.models[name]

    async def _body(self, request):
        limit = self.settings.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            raise _too_large(limit) if length.isdigit() else HttpError(400, "bad Content-Length")
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > limit:
                raise _too_large(limit)
        try:
            return json.loads(data)
        except (UnicodeDecodeError, ValueError) as e:
            raise HttpError(400, f"malformed JSON: {e}") from None


def _too_large(limit):
    return HttpError(413, f"request body over the limit of {limit} bytes (--max-body-bytes)")


def _result(job):
    """The job's outputs, or its error as a status: a bad input 422, anything else 500 (logged)."""
    error = job.future.exception()
    if error is None:
        return job.future.result()
    if isinstance(error, NlpkitError):
        raise HttpError(422, str(error))
    traceback.print_exception(error, file=sys.stderr)
    raise HttpError(500, f"internal error ({type(error).__name__})")


def _message(error):
    return str(error) if isinstance(error, NlpkitError) else f"internal error ({type(error).__name__})"


async def _disconnect(request):
    """Returns when the client disconnects (the body has been read, so receive() waits for that)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return

"""`nlpkit serve RUN_DIR [RUN_DIR ...]`: load the runs, bind (127.0.0.1 by default), serve until SIGTERM or
Ctrl-C, then stop accepting, answer what is in flight and exit 0."""
import re
import signal
import socket
import sys
from pathlib import Path

from ..errors import NlpkitError

#: names that fit a URL path segment as they are
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
USAGE = ("nlpkit serve RUN_DIR [RUN_DIR ...] [--host 127.0.0.1] [--port 8000] [device=...] [dtype=...] "
         "[--max-batch-size N] [--max-batch-tokens N] [--max-wait-ms MS] [--max-queue N] [--max-body-bytes N] "
         "[--api-key-file F]")


def _parser():
    from ..cli import Parser

    p = Parser(prog="nlpkit serve", usage=USAGE, description="Serve finished runs over HTTP (JSON, SSE, a page at /).")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="finished run directories; each is served under its "
                   "folder's name (NAME=RUN_DIR names it)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (0: any free one, printed)")
    p.add_argument("--max-batch-size", type=_at_least(1), default=32, help="inputs per batch (default 32)")
    p.add_argument("--max-batch-tokens", type=_at_least(1), default=16384,
                   help="inputs x longest input (characters) per batch (default 16384)")
    p.add_argument("--max-wait-ms", type=_non_negative, default=5.0,
                   help="how long a request waits for others to batch with (default 5)")
    p.add_argument("--max-queue", type=_at_least(1), default=256,
                   help="requests waiting at most; more are answered 503 with Retry-After (default 256)")
    p.add_argument("--max-body-bytes", type=_at_least(1), default=1 << 20, help="request body limit (default 1 MiB)")
    p.add_argument("--api-key-file", help="a file holding the key; requests must send Authorization: Bearer KEY")
    return p


def _at_least(low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise ValueError(text)
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def _non_negative(text):
    value = float(text)
    if not value >= 0:
        raise ValueError(text)
    return value


_non_negative.__name__ = "number >= 0"


def main(args):
    from ..cli import _split

    own, rest = _split(args, {"device", "dtype"})
    opts = _parser().parse_args(rest)
    settings = _settings(opts)
    served = _load(opts.runs, own.get("device", "auto"), own.get("dtype", "auto"))
    sock = _bind(opts.host, opts.port)
    return _run(served, settings, sock)


def _settings(opts):
    from .app import Settings

    return Settings(opts.max_batch_size, opts.max_batch_tokens, opts.max_wait_ms, opts.max_queue,
                    opts.max_body_bytes, _api_key(opts.api_key_file) if opts.api_key_file else None)


def _api_key(path):
    try:
        key = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise NlpkitError(f"--api-key-file {path}: {getattr(e, 'strerror', None) or e}") from None
    if not key or any(c.isspace() for c in key):
        raise NlpkitError(f"--api-key-file {path}: expected one key without spaces")
    return key


def _load(runs, device, dtype):
    from .models import Served

    served, seen = [], {}
    for spec in runs:
        name, _, run_dir = spec.partition("=") if "=" in spec else ("", "", spec)
        name = name or Path(run_dir).resolve().name
        if not NAME.fullmatch(name):
            raise NlpkitError(f"{spec}: model name '{name}' must be letters, digits, '.', '_', '-'; "
                              f"name it: NAME={run_dir}")
        model = Served.load(run_dir, device, dtype, name=name)
        if model.name in seen:
            raise NlpkitError(f"two runs named '{model.name}' ({seen[model.name]}, {run_dir}); "
                              f"name one: NAME={run_dir}")
        seen[model.name] = run_dir
        served.append(model)
    return served


def _bind(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say TCP, and without it a response's
    # headers and body (two writes) meet the client's delayed ACK: 40 ms a request
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise NlpkitError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.listen(2048)
    return sock


def _run(served, settings, sock):
    import uvicorn

    from .app import build_app

    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(build_app(served, settings), log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    names = ", ".join(f"{s.name} ({s.task.name})" for s in served)
    where = f"[{host}]" if ":" in host else host
    print(f"nlpkit: serving {names} on http://{where}:{port}/", file=sys.stderr, flush=True)
    # uvicorn re-raises the signal it shut down on after restoring the handlers it found: found handlers
    # that do nothing make a graceful SIGTERM (or Ctrl-C) exit 0
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server.run(sockets=[sock])
    print("nlpkit: server stopped", file=sys.stderr)
    return 0

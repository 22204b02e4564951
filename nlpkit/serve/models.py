"""The served runs: each a finished run directory behind its task's pipeline, described for GET /v1/models
and checked per request with the pipeline's own code (`sanitize`, `as_record`)."""
import json
from pathlib import Path

from omegaconf import OmegaConf

from ..config import accepts, schema_fields
from ..errors import NlpkitError
from ..pipelines import ALIASES, option_keys, sanitize
from ..task import Task

#: pipeline arguments that are the server's to choose, not a request's
SERVER_OPTIONS = {"batch_size": "the service batches requests itself",
                  "stream": "POST /v1/models/NAME/stream streams"}


class Served:
    def __init__(self, name, task, pipe):
        self.name, self.task, self.pipe = name, task, pipe
        self.streams = getattr(type(task), "stream", Task.stream) is not Task.stream  # the task generates text piece by piece
        self._checked = {}  # options (as JSON) -> (sanitized, error): sanitize copies and validates the whole config

    @classmethod
    def load(cls, run_dir, device="auto", dtype="auto", name=None):
        """A finished run, loaded as pipeline() loads it."""
        from ..checkpoint import load_task

        task = load_task(run_dir)
        model = task.place(task.load_run(run_dir), device, dtype)
        return cls(name or Path(run_dir).resolve().name, task, task.pipeline(model))

    # ---- requests -----------------------------------------------------------------------------
    def check(self, body):
        """A request body -> (inputs, options), or NlpkitError with the one line the CLI would print."""
        if not isinstance(body, dict):
            raise NlpkitError('expected a JSON object {"inputs": [...], "options": {...}}')
        unknown = sorted(set(body) - {"inputs", "options"})
        if unknown:
            raise NlpkitError(f"unknown field(s) {', '.join(unknown)}; a request has inputs and options")
        inputs, options = body.get("inputs"), body.get("options", {})
        if not isinstance(inputs, list) or not inputs:
            raise NlpkitError('"inputs" must be a non-empty list of inputs (texts or records)')
        if not isinstance(options, dict):
            raise NlpkitError('"options" must be a JSON object of per-call options')
        self._check_options(options)
        checked = self._sanitize(options)
        for i, item in enumerate(inputs):
            try:
                self.task.as_record(item, **checked)
            except NlpkitError as e:
                raise NlpkitError(f"inputs[{i}]: {e}") from None
            except (TypeError, ValueError, KeyError, AttributeError) as e:  # a JSON shape the task cannot read
                raise NlpkitError(f"inputs[{i}]: cannot read {json.dumps(item, ensure_ascii=False)[:80]}: {e}") from None
        return inputs, options

    def _sanitize(self, options):
        """sanitize(), remembered for the options requests repeat (it costs milliseconds on the event loop)."""
        key = json.dumps(options, sort_keys=True, ensure_ascii=False)
        hit = self._checked.get(key)
        if hit is None:
            try:
                hit = (sanitize(self.task, options), None)
            except NlpkitError as e:
                hit = (None, str(e))
            if len(self._checked) < 256:
                self._checked[key] = hit
        if hit[1] is not None:
            raise NlpkitError(hit[1])
        return hit[0]

    def _check_options(self, options):
        for given in options:
            name = ALIASES.get(given, given)
            if name in SERVER_OPTIONS:
                raise NlpkitError(f"option '{given}' is not taken per request: {SERVER_OPTIONS[name]}")
            if name in getattr(self.task, "file_options", ()):
                raise NlpkitError(f"option '{given}' names a file; a request cannot name files or folders "
                                  f"(the server uses its run's own)")

    def predict(self, inputs, options, batch_size=32):
        return self.pipe(list(inputs), batch_size=batch_size, **options)

    def stream(self, item, options):
        return self.pipe(item, stream=True, **options)

    # ---- GET /v1/models ---------------------------------------------------------------------------
    def describe(self):
        """Name, task, labels, what the run learnt (its task state), per-call options with defaults."""
        labels = _safe(lambda: list(self.task.labels or ())) or None  # Task.labels: None when the task has none
        return {"name": self.name, "task": self.task.name, "labels": labels, "schema": _json_small(self.task.state),
                "stream": self.streams, "options": self._options(), "extras": list(self.task.call_extras)}

    def _options(self):
        refused = set(getattr(self.task, "file_options", ()))
        kinds = {key: (kind, meta) for key, kind, _, meta in schema_fields(type(self.task).config_class)}
        out = []
        for name, key in sorted(option_keys(self.task).items()):
            if name in refused:
                continue
            kind, meta = kinds[key]
            default = OmegaConf.select(self.task.cfg, key)
            out.append({"name": name, "key": key, "default": _plain(default), "accepts": accepts(kind, meta),
                        "choices": list(meta["choices"]) if meta.get("choices") else None, "doc": meta.get("doc", "")})
        return out


def _plain(value):
    return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value


def _safe(get):
    try:
        return get()
    except (AttributeError, KeyError, NlpkitError):  # the task has no labels
        return None


def _json_small(state, limit=20000):
    """The JSON-serialisable facts of a run's state that are small enough to list (labels, predicates...)."""
    out = {}
    for key, value in state.items():
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            continue
        if len(text) <= limit:
            out[key] = value
    return out

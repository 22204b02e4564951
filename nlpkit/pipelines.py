"""`nlpkit.pipeline(name, model=DIR)`: a finished run as a Python callable.

Every per-call option is routed or rejected in one place (`sanitize`, the idea of transformers'
`_sanitize_parameters`): options are the keys of the task's `call_options` config sections, typed
and checked like config keys; the names transformers users type are accepted as aliases.
"""
import copy
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Dict, Union

from omegaconf import DictConfig, OmegaConf

from .checkpoint import load_task
from .config import accepts, schema_fields, set_value, unknown_key_message, validate
from .errors import NlpkitError
from .inference import call_batch_size

if TYPE_CHECKING:
    import torch

    from .task import Task

#: transformers' generate() names -> nlpkit's
ALIASES = {"num_beams": "beam_size", "n": "num_return_sequences"}


def option_keys(task: "Task") -> Dict[str, str]:
    """{option name: dotted config key} of the task's per-call options."""
    keys = {}
    for key, *_ in schema_fields(type(task).config_class):
        for allowed in task.call_options:
            if key == allowed or key.startswith(allowed + "."):
                keys[key.rsplit(".", 1)[-1]] = key
    return keys


def sanitize(task: "Task", options: Mapping[str, Any]) -> Dict[str, Any]:
    """Per-call options -> {name: typed value}; an unknown option or a bad value is one clear error."""
    keys = option_keys(task)
    cfg = copy.deepcopy(task.cfg)
    out = {}
    for given, value in options.items():
        name = ALIASES.get(given, given)
        if name in task.call_extras:
            out[name] = value
            continue
        if name not in keys:
            raise NlpkitError(unknown_option_message(task, given, keys))
        key = keys[name]
        if isinstance(value, str):
            set_value(cfg, key, value)
        else:
            _set_typed(cfg, key, value)
        out[name] = OmegaConf.select(cfg, key)
    validate(cfg, type(task).config_class)
    return {name: _plain(v) for name, v in out.items()}


def _set_typed(cfg: DictConfig, key: str, value: Any) -> None:
    from omegaconf.errors import OmegaConfBaseException

    try:
        OmegaConf.update(cfg, key, value, merge=False)
    except OmegaConfBaseException:  # the value does not fit the key's type
        kind, meta = next((t, m) for k, t, _, m in schema_fields(OmegaConf.get_type(cfg)) if k == key)
        raise NlpkitError(f"{key.rsplit('.', 1)[-1]}={value!r}: expected {accepts(kind, meta)}") from None


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value


def unknown_option_message(task: "Task", name: str, keys: Mapping[str, str]) -> str:
    valid = sorted(keys) + list(task.call_extras) + ["batch_size", "stream"]
    hint = unknown_key_message(name, valid).split(";")[1].split("see")[0].strip()
    return (f"unknown option '{name}' for task {task.name}; {hint + ' ' if hint else ''}"
            f"valid options: {', '.join(valid)}")


class Pipeline:
    """Call on one input (returns one result) or on many -- a list, tuple, generator or a `datasets`
    column (returns a list, predicted in batches; the results equal one-by-one calls)."""

    def __init__(self, task: "Task", model: "torch.nn.Module", **defaults: Any) -> None:
        self.task, self.model = task, model
        self.defaults = sanitize(task, defaults)

    def __call__(self, inputs: Union[str, dict, Iterable[Union[str, dict]]], batch_size: int = 32,
                 stream: bool = False, **options: Any) -> Any:
        """One input's prediction (a dict or a list, as the task's README shows), a list of them for
        many inputs, or with stream=True an iterator of the text as it is generated."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise NlpkitError(f"batch_size={batch_size!r}: expected an integer >= 1")
        options = {**self.defaults, **sanitize(self.task, options)}
        single = isinstance(inputs, (str, dict))
        if stream:
            if not single:
                raise NlpkitError("stream=True takes one input, not several")
            return self.task.stream(self.model, self.task.as_record(inputs, **options), **options)
        if not single and not isinstance(inputs, Iterable):
            raise NlpkitError(f"expected a string, a record or an iterable of them, got {type(inputs).__name__}")
        records = [self.task.as_record(x, **options) for x in ([inputs] if single else inputs)]
        with call_batch_size(self.task, batch_size):  # all at once: the core sorts them into batches by length
            results = self.task.predict(self.model, records, **options)
        return results[0] if single else results


def pipeline(task: str, model: str, device: Union[str, int] = "auto", dtype: str = "auto", **options: Any) -> Pipeline:
    """Load run directory `model` (trained for `task`) onto `device` ("auto": a GPU when there is one,
    "cpu", "cuda", "cuda:N" or an index) in `dtype` ("float32", "bfloat16", "float16"). `options` are
    per-call defaults (`beam_size=4`) or config keys in dotted form (`**{"decode.beam_size": 4}`)."""
    dotted = {k: v for k, v in options.items() if "." in k}
    t = load_task(model, [f"{k}={v}" for k, v in dotted.items()], expect_task=task)
    m = t.place(t.load_run(model), device, dtype)
    return t.pipeline(m, **{k: v for k, v in options.items() if "." not in k})

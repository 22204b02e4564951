"""Typed configuration: every key has a type, a default and a one-line doc (`nlpkit config task=NAME`).

A task declares its keys as a dataclass (fairseq style) built from `RunConfig` (every task) or
`BertRunConfig` (BERT fine-tunes: model, tiny, trainer). A run's config is, in order of precedence:
`key=value` overrides > a saved run's config > the task's profile for the chosen model (tiny or a
pretrained checkpoint) > the dataclass defaults. Values keep their type: a string key takes the text
as written (`trainer.mixed_precision=no` is "no"), a number key must parse as one, and every value
is checked against what its key accepts. Errors are one line naming the key; unknown keys get a
did-you-mean.

A task's config class also declares the shared keys the task does not read (`not_used`: setting one is
an error naming the key and the task) and the keys renamed since runs were saved (`renamed`: a saved
run's old key is read under its new name; the old name on the command line is an error naming the new).
"""
import copy
import dataclasses
import difflib
import math
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .errors import NlpkitError
from .model.arch import ARCHS


# ---- declaring keys ---------------------------------------------------------------------------
class Check(typing.NamedTuple):
    """A rule a value must meet, and how to say what the key accepts."""

    test: typing.Callable
    says: str


def at_least(low: float) -> Check:
    return Check(lambda v: v >= low, f">= {low}")


POSITIVE = Check(lambda v: v > 0, "> 0")
NON_NEGATIVE = at_least(0)
FRACTION = Check(lambda v: 0 <= v < 1, "in [0, 1)")
PROBABILITY = Check(lambda v: 0 < v <= 1, "in (0, 1]")
#: numpy's and torch's seeding take 32-bit seeds; a larger one crashes after the run has started
SEED = Check(lambda v: 0 <= v <= 2**32 - 1, "in [0, 2**32 - 1]")


def opt(default: Any, doc: str, check: Optional[Check] = None, choices: Optional[Tuple[str, ...]] = None) -> Any:
    """A config key: its default, a one-line doc, and optionally a Check or a tuple of choices."""
    meta = {"doc": doc, "check": check, "choices": choices}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return field(default=default, metadata=meta)


def section(cls: type, doc: str, **defaults: Any) -> Any:
    """A nested group of keys (its own dataclass), optionally with other defaults for some keys."""
    return field(default_factory=lambda: cls(**defaults), metadata={"doc": doc})


# ---- the keys every task has ------------------------------------------------------------------
@dataclass
class DataConfig:
    train: Optional[str] = opt(None, "training data (default: the task's bundled sample)")
    dev: Optional[str] = opt(None, "dev data, scored during training (default: the sample's, when training on it)")
    num_proc: int = opt(1, "processes that encode the data", at_least(1))
    cache: bool = opt(True, "keep encoded data in $NLPKIT_CACHE")
    columns: Dict[str, str] = opt({}, "task field -> column of a CSV/Parquet/JSON/datasets input, e.g. data.columns.text=review")


@dataclass
class RunConfig:
    #: shared keys this task does not read: dotted key -> what to use instead (setting one is an error)
    not_used: ClassVar[Dict[str, str]] = {}
    #: keys renamed since runs were saved: old dotted key -> its new name
    renamed: ClassVar[Dict[str, str]] = {}
    #: keys (or sections) read only in some runs: key -> (the key deciding, the values with which it is read)
    only_with: ClassVar[Dict[str, Tuple[str, tuple]]] = {}

    task: str = opt("", "the task (set by task=NAME)")
    output_dir: Optional[str] = opt(None, "run directory (default runs/<task>)")
    seed: int = opt(42, "random seed", SEED)
    resume: bool = opt(False, "continue the interrupted run in output_dir")
    overwrite: bool = opt(False, "replace a finished run in output_dir")
    eval_output: Optional[str] = opt(None, "evaluate also writes each gold record with its prediction here (JSONL)")
    data: DataConfig = section(DataConfig, "training and dev data")


@dataclass
class TinyConfig:
    architecture: str = opt("bert", "model_type of the tiny model (transformers' defaults for it, at the sizes below)",
                            choices=tuple(ARCHS))
    hidden_size: int = opt(128, "hidden size", at_least(1))
    num_hidden_layers: int = opt(2, "transformer layers", at_least(1))
    num_attention_heads: int = opt(2, "attention heads (must divide hidden_size)", at_least(1))
    intermediate_size: int = opt(512, "feed-forward size", at_least(1))
    max_position_embeddings: int = opt(512, "longest sequence", at_least(8))
    vocab_size: int = opt(8000, "largest vocabulary built from the training texts", at_least(200))
    hidden_dropout_prob: float = opt(0.1, "dropout on hidden states", FRACTION)
    attention_probs_dropout_prob: float = opt(0.1, "dropout on attention weights", FRACTION)


@dataclass
class JiebaConfig:
    """jieba's word segmentation, for the tasks that cut Chinese text into words (mlm, jose)."""

    hmm: bool = opt(True, "jieba finds new words with its HMM")
    user_dict: Optional[str] = opt(None, "jieba user dictionary file (`word [freq] [tag]` lines)")


#: accelerate's trackers (each needs its own package, e.g. tensorboard)
TRACKERS = ("all", "tensorboard", "wandb", "mlflow", "comet_ml", "aim", "clearml", "dvclive", "swanlab", "trackio")
SCHEDULES = ("linear", "cosine", "constant", "polynomial", "piecewise")


@dataclass
class TrainerConfig:
    epochs: int = opt(3, "passes over the training data", at_least(1))
    batch_size: int = opt(32, "examples per step and process", at_least(1))
    eval_batch_size: int = opt(64, "examples per batch when evaluating and predicting", at_least(1))
    lr: float = opt(5e-5, "peak learning rate (AdamW)", POSITIVE)
    weight_decay: float = opt(0.01, "AdamW weight decay (not on biases and LayerNorms)", NON_NEGATIVE)
    max_steps: Optional[int] = opt(None, "stop after this many optimizer steps (instead of epochs)", at_least(1))
    warmup: float = opt(0.1, "warmup: a fraction of the steps (< 1) or a step count (>= 1)", NON_NEGATIVE)
    schedule: str = opt("linear", "learning-rate decay after warmup", choices=SCHEDULES)
    schedule_points: Optional[List[List[float]]] = opt(None, "piecewise: [[fraction_of_training, lr_multiplier], ...]")
    grad_accum: int = opt(1, "batches per optimizer step", at_least(1))
    max_grad_norm: float = opt(1.0, "clip gradients to this norm (0 = off)", NON_NEGATIVE)
    ema: float = opt(0.0, "EMA decay of the weights (0 = off)", FRACTION)
    mixed_precision: Optional[str] = opt(None, "no | bf16 | fp16; null: what `accelerate launch` says, else no",
                                         choices=("no", "bf16", "fp16"))
    cpu: bool = opt(False, "train on the CPU even when a GPU is present")
    threads: Optional[int] = opt(None, "CPU threads torch uses per process (null: torch's default, one per core)",
                                 at_least(1))
    save_every_steps: Optional[int] = opt(None, "also save a resume point every N steps", at_least(1))
    group_by_length: bool = opt(True, "batch examples of similar length (less padding)")
    progress: bool = opt(True, "show progress bars")
    log_every_steps: int = opt(10, "write a log.jsonl line (loss, lr, grad norm, speed) every N steps", at_least(1))
    eval_every_steps: Optional[int] = opt(None, "also evaluate (and keep the best) every N steps, not only at epoch ends",
                                          at_least(1))
    log_with: Optional[str] = opt(None, "also log to an accelerate tracker (installed separately)", choices=TRACKERS)

    def __post_init__(self):
        # a NaN or negative multiplier trains (or saves) nonsense weights: refuse it before step 1
        for point in self.schedule_points or []:
            if not all(math.isfinite(v) for v in point) or (len(point) == 2 and point[1] < 0):
                raise NlpkitError(f"trainer.schedule_points: {list(point)}: expected [fraction, multiplier] with "
                                  "finite numbers and a multiplier >= 0")


@dataclass
class BertRunConfig(RunConfig):
    only_with = {"tiny": ("model", ("tiny",))}  # a checkpoint's own config.json sets its sizes

    model: str = opt("tiny", "tiny (a small random BERT, vocabulary built locally) or a local checkpoint folder")
    tiny: TinyConfig = section(TinyConfig, "the model=tiny architecture")
    trainer: TrainerConfig = section(TrainerConfig, "the training loop")

    def longest_sequence(self) -> Optional[Tuple[int, str]]:
        """(tokens, the keys that set it): the longest sequence the task feeds the model, or None."""
        n = getattr(self, "max_length", None)
        return None if n is None else (n, "max_length")


def check_tiny(cfg: BertRunConfig) -> None:
    """model=tiny: the architecture must be buildable and hold the task's sequences (else step 1 crashes)."""
    if cfg.model != "tiny":
        return
    t = cfg.tiny
    if t.hidden_size % t.num_attention_heads:
        raise NlpkitError(f"tiny.num_attention_heads={t.num_attention_heads}: expected a divisor of "
                          f"tiny.hidden_size ({t.hidden_size})")
    longest = cfg.longest_sequence()
    if longest and longest[0] > t.max_position_embeddings:
        raise NlpkitError(f"tiny.max_position_embeddings={t.max_position_embeddings}: expected >= {longest[0]}, "
                          f"the longest sequence the task makes ({longest[1]}); raise it or lower {longest[1]}")


@dataclass
class DecodeConfig:
    """Decoding settings of every generating task (the `decode` section; also per call)."""

    max_new_tokens: int = opt(32, "longest output, in tokens", at_least(1))
    min_new_tokens: int = opt(0, "shortest output, in tokens (end-of-text is banned before)", NON_NEGATIVE)
    beam_size: int = opt(1, "1 = greedy (or sampling with do_sample); > 1 = beam search", at_least(1))
    length_penalty: float = opt(1.0, "hypothesis score = logprob / length ** length_penalty")
    early_stopping: str = opt("best", "beam search stops when the best hypothesis ended (best) or beam_size have (all)",
                              choices=("best", "all"))
    no_repeat_ngram_size: int = opt(0, "ban repeating an n-gram of this size in the output (0 = off)", NON_NEGATIVE)
    do_sample: bool = opt(False, "sample instead of searching")
    temperature: float = opt(1.0, "sampling temperature", POSITIVE)
    top_k: int = opt(0, "sample among the k most likely tokens (0 = all)", NON_NEGATIVE)
    top_p: float = opt(1.0, "sample within this probability mass (nucleus)", PROBABILITY)
    repetition_penalty: float = opt(1.0, "CTRL-style penalty on tokens already generated (> 1 discourages repeats)",
                                    POSITIVE)
    num_return_sequences: int = opt(1, "n-best size for beam search (<= beam_size), samples when sampling",
                                    at_least(1))
    seed: Optional[int] = opt(None, "seed of the sampling RNG (null: torch's global RNG)", NON_NEGATIVE)

    def __post_init__(self):
        check_instance(self, "decode.")
        if self.min_new_tokens > self.max_new_tokens:
            raise NlpkitError(f"decode.min_new_tokens={self.min_new_tokens}: expected <= max_new_tokens ({self.max_new_tokens})")
        if self.do_sample and self.beam_size > 1:
            raise NlpkitError("decode: do_sample with beam_size > 1 is not supported (use one or the other)")
        if not self.do_sample and self.num_return_sequences > self.beam_size:
            raise NlpkitError(f"decode.num_return_sequences={self.num_return_sequences}: expected <= beam_size "
                              f"({self.beam_size}) without sampling")

    @classmethod
    def from_dict(cls, d: Optional[Mapping[str, Any]]) -> "DecodeConfig":
        """From a mapping (a config section plus per-call options); None values are ignored, `n` is
        num_return_sequences, an unknown key is an error."""
        d = {k: v for k, v in dict(d or {}).items() if v is not None}
        if "n" in d:
            d["num_return_sequences"] = d.pop("n")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise NlpkitError(f"decode: unknown option(s) {', '.join(unknown)}; valid: {', '.join(sorted(names))}")
        return cls(**d)


# ---- building a run's config ------------------------------------------------------------------
def build_config(task_cls: type, overrides: Iterable[str] = (), base: Optional[DictConfig] = None) -> DictConfig:
    """The typed config of a run of `task_cls`: defaults < profile < `base`
    (a saved run's config) < overrides."""
    schema_cls = task_cls.config_class
    pairs = [split_override(o) for o in overrides]
    for key, value in pairs:
        refuse_renamed(key, value, schema_cls)
    schema = OmegaConf.structured(schema_cls)
    model = next((v for k, v in reversed(pairs) if k == "model"), None)
    if base is not None:
        base = upgrade(base, schema_cls)
        if model is None:
            model = OmegaConf.select(base, "model", default=None)
    cfg = _merge(schema, task_cls.profile(model or "tiny"), "the task's profile")
    if base is not None:
        cfg = _merge(cfg, base, "the saved run config")
    cfg.task = task_cls.name
    for key, value in pairs:
        set_value(cfg, key, value)
    validate(cfg, schema_cls, [key for key, _ in pairs])
    return cfg


def _under(key: str, prefix: str) -> bool:
    return key == prefix or key.startswith(prefix + ".")


def refuse_renamed(key: str, value: str, schema_cls: type) -> None:
    """An old key name on the command line: one line naming the new one."""
    for old, new in declared(schema_cls, "renamed").items():
        if _under(key, old):
            raise NlpkitError(f"{key} is now called {new + key[len(old):]}: use {new + key[len(old):]}={value}")


def declared(schema_cls: type, name: str) -> dict:
    """A declaration (not_used, renamed, only_with) of a config class merged over its bases'."""
    out = {}
    for cls in reversed(schema_cls.__mro__):
        out.update(vars(cls).get(name, {}))
    return out


def refuse_not_used(cfg: DictConfig, schema_cls: type, set_keys: Sequence[str]) -> None:
    """A key set by `set_keys` (to other than its default) that the task, or this run of it, does not
    read: one line naming the key and what does apply."""
    defaults = OmegaConf.structured(schema_cls)
    changed = [k for k in set_keys
               if OmegaConf.select(cfg, k, default=None) != OmegaConf.select(defaults, k, default=None)]
    for key, instead in declared(schema_cls, "not_used").items():
        if any(_under(k, key) for k in changed):
            raise NlpkitError(f"{key} does not apply to {cfg.task}: {instead}")
    only_with = declared(schema_cls, "only_with")
    for key, (decider, values) in only_with.items():
        hit = next((k for k in changed if _under(k, key)), None)
        if hit is not None and OmegaConf.select(cfg, decider) not in values:
            raise NlpkitError(_not_read_here(cfg, hit, decider, values, only_with))


def _not_read_here(cfg: DictConfig, key: str, decider: str, values: tuple, only_with: dict) -> str:
    """'head_size=8: only head=global_pointer reads it; this run's head is crf (its keys: ...)'."""
    current = OmegaConf.select(cfg, decider)
    theirs = [k for k, (d, vs) in only_with.items() if d == decider and current in vs]
    return (f"{key}={_show(OmegaConf.select(cfg, key))}: only {decider}={'|'.join(map(_show, values))} reads it; "
            f"this run's {decider} is {_show(current)}" + (f" (its keys: {', '.join(theirs)})" if theirs else ""))


def upgrade(saved: DictConfig, schema_cls: type) -> DictConfig:
    """A saved run config (maybe written by an older nlpkit) as this one reads it: renamed keys under
    their new names, and the keys the task does not read dropped (their value never mattered)."""
    renamed = {old: new for old, new in declared(schema_cls, "renamed").items() if _has(saved, old)}
    unused = [key for key in declared(schema_cls, "not_used") if _has(saved, key)]
    if not renamed and not unused:
        return saved
    saved = copy.deepcopy(saved)
    for old, new in renamed.items():
        value = _pop(saved, old)
        if not _has(saved, new):
            OmegaConf.update(saved, new, value, merge=False)
    for key in unused:
        _pop(saved, key)
    return saved


def _has(cfg: DictConfig, key: str) -> bool:
    return OmegaConf.select(cfg, key, default=_ABSENT) is not _ABSENT


def _pop(cfg: DictConfig, key: str) -> Any:
    parent, _, leaf = key.rpartition(".")
    return (OmegaConf.select(cfg, parent) if parent else cfg).pop(leaf)


_ABSENT = object()


def _merge(cfg, extra, what):
    try:
        return OmegaConf.merge(cfg, extra)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or "?"
        raise NlpkitError(f"{what}: {key}: {_reason(e)}") from None


def split_override(item: str) -> Tuple[str, str]:
    if "=" not in item:
        raise NlpkitError(f"expected key=value, got '{item}'")
    key, value = item.split("=", 1)
    return key.strip(), value


def set_value(cfg: DictConfig, key: str, text: str) -> None:
    """Set `key` from its command-line text, parsed by the key's type."""
    kind = key_type(cfg, key)
    try:
        OmegaConf.update(cfg, key, parse_value(key, text, kind), merge=False)
    except OmegaConfBaseException as e:
        raise NlpkitError(f"{key}={text}: {_reason(e)}") from None


def key_type(cfg: DictConfig, key: str) -> Any:
    """The declared type of `key`; an unknown key is an error with a did-you-mean."""
    schema_cls = OmegaConf.get_type(cfg)
    parts = key.split(".")
    for i, part in enumerate(parts):
        hints = typing.get_type_hints(schema_cls) if dataclasses.is_dataclass(schema_cls) else {}
        if part not in hints:
            if typing.get_origin(schema_cls) is dict and i == len(parts) - 1:
                return typing.get_args(schema_cls)[1]
            raise NlpkitError(unknown_key_message(key, valid_keys(cfg), OmegaConf.select(cfg, "task", default=None)))
        schema_cls = _strip_optional(hints[part])
    if dataclasses.is_dataclass(schema_cls):
        raise NlpkitError(f"'{key}' is a group of keys; set one of them, e.g. {key}.{dataclasses.fields(schema_cls)[0].name}=...")
    return hints[parts[-1]]


def unknown_key_message(key: str, valid: Sequence[str], task: Optional[str] = None) -> str:
    close = difflib.get_close_matches(key, valid, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    return f"unknown config key '{key}'; {hint}see `nlpkit config task={task or 'NAME'}` for every key"


def _strip_optional(kind):
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    return args[0] if typing.get_origin(kind) is typing.Union and len(args) == 1 else kind


def _optional(kind):
    return typing.get_origin(kind) is typing.Union and type(None) in typing.get_args(kind)


def parse_value(key: str, text: str, kind: Any) -> Any:
    """A command-line value as the type `kind`: strings stay as written, numbers must be numbers."""
    base = _strip_optional(kind)
    if text.strip().lower() in ("null", "none", "~") and (_optional(kind) or base is Any):
        return None
    if base is str:
        return text
    if base is bool:
        word = text.strip().lower()
        if word in ("true", "yes", "on", "1"):
            return True
        if word in ("false", "no", "off", "0"):
            return False
        raise NlpkitError(f"{key}={text}: expected true or false")
    if base in (int, float):
        return _number(key, text, base)
    try:
        return yaml.safe_load(text) if text.strip() else text
    except yaml.YAMLError:
        raise NlpkitError(f"{key}={text}: expected {type_name(kind)} (YAML, e.g. [1, 2])") from None


def _number(key, text, base):
    try:
        value = int(text) if base is int else float(text)
    except ValueError:
        raise NlpkitError(f"{key}={text}: expected {type_name(base)}") from None
    if base is float and not math.isfinite(value):
        raise NlpkitError(f"{key}={text}: expected a finite number")
    return value


def type_name(kind: Any, check: Optional[Check] = None) -> str:
    base = _strip_optional(kind)
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    name = names.get(base) or getattr(base, "_name", None) or getattr(base, "__name__", str(base))
    name = {"List": "a list", "Dict": "a mapping"}.get(name, name)
    return name + (f" {check.says}" if check else "") + (" or null" if _optional(kind) else "")


def accepts(kind: Any, meta: Mapping[str, Any]) -> str:
    """What a key accepts, in words: 'an integer >= 1', 'one of: no, bf16, fp16'."""
    if meta.get("choices"):
        return "one of: " + ", ".join(meta["choices"]) + (" (or null)" if _optional(kind) else "")
    return type_name(kind, meta.get("check"))


def _reason(e):
    msg = str(e).splitlines()[0]
    return msg.replace("Value '", "'").strip()


# ---- checking and describing ------------------------------------------------------------------
def schema_fields(cls: type, prefix: str = "", instance: Any = None) -> Iterator[Tuple[str, Any, Any, Mapping]]:
    """(dotted key, type, default, metadata) of every key of a config dataclass, depth first."""
    hints = typing.get_type_hints(cls)
    instance = cls() if instance is None else instance
    for f in dataclasses.fields(cls):
        kind, default = hints[f.name], getattr(instance, f.name)
        if dataclasses.is_dataclass(default):
            yield from schema_fields(type(default), f"{prefix}{f.name}.", default)
        else:
            yield f"{prefix}{f.name}", kind, default, f.metadata


def validate(cfg: DictConfig, schema_cls: type, set_keys: Sequence[str] = ()) -> None:
    """Check every value against what its key accepts (choices and ranges), then that `set_keys` (the
    keys set on the command line) are read by the task, then the keys together."""
    for key, kind, _, meta in schema_fields(schema_cls):
        value = OmegaConf.select(cfg, key)
        if value is None:
            continue
        choices, check = meta.get("choices"), meta.get("check")
        if (choices and value not in choices) or (check and not check.test(value)):
            raise NlpkitError(f"{key}={value}: expected {accepts(kind, meta)}")
    refuse_not_used(cfg, schema_cls, set_keys)
    obj = OmegaConf.to_object(cfg)  # builds the dataclasses: their __post_init__ checks keys together
    if isinstance(obj, BertRunConfig):
        check_tiny(obj)


def check_instance(obj: Any, prefix: str = "") -> None:
    """validate() for a dataclass instance built in code rather than from a config."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value, kind = getattr(obj, f.name), hints[f.name]
        if value is None:
            continue
        base = _strip_optional(kind)
        if base in (int, float, bool, str) and not _fits(value, base):
            raise NlpkitError(f"{prefix}{f.name}={value!r}: expected {accepts(kind, f.metadata)}")
        choices, check = f.metadata.get("choices"), f.metadata.get("check")
        if (choices and value not in choices) or (check and not check.test(value)):
            raise NlpkitError(f"{prefix}{f.name}={value!r}: expected {accepts(kind, f.metadata)}")


def _fits(value, base):
    if base is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, base)


def valid_keys(cfg: DictConfig) -> List[str]:
    return [key for key, *_ in schema_fields(OmegaConf.get_type(cfg))]


def describe(task_cls: type, model: str = "tiny", overrides: Iterable[str] = ()) -> List[str]:
    """Lines `key  default  doc  [type]` for every key, defaults as resolved for `model` (the values a
    run uses); a key the task does not read says so and what to use instead."""
    cfg = build_config(task_cls, [f"model={model}", *overrides] if _has_model(task_cls) else list(overrides))
    unused = declared(task_cls.config_class, "not_used")
    rows = [(key, accepts(kind, meta), _show(OmegaConf.select(cfg, key)),
             f"not used by {task_cls.name} (refused): {unused[key]}" if key in unused else
             meta.get("doc", "") + _read_only_with(task_cls.config_class, key))
            for key, kind, _, meta in schema_fields(task_cls.config_class)]
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    return [f"{k:{width[0]}}  {v:{width[2]}}  {d}   [{t}]" for k, t, v, d in rows]


def _read_only_with(schema_cls: type, key: str) -> str:
    found = [(d, vs) for k, (d, vs) in declared(schema_cls, "only_with").items() if k == key]  # a section says so itself
    return "".join(f" (read only with {d}={'|'.join(map(_show, vs))})" for d, vs in found)


def _has_model(task_cls):
    return "model" in {f.name for f in dataclasses.fields(task_cls.config_class)}


def changes(cfg: DictConfig, task_cls: type) -> List[str]:
    """`key=value` lines for every key whose value differs from the dataclass default."""
    lines = []
    for key, _, default, _ in schema_fields(task_cls.config_class):
        value = OmegaConf.select(cfg, key)
        if OmegaConf.is_config(value):
            value = OmegaConf.to_container(value)
        if key != "task" and value != default:
            lines.append(f"{key}={_show(value)}")
    return lines


def _show(value):
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value)
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def to_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg)

"""The shared backbone: a tiny random encoder built locally, or a local Hugging Face checkpoint of any
architecture in nlpkit.model.arch (bert, ernie, roformer, electra, albert, deberta-v2), built by
transformers' Auto classes from config.json's model_type."""
import collections
import contextlib
import functools
import inspect
import json
import sys
from collections import OrderedDict
from pathlib import Path

from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, PretrainedConfig
from transformers.models.auto.modeling_auto import MODEL_MAPPING

from ..errors import NlpkitError
from .arch import arch_of
from .masks import additive

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")


def is_checkpoint(path):
    p = Path(path)
    return (p / "config.json").exists() and any((p / w).exists() for w in WEIGHT_FILES)


def backbone_config(source, tokenizer, tiny=None):
    """The transformers config for `source`: "tiny" (tiny.architecture, default bert), a checkpoint
    folder (its model_type), or an existing config."""
    if isinstance(source, PretrainedConfig):
        arch_of(source)
        return source
    if source == "tiny":
        cfg = dict(tiny or {})
        model_type = cfg.pop("architecture", "bert")
        cfg["vocab_size"] = len(tokenizer)
        extra = arch_of(model_type, "tiny.architecture").tiny
        return AutoConfig.for_model(model_type, pad_token_id=tokenizer.pad_id, **{**extra, **cfg})
    p = Path(str(source))
    if not p.is_dir():
        raise NlpkitError(f"model={source}: no such folder (use model=tiny or a local checkpoint folder)")
    if not is_checkpoint(p):
        raise NlpkitError(f"model={source}: not a checkpoint folder (needs config.json and model.safetensors or pytorch_model.bin)")
    return read_config(p, f"model={source}")


def read_config(folder, where):
    """AutoConfig of a folder whose config.json names a supported model_type (checked before transformers
    reads it, so an unknown type gets nlpkit's one-line error)."""
    path = Path(folder) / "config.json"
    try:
        model_type = json.loads(path.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError) as e:
        raise NlpkitError(f"{where}: cannot read config.json: {_first_line(e)}") from None
    if not model_type:
        raise NlpkitError(f"{where}: config.json names no model_type (add e.g. \"model_type\": \"bert\")")
    arch_of(model_type, where)
    try:
        config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    except Exception as e:
        raise NlpkitError(f"{where}: cannot read config.json: {_first_line(e)}") from None
    arch_of(config, where)  # the settings too
    return config


def _first_line(e):
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def load_backbone(source, tokenizer, lm_head=False, tiny=None):
    """Return (backbone, mlm_head or None).

    For a checkpoint folder the pretrained weights of both are loaded (offline); one without an MLM
    head (an ELECTRA discriminator) gets a new one, said in one line. For "tiny" or a config both are
    randomly initialised (a finished run's weights are loaded afterwards). The head is tied to the
    word embeddings as transformers ties it for the architecture.
    """
    config = backbone_config(source, tokenizer, tiny)
    auto = AutoModelForMaskedLM if lm_head else AutoModel
    kwargs = {} if lm_head else _no_pooler(config)
    if isinstance(source, PretrainedConfig) or source == "tiny":
        if len(tokenizer) > config.vocab_size:
            raise NlpkitError(f"model={source}: tokenizer has {len(tokenizer)} tokens, model only {config.vocab_size}")
        model = auto.from_config(config, **kwargs)
    else:
        model = _from_checkpoint(auto, source, config, kwargs)
        rows = model.get_input_embeddings().weight.shape[0]
        if len(tokenizer) != rows:  # another model's vocabulary: its ids would mean other tokens
            raise NlpkitError(f"model={source}: the vocabulary (vocab.txt / tokenizer.json) has {len(tokenizer)} "
                              f"tokens but the embedding matrix {rows} rows; they must be the same model's")
    return model.base_model, (mlm_head(model) if lm_head else None)


def _no_pooler(config):
    """BERT-like models build a pooler by default; nlpkit's heads never use it (nor do run dirs hold one)."""
    init = MODEL_MAPPING[type(config)].__init__
    return {"add_pooling_layer": False} if "add_pooling_layer" in inspect.signature(init).parameters else {}


def _from_checkpoint(auto, source, config, kwargs):
    """The pretrained model, loaded without transformers' load report and progress bar: what it held
    that nlpkit does not use (a pooler, an MLM head) is dropped silently, what it lacked is said in one
    line, and tensors of the wrong shape or a checkpoint none of whose backbone tensors fit are errors."""
    try:
        with quiet_transformers():
            model, info = auto.from_pretrained(str(source), config=config, local_files_only=True,
                                               output_loading_info=True, ignore_mismatched_sizes=True, **kwargs)
    except Exception as e:
        raise NlpkitError(f"model={source}: cannot load the checkpoint: {_first_line(e)}") from None
    _check_loaded(model, info, source)
    return model


@contextlib.contextmanager
def quiet_transformers():
    """transformers at error verbosity and without progress bars, restored afterwards."""
    from transformers.utils import logging

    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


def _check_loaded(model, info, source):
    if info["mismatched_keys"]:
        key, saved, built = sorted(info["mismatched_keys"])[0]
        raise NlpkitError(f"model={source}: {key} is {_shape(saved)} in the weights but {_shape(built)} by "
                          f"config.json ({len(info['mismatched_keys'])} tensor(s) disagree); the config is not the weights'")
    missing = set(info["missing_keys"])
    prefix = model.base_model_prefix + "."
    backbone = [k for k in model.state_dict() if k.startswith(prefix) or model.base_model is model]
    if backbone and all(k in missing for k in backbone):
        unexpected = sorted(info["unexpected_keys"])[:1]
        raise NlpkitError(f"model={source}: none of the weights' tensors is a {type(model.base_model).__name__} one "
                          f"(the weights hold e.g. {unexpected[0] if unexpected else 'nothing'})")
    if missing:
        print(f"nlpkit: model={source}: newly initialised, learnt in fine-tuning (not in the checkpoint): "
              f"{_parts(model, missing)}", file=sys.stderr)


def _parts(model, keys):
    """The modules the keys belong to, e.g. "MLM head (6 tensors)", "encoder.layer.3 (16 tensors)"."""
    head = {name for name, _ in _head_parts(model)} if model.base_model is not model else set()
    prefix = model.base_model_prefix + "."
    groups = collections.Counter()
    for key in keys:
        if key.split(".")[0] in head:
            groups["MLM head"] += 1
        else:
            groups[".".join(key.removeprefix(prefix).split(".")[:2])] += 1
    return ", ".join(f"{name} ({n} tensor{'s' * (n > 1)})" for name, n in sorted(groups.items()))


def _shape(shape):
    return "x".join(map(str, shape))


def mlm_head(model):
    """The MLM head of an AutoModelForMaskedLM model as one module: hidden states -> vocabulary logits."""
    parts = _head_parts(model)
    head = parts[0][1] if len(parts) == 1 else nn.Sequential(OrderedDict(parts))
    if len(inspect.signature(head.forward).parameters) == 2:  # deberta-v2's non-legacy head
        head = _HeadWithEmbeddings(head, model.get_input_embeddings())
    return head


def _head_parts(model):
    """(name, module) of what an MLM model holds beside its backbone, in the order it runs them: `cls`
    (bert, ernie, roformer, deberta-v2), `predictions` (albert), `lm_predictions` (deberta-v2, not
    legacy), `generator_predictions` + `generator_lm_head` (electra)."""
    return [(n, m) for n, m in model.named_children() if n != model.base_model_prefix]


class _HeadWithEmbeddings(nn.Module):
    """A head whose forward also takes the word embeddings it is tied to (DebertaV2OnlyMLMHead)."""

    def __init__(self, head, embeddings):
        super().__init__()
        self.head = head
        self._embeddings = [embeddings]  # a list: registered once, in the backbone

    def forward(self, hidden):
        return self.head(hidden, self._embeddings[0])


def run_bert(bert, input_ids, token_type_ids, mask, position_ids=None, inputs_embeds=None, cache=None):
    """Run the backbone with a boolean (B,1,Q,K) mask; returns the last hidden states. inputs_embeds
    (B,L,E) replaces the word embeddings of input_ids (pass input_ids=None), e.g. with features added;
    cache: a transformers Cache the new positions attend to and are appended to (incremental decoding;
    only where supports_cache(bert)). position_ids go to architectures that take them (roformer's
    rotary positions come from the sequence index)."""
    kwargs = dict(input_ids=input_ids, inputs_embeds=inputs_embeds, token_type_ids=token_type_ids)
    if position_ids is not None and _takes(type(bert), "position_ids"):
        kwargs["position_ids"] = position_ids
    if cache is not None:
        if not supports_cache(bert):
            raise NlpkitError(f"{bert.config.model_type}: transformers has no KV cache for it; decode without one")
        kwargs[_cache_keyword(type(bert))] = cache
    if arch_of(bert.config).mask == "bool":
        return _run_bool_mask(bert, mask, **kwargs)
    kwargs["attention_mask"] = additive(mask, bert.get_input_embeddings().weight.dtype)
    return bert(**kwargs).last_hidden_state


def _run_bool_mask(bert, mask, **kwargs):
    """deberta-v2: DebertaV2Model multiplies its embeddings by the attention mask, which only works for a
    2-D one, so the embeddings run without it (padded positions are masked as keys anyway) and the
    encoder gets the boolean 4-D mask, which its attention applies as masked_fill(~mask)."""
    hidden = bert.embeddings(**kwargs)
    return bert.encoder(hidden, mask).last_hidden_state


def supports_cache(bert):
    """Whether the architecture's forward takes a KV cache (albert and deberta-v2 do not in transformers 5)."""
    return _cache_keyword(type(bert)) is not None


@functools.cache
def _takes(bert_class, name):
    return name in inspect.signature(bert_class.forward).parameters


@functools.cache
def _cache_keyword(bert_class):
    """The cache argument's name: transformers 5.0 calls it `past_key_values`; later 5.x releases renamed
    it `cache` and warn on the old name (to be removed in 5.40); None: no cache."""
    return next((k for k in ("cache", "past_key_values") if _takes(bert_class, k)), None)

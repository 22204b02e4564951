"""The shared backbone: a tiny random BERT built locally, or any local Hugging Face BERT checkpoint."""
import functools
import inspect
from pathlib import Path

from transformers import BertConfig, BertModel
from transformers.models.bert.modeling_bert import BertOnlyMLMHead

from ..errors import NlpkitError
from .masks import additive

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")


def is_checkpoint(path):
    p = Path(path)
    return (p / "config.json").exists() and any((p / w).exists() for w in WEIGHT_FILES)


def backbone_config(source, tokenizer, tiny=None):
    """BertConfig for `source`: "tiny", a checkpoint folder, or an existing BertConfig."""
    if isinstance(source, BertConfig):
        return source
    if source == "tiny":
        cfg = dict(tiny or {})
        cfg["vocab_size"] = len(tokenizer)
        return BertConfig(pad_token_id=tokenizer.pad_id, **cfg)
    p = Path(str(source))
    if not p.is_dir():
        raise NlpkitError(f"model={source}: no such folder (use model=tiny or a local BERT checkpoint folder)")
    if not is_checkpoint(p):
        raise NlpkitError(f"model={source}: not a checkpoint folder (needs config.json and model.safetensors or pytorch_model.bin)")
    try:
        return BertConfig.from_pretrained(str(p), local_files_only=True)
    except Exception as e:
        raise NlpkitError(f"model={source}: cannot read config.json: {e}") from None


def load_backbone(source, tokenizer, lm_head=False, tiny=None):
    """Return (bert, mlm_head or None).

    For a checkpoint folder the pretrained weights of both are loaded (offline); for "tiny" or a
    BertConfig they are randomly initialised (a finished run's weights are loaded afterwards).
    """
    config = backbone_config(source, tokenizer, tiny)
    config._attn_implementation = getattr(config, "_attn_implementation", None) or "sdpa"
    if isinstance(source, BertConfig) or source == "tiny":
        torch_bert = BertModel(config, add_pooling_layer=False)
        head = BertOnlyMLMHead(config) if lm_head else None
    else:
        from transformers import BertForMaskedLM

        try:
            if lm_head:
                full = BertForMaskedLM.from_pretrained(str(source), local_files_only=True)
                torch_bert, head = full.bert, full.cls
            else:
                torch_bert = BertModel.from_pretrained(str(source), local_files_only=True, add_pooling_layer=False)
                head = None
        except Exception as e:
            raise NlpkitError(f"model={source}: cannot load the checkpoint: {e}") from None
    if len(tokenizer) > torch_bert.config.vocab_size:
        raise NlpkitError(f"model={source}: tokenizer has {len(tokenizer)} tokens, model only {torch_bert.config.vocab_size}")
    if head is not None:  # tied as in BERT, whichever way the head was built
        head.predictions.decoder.weight = torch_bert.embeddings.word_embeddings.weight
        head.predictions.decoder.bias = head.predictions.bias
    return torch_bert, head


def run_bert(bert, input_ids, token_type_ids, mask, position_ids=None, inputs_embeds=None, cache=None):
    """Run the backbone with a boolean (B,1,Q,K) mask; returns the last hidden states. inputs_embeds
    (B,L,H) replaces the word embeddings of input_ids (pass input_ids=None), e.g. with features added;
    cache: a transformers Cache the new positions attend to and are appended to (incremental decoding)."""
    extra = {_cache_keyword(type(bert)): cache} if cache is not None else {}
    return bert(
        input_ids=input_ids,
        inputs_embeds=inputs_embeds,
        token_type_ids=token_type_ids,
        position_ids=position_ids,
        attention_mask=additive(mask, bert.embeddings.word_embeddings.weight.dtype),
        **extra,
    ).last_hidden_state


@functools.cache
def _cache_keyword(bert_class):
    """The cache argument's name: transformers 5.0 calls it `past_key_values`; later 5.x releases renamed
    it `cache` and warn on the old name (to be removed in 5.40)."""
    return "cache" if "cache" in inspect.signature(bert_class.forward).parameters else "past_key_values"

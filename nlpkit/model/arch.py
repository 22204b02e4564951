"""The encoder architectures nlpkit runs, and the few ways in which they differ.

Everything else goes through transformers' Auto classes (AutoConfig, AutoModel,
AutoModelForMaskedLM), chosen by config.json's `model_type`. What is read from the model itself
rather than written here: whether it takes a KV cache and position_ids (its forward's signature),
whether it has a pooler (its __init__'s), its MLM head (what AutoModelForMaskedLM holds beside the
backbone) and how the head is tied (transformers ties it).
"""
from dataclasses import dataclass, field

from ..errors import NlpkitError


@dataclass(frozen=True)
class Arch:
    #: how the model takes a (B,1,Q,K) mask: "additive" (added to the attention scores) or "bool"
    #: (True = may attend; deberta-v2 calls mask.bool() and multiplies its embeddings by the mask)
    mask: str = "additive"
    #: LayerNorms that never see token states (Conditional LayerNorm leaves them alone)
    not_conditioned: tuple = ()
    #: model=tiny: config values beyond the sizes (what makes the architecture itself)
    tiny: dict = field(default_factory=dict)


ARCHS = {
    "bert": Arch(),
    "ernie": Arch(),
    # rotary positions from the sequence index (RoFormerModel takes no position_ids): attention scores
    # depend on offsets only, so a left-padded row equals itself unpadded (to rounding; not so with
    # rotary_value=true, which rotates the values by absolute position)
    "roformer": Arch(),
    # a discriminator checkpoint has no generator head: ElectraForMaskedLM initialises it
    "electra": Arch(),
    "albert": Arch(),
    # encoder.LayerNorm normalises the relative-position embeddings, shared by the whole batch.
    # tiny: relative attention as in DeBERTa-v3 (transformers' defaults are absolute positions only),
    # with token types as in BERT
    "deberta-v2": Arch(mask="bool", not_conditioned=("encoder.LayerNorm",), tiny=dict(
        relative_attention=True, position_biased_input=False, pos_att_type=["p2c", "c2p"], position_buckets=256,
        max_relative_positions=-1, norm_rel_ebd="layer_norm", share_att_key=True, type_vocab_size=2)),
}

#: model types transformers knows that look supported but are not, and why
REFUSED = {
    "roberta": "its byte-level BPE tokenizer (vocab.json + merges.txt) is not the WordPiece tokenizer nlpkit reads, "
               "and its position ids start after the padding id",
    "xlm-roberta": "its SentencePiece tokenizer is not the WordPiece tokenizer nlpkit reads, and its position ids "
                   "start after the padding id",
}


def supported():
    return ", ".join(ARCHS)


def arch_of(config_or_type, where="model"):
    """The Arch of a config (or a model_type); an unsupported type is one NlpkitError naming the supported ones."""
    model_type = getattr(config_or_type, "model_type", config_or_type)
    if model_type in ARCHS:
        check_config(config_or_type, where)
        return ARCHS[model_type]
    why = f" ({REFUSED[model_type]}; Chinese 'RoBERTa' checkpoints such as hfl/chinese-roberta-wwm-ext are " \
          "model_type bert)" if model_type in REFUSED else ""
    raise NlpkitError(f"{where}: model_type {model_type!r} is not supported{why}; nlpkit runs {supported()}")


def check_config(config, where):
    """Settings of a supported type that nlpkit cannot run correctly."""
    if getattr(config, "conv_kernel_size", 0) > 0:
        # deberta-v2's ConvLayer mixes neighbouring tokens (the future leaks through UniLM/causal masks)
        # and in transformers fails on any 4-D mask (`1 - mask` of a bool tensor)
        raise NlpkitError(f"{where}: deberta-v2 with conv_kernel_size={config.conv_kernel_size} is not supported "
                          "(its convolution over neighbouring tokens ignores attention masks)")

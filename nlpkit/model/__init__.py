"""Backbone loading, attention masks, Conditional LayerNorm, GlobalPointer.

Names are imported on first use, so that nlpkit.model.arch (the table of architectures, which the
typed config reads) loads without transformers."""
import importlib

_WHERE = {
    "load_backbone": "backbone", "backbone_config": "backbone", "is_checkpoint": "backbone", "run_bert": "backbone",
    "supports_cache": "backbone", "mlm_head": "backbone",
    "ConditionalLayerNorm": "cln", "apply_conditional_layernorm": "cln",
    "unilm_mask": "masks", "causal_mask": "masks", "padding_mask": "masks", "additive": "masks",
    "ARCHS": "arch", "arch_of": "arch", "BertLM": "lm",
    "GlobalPointer": "global_pointer", "EfficientGlobalPointer": "global_pointer",
    "multilabel_categorical_crossentropy": "global_pointer", "rope": "global_pointer", "MASKED": "global_pointer",
}
__all__ = list(_WHERE)


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)


def __dir__():
    return sorted(set(globals()) | set(__all__))

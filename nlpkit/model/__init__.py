"""Backbone loading, attention masks, Conditional LayerNorm."""
from .backbone import backbone_config, is_checkpoint, load_backbone, run_bert
from .cln import ConditionalLayerNorm, apply_conditional_layernorm
from .masks import additive, causal_mask, padding_mask, unilm_mask

__all__ = [
    "load_backbone", "backbone_config", "is_checkpoint", "run_bert",
    "ConditionalLayerNorm", "apply_conditional_layernorm",
    "unilm_mask", "causal_mask", "padding_mask", "additive",
]

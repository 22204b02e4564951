"""Conditional LayerNorm: (gamma + Wg c) * norm(x) + (beta + Wb c).

Wg and Wb start at zero, so a converted model computes exactly what the plain model computed and
fine-tuning starts from the pretrained weights. transformers' encoders call their LayerNorms with the
hidden states only, so the condition is set on the modules before the forward pass
(`with model_cln.condition(c)`). Any module that normalises over its last dimension with a weight,
a bias and an epsilon counts as a LayerNorm: torch's, and custom classes named *LayerNorm (e.g.
DebertaLayerNorm, whose epsilon is `variance_epsilon`).
"""
import contextlib

import torch
from torch import nn


class ConditionalLayerNorm(nn.Module):
    def __init__(self, layer_norm, cond_dim):
        super().__init__()
        hidden = layer_norm.weight.shape[-1]
        # the same parameter names as nn.LayerNorm, so pretrained weights and AutoModel still load
        self.weight, self.bias, self.eps = layer_norm.weight, layer_norm.bias, _eps(layer_norm)
        self.cond_gamma = nn.Linear(cond_dim, hidden, bias=False)
        self.cond_beta = nn.Linear(cond_dim, hidden, bias=False)
        nn.init.zeros_(self.cond_gamma.weight)
        nn.init.zeros_(self.cond_beta.weight)
        self.cond = None

    def forward(self, x):
        normed = nn.functional.layer_norm(x, self.weight.shape, None, None, self.eps)
        gamma, beta = self.weight, self.bias
        if self.cond is not None:
            c = self.cond
            if c.dim() == 2 and x.dim() == 3:  # one condition per sequence, broadcast over positions
                c = c[:, None, :]
            gamma = gamma + self.cond_gamma(c)
            beta = beta + self.cond_beta(c)
        return normed * gamma + beta


def _eps(layer_norm):
    return layer_norm.eps if hasattr(layer_norm, "eps") else layer_norm.variance_epsilon


def is_layer_norm(m):
    """What becomes a ConditionalLayerNorm: torch's LayerNorm with weight and bias, or a custom class
    named *LayerNorm with the same parameters (DebertaLayerNorm keeps its epsilon as variance_epsilon)."""
    if isinstance(m, nn.LayerNorm):
        return m.weight is not None and m.bias is not None
    named = type(m).__name__.endswith("LayerNorm") and not isinstance(m, ConditionalLayerNorm)
    affine = isinstance(getattr(m, "weight", None), nn.Parameter) and isinstance(getattr(m, "bias", None), nn.Parameter)
    return named and affine and (hasattr(m, "eps") or hasattr(m, "variance_epsilon"))


class Conditioner(nn.Module):
    """Holds the optional projection of the condition and feeds it to every ConditionalLayerNorm."""

    def __init__(self, cond_dim, hidden=None):
        super().__init__()
        self.proj = nn.Linear(cond_dim, hidden) if hidden else None
        self.layers = []  # plain list: the layers are registered in the backbone already

    def project(self, cond):
        return torch.tanh(self.proj(cond)) if self.proj is not None else cond

    @contextlib.contextmanager
    def condition(self, cond):
        """Run the wrapped model under condition `cond` of shape (B, cond_dim) or (B, L, cond_dim)."""
        projected = self.project(cond) if cond is not None else None
        for layer in self.layers:
            layer.cond = projected
        try:
            yield
        finally:
            for layer in self.layers:
                layer.cond = None


def apply_conditional_layernorm(module, cond_dim, hidden=None):
    """Turn every LayerNorm inside `module` into a ConditionalLayerNorm (in place); in a backbone, all
    that normalise token states (not deberta-v2's over its relative-position table, nlpkit.model.arch).
    A LayerNorm shared by several layers (albert) becomes one ConditionalLayerNorm.

    Returns the Conditioner; register it on the task model (e.g. `self.conditioner = ...`) so its
    projection is trained and saved."""
    conditioner = Conditioner(cond_dim, hidden)
    in_dim = hidden or cond_dim
    skip = _not_conditioned(module)
    targets = [(name, m) for name, m in module.named_modules() if is_layer_norm(m) and name not in skip]
    for name, ln in targets:
        parent = module.get_submodule(name.rsplit(".", 1)[0]) if "." in name else module
        cln = ConditionalLayerNorm(ln, in_dim)
        setattr(parent, name.rsplit(".", 1)[-1], cln)
        conditioner.layers.append(cln)
    if not targets:
        raise ValueError("no LayerNorm found to condition")
    return conditioner


def _not_conditioned(module):
    config = getattr(module, "config", None)
    if getattr(module, "base_model_prefix", None) is None or config is None:
        return ()  # not a transformers model: every LayerNorm
    from .arch import arch_of

    return arch_of(config).not_conditioned

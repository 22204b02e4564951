"""Conditional LayerNorm: (gamma + Wg c) * norm(x) + (beta + Wb c).

Wg and Wb start at zero, so a converted model computes exactly what the plain model computed and
fine-tuning starts from the pretrained weights. HF BERT calls its LayerNorms with the hidden states
only, so the condition is set on the modules before the forward pass (`with model_cln.condition(c)`).
"""
import contextlib

import torch
from torch import nn


class ConditionalLayerNorm(nn.Module):
    def __init__(self, layer_norm, cond_dim):
        super().__init__()
        hidden = layer_norm.normalized_shape[-1]
        # the same parameter names as nn.LayerNorm, so pretrained weights and AutoModel still load
        self.weight, self.bias, self.eps = layer_norm.weight, layer_norm.bias, layer_norm.eps
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
    """Turn every nn.LayerNorm inside `module` into a ConditionalLayerNorm (in place).

    Returns the Conditioner; register it on the task model (e.g. `self.conditioner = ...`) so its
    projection is trained and saved."""
    conditioner = Conditioner(cond_dim, hidden)
    in_dim = hidden or cond_dim
    targets = [(name, m) for name, m in module.named_modules() if isinstance(m, nn.LayerNorm)]
    for name, ln in targets:
        parent = module.get_submodule(name.rsplit(".", 1)[0]) if "." in name else module
        cln = ConditionalLayerNorm(ln, in_dim)
        setattr(parent, name.rsplit(".", 1)[-1], cln)
        conditioner.layers.append(cln)
    if not targets:
        raise ValueError("no LayerNorm found to condition")
    return conditioner

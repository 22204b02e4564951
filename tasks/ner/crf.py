"""A linear-chain CRF: log-likelihood by the forward algorithm, best path by Viterbi.

Masks are left-aligned (a sequence's valid positions come first); a sequence with no valid position
has log-likelihood 0 and an empty path.

`lr_multiplier` emulates a larger learning rate for the CRF's parameters (bert4keras'
crf_lr_multiplier) without a parameter group of its own: the stored parameter is the value divided
by the multiplier and the forward pass multiplies it back, while the gradient reaching the stored
parameter is the value's own (not multiplied). Adam's step on the stored parameter is then the step
it would take on the value, so the value moves `lr_multiplier` times as far -- what a parameter
group with lr * multiplier does -- and gradient clipping sees the same norm as without it.
"""
import torch
from torch import nn


def _scaled(param, multiplier):
    """param * multiplier in the forward pass; the gradient flows to param unscaled."""
    if multiplier == 1:
        return param
    return param + (param * (multiplier - 1)).detach()


class CRF(nn.Module):
    def __init__(self, num_tags, lr_multiplier=1.0):
        super().__init__()
        self.lr_multiplier = float(lr_multiplier)
        # stored divided by the multiplier: the values start in [-0.1, 0.1] whatever it is
        self.transitions = self._init(num_tags, num_tags)  # [from, to]
        self.start = self._init(num_tags)
        self.end = self._init(num_tags)

    def _init(self, *shape):
        return nn.Parameter(torch.empty(*shape).uniform_(-0.1, 0.1) / self.lr_multiplier)

    def parameters_scaled(self):
        """(transitions, start, end) as the model uses them."""
        m = self.lr_multiplier
        return _scaled(self.transitions, m), _scaled(self.start, m), _scaled(self.end, m)

    def log_likelihood(self, emissions, tags, mask):
        """emissions (B, L, T), tags (B, L) (any value where masked), mask (B, L) bool -> (B,)."""
        emissions = emissions.float()
        tags = tags.masked_fill(~mask, 0)
        return self._score(emissions, tags, mask) - self._log_partition(emissions, mask)

    def _score(self, emissions, tags, mask):
        trans, start, end = self.parameters_scaled()
        m = mask.float()
        emitted = emissions.gather(2, tags.unsqueeze(2)).squeeze(2) * m
        moved = trans[tags[:, :-1], tags[:, 1:]] * m[:, 1:]
        lengths = mask.sum(1)
        last = tags.gather(1, (lengths - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
        ends = (start[tags[:, 0]] + end[last]) * (lengths > 0).float()
        return emitted.sum(1) + moved.sum(1) + ends

    def _log_partition(self, emissions, mask):
        trans, start, end = self.parameters_scaled()
        alpha = start + emissions[:, 0]  # (B, T): log-sum of the paths ending in each tag
        for t in range(1, emissions.shape[1]):
            step = torch.logsumexp(alpha.unsqueeze(2) + trans + emissions[:, t].unsqueeze(1), dim=1)
            alpha = torch.where(mask[:, t : t + 1], step, alpha)
        return torch.logsumexp(alpha + end, dim=1) * (mask.sum(1) > 0).float()

    @torch.no_grad()
    def decode(self, emissions, mask):
        """The best tag path of each sequence: a list of lists of tag ids (as long as its mask)."""
        trans, start, end = self.parameters_scaled()
        emissions = emissions.float()
        score, history = start + emissions[:, 0], []
        for t in range(1, emissions.shape[1]):
            best, previous = (score.unsqueeze(2) + trans).max(dim=1)
            score = torch.where(mask[:, t : t + 1], best + emissions[:, t], score)
            history.append(previous)
        score = score + end
        paths = []
        for b, n in enumerate(mask.sum(1).tolist()):
            if n == 0:
                paths.append([])
                continue
            path = [int(score[b].argmax())]
            for t in range(n - 1, 0, -1):
                path.append(int(history[t - 1][b, path[-1]]))
            paths.append(path[::-1])
        return paths

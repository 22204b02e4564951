"""Autoregressive decoding shared by every generating task: exact KV cache, batched beam search,
sampling, constraints, per-step hooks and streaming.

Model contract: an nn.Module with `.bert` (a backbone of nlpkit.model: BertModel, ErnieModel, ...,
possibly with Conditional LayerNorm applied, its Conditioner at `.conditioner`) and `.cls` (its MLM
head: hidden states -> vocabulary logits).

API
---
``DecodeConfig(...)`` (defined in nlpkit.config, the `decode` section of a task's config)
    Decoding settings; ``DecodeConfig.from_dict(d)`` ignores None values and accepts ``n`` for
    ``num_return_sequences``; a bad value is an NlpkitError naming the option and what it accepts.
``decode_config(section, *layers, kind=DecodeConfig, skip=())``
    A task's decode section with per-call options and a request's own settings over it (later
    layers win, other keys skipped): the one place every generating task merges its settings.
``generate(model, prompts, config, *, mask="unilm", eos_id, pad_id, cond=None, allowed_tokens=None,
forced_prefix=None, use_cache=True, groups=None, step_logprobs=None) -> list[list[Hypothesis]]``
    ``prompts`` are lists of token ids. For ``mask="unilm"`` a prompt is ``[CLS] source [SEP]`` in
    segment 0 and generated tokens get segment 1; for ``mask="causal"`` everything is segment 0.
    Returns, per prompt, the n-best hypotheses of beam search (best first) or n samples (in the
    order drawn). ``Hypothesis.ids`` are the generated ids without eos, ``.score`` is
    ``logprob / length ** length_penalty`` (length counts the eos when the output ended with one).
    ``logprob`` is the sum of the model's log-probabilities of the chosen tokens, after the
    repetition penalty and before the hard restrictions (constraints, forced prefix, n-gram and
    min-length bans), which only decide which tokens may be chosen.
    ``cond``: a (B, cond_dim) tensor for Conditional LayerNorm models.
    ``allowed_tokens(prompt_index, generated_ids) -> list[int] | None`` restricts the next token
    (None = no restriction; include ``eos_id`` to let the output end there). An output for which
    no token is allowed ends there.
    ``forced_prefix``: ids every output starts with (or one list per prompt); they are part of
    ``Hypothesis.ids`` and of its score.
    ``use_cache=False`` recomputes the whole sequence at every step: the reference the cached path
    must equal (tests/test_generation.py, tests/test_backbones.py, scripts/bench_generation.py).
    Architectures without a KV cache in transformers (albert, deberta-v2) always recompute.
    ``step_logprobs(logprobs, rows) -> scores`` or ``(scores, keep)``: a per-step hook, as when
    bert4keras' AutoRegressiveDecoder.predict is overridden. It maps the (rows, vocab) next-token
    log-probs of the decoder rows (after the repetition penalty) to (hypotheses, vocab) scores, the
    log-probs that beam search then extends its hypotheses with (and that ``logprob`` sums); ``rows``
    is a StepRows. ``keep`` (rows,) bool lets rows leave the decoder; a hypothesis left without rows
    can only end (eos). With the hook, decoding is beam search (beam_size=1: greedy), not sampling.
    ``groups``: a group number per prompt (0, 1, ... without gaps; needs ``step_logprobs``). The
    prompts of a group are decoded as one output: a hypothesis of the group is one row per prompt,
    all continued with the same token, and the hook combines them (tasks/reading/decoding.py votes
    across the passages of a question). Results, ``allowed_tokens`` and ``forced_prefix`` are then
    per group instead of per prompt.
``stream(model, prompt, config, **the keywords of generate() but groups and step_logprobs)``
    Yields the new token ids of one prompt as they are chosen (greedy or sampling). Beam search
    cannot know its tokens before it ends, so with ``beam_size > 1`` the best hypothesis is
    yielded once the search is over.
``IncrementalDecoder(model, prompts, *, mask, pad_id, cond=None, use_cache=True)``
    The layer generate() is built on, for callers that choose tokens themselves: ``.logits()``
    gives the (rows, vocab) next-token logits, ``.step(tokens, reorder=None)`` first
    selects/reorders/duplicates rows (``reorder[i]`` = the current row that new row i continues)
    and then appends one token per row; ``.generated`` holds the tokens appended so far,
    ``.prompt_index`` the prompt of each row.
``LogitsRules(config, eos_id, ...)``
    The config's logits rules as transformers LogitsProcessors: the repetition penalty, the
    min-length and n-gram bans, and the sampling warpers (temperature, top-k, top-p).

The repetition penalty and the n-gram ban look at the generated tokens only (copying from the
source stays free): the processors are fed the generated ids, never the prompt. A seed makes a
call reproducible; the same prompt sampled in a different batch draws different samples (the RNG
is shared by the batch's rows).

How the cache stays exact: prompts are left-padded, padded keys are masked out and position ids
count valid tokens only, so a padded row computes what it computes alone. The prompt is run once
with its full mask (UniLM or causal) into a transformers DynamicCache; each step then runs only
the new tokens, whose mask row is "every valid key so far" -- which is exactly the last row of
both the UniLM mask (a target token sees the source and the earlier targets) and the causal mask.
"""
import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from transformers import DynamicCache
from transformers.generation.logits_process import (
    LogitsProcessorList,
    MinNewTokensLengthLogitsProcessor,
    NoRepeatNGramLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from .config import DecodeConfig
from .devices import eval_mode
from .errors import NlpkitError
from .model.backbone import run_bert, supports_cache
from .model.masks import causal_mask, unilm_mask

MASKS = ("unilm", "causal")


def decode_config(section: Any, *layers: Mapping, kind: type = DecodeConfig, skip: Iterable[str] = ()) -> DecodeConfig:
    """The decode settings of one call: a task's `decode` section (an OmegaConf node or a dict) with each
    layer of settings over it, later layers winning (per-call options, then a request's own). `skip`:
    the layers' keys that are not decode settings (a task's other options); any other unknown key is
    an error; None means "not set". `kind`: the task's DecodeConfig subclass."""
    from omegaconf import OmegaConf

    settings = OmegaConf.to_container(section) if OmegaConf.is_config(section) else dict(section)
    for layer in layers:
        settings.update({k: v for k, v in layer.items() if k not in skip and v is not None})
    return kind.from_dict(settings)


@dataclass
class Hypothesis:
    ids: list
    score: float
    logprob: float
    #: True when the output ended with eos (False: stopped by max_new_tokens, early stopping, or
    #: because no token was allowed)
    finished: bool = True


@dataclass
class StepRows:
    """What a step_logprobs hook is told about the decoder rows besides their log-probs."""

    #: (rows,) the prompt of each row
    prompt_index: torch.Tensor
    #: (rows,) the hypothesis each row continues (hypotheses are numbered from 0)
    hypothesis: torch.Tensor
    #: (hypotheses, step) the tokens each hypothesis has chosen so far
    generated: torch.Tensor


def _model_device_dtype(model):
    weight = model.bert.get_input_embeddings().weight
    return weight.device, weight.dtype


class IncrementalDecoder:
    """Rows of (left-padded prompt + generated tokens) and their next-token logits.

    With use_cache the keys/values of every layer are kept and a step runs only the new tokens;
    without it every step reruns the whole sequence (the reference). Put the model in eval mode
    first (generate() does): dropout would make the two differ."""

    def __init__(self, model, prompts, *, mask="unilm", pad_id=0, cond=None, use_cache=True):
        if mask not in MASKS:
            raise NlpkitError(f"mask must be one of {MASKS}, not {mask!r}")
        if not hasattr(model, "bert") or not hasattr(model, "cls"):
            raise NlpkitError("a generating model needs .bert (the backbone) and .cls (the MLM head)")
        prompts = _check_prompts(prompts, model.bert.config.vocab_size)
        self.model, self.mask = model, mask
        self.device, dtype = _model_device_dtype(model)
        self.new_type = 1 if mask == "unilm" else 0
        self.max_positions = model.bert.config.max_position_embeddings
        width = max(len(p) for p in prompts)
        if width > self.max_positions:
            raise NlpkitError(f"a prompt of {width} tokens is longer than the model's {self.max_positions} positions")
        rows = len(prompts)
        self.ids = torch.full((rows, width), pad_id, dtype=torch.long)
        self.valid = torch.zeros(rows, width, dtype=torch.bool)
        for i, p in enumerate(prompts):
            self.ids[i, width - len(p):] = torch.tensor(p, dtype=torch.long)
            self.valid[i, width - len(p):] = True
        self.ids, self.valid = self.ids.to(self.device), self.valid.to(self.device)
        self.types = torch.zeros_like(self.ids)
        self.lengths = self.valid.sum(1)  # valid tokens per row = position id of the next token
        self.prompt_index = torch.arange(rows, device=self.device)
        self.generated = torch.zeros(rows, 0, dtype=torch.long, device=self.device)
        self.cond = _rows_cond(model, cond, rows, self.device, dtype)
        self.cache = DynamicCache() if use_cache and supports_cache(model.bert) else None
        self._logits = self._run_full()

    @property
    def num_rows(self):
        return self.ids.shape[0]

    def logits(self):
        """(rows, vocab) float logits of the next token of every row."""
        return self._logits

    @torch.no_grad()
    def step(self, tokens, reorder=None):
        """Optionally select/reorder rows (`reorder[i]` = the current row new row i continues), then
        append `tokens` (one per resulting row) and compute the next logits."""
        if reorder is not None:
            reorder = torch.as_tensor(reorder, dtype=torch.long, device=self.device).view(-1)
            for name in ("ids", "valid", "types", "lengths", "prompt_index", "generated"):
                setattr(self, name, getattr(self, name)[reorder])
            if self.cond is not None:
                self.cond = self.cond[reorder]
            if self.cache is not None:
                self.cache.reorder_cache(reorder)
        tokens = torch.as_tensor(tokens, dtype=torch.long, device=self.device).view(-1)
        if tokens.shape[0] != self.num_rows:
            raise ValueError(f"step() got {tokens.shape[0]} tokens for {self.num_rows} rows")
        if self.num_rows and int(self.lengths.max()) >= self.max_positions:
            raise NlpkitError(f"the output reached the model's {self.max_positions} positions")
        positions = self.lengths.clone()
        new = torch.ones(self.num_rows, 1, dtype=torch.bool, device=self.device)
        self.ids = torch.cat([self.ids, tokens[:, None]], 1)
        self.valid = torch.cat([self.valid, new], 1)
        self.types = torch.cat([self.types, torch.full_like(tokens[:, None], self.new_type)], 1)
        self.generated = torch.cat([self.generated, tokens[:, None]], 1)
        self.lengths = self.lengths + 1
        if self.num_rows == 0:
            self._logits = self._logits[:0]
        elif self.cache is None:
            self._logits = self._run_full()
        else:
            # the new token sees every valid key: the last row of the UniLM and of the causal mask
            mask = self.valid[:, None, None, :]
            self._logits = self._run(tokens[:, None], self.types[:, -1:], positions[:, None], mask)

    def _run_full(self):
        """The whole sequence with its full mask (the prompt at start; every step without cache)."""
        positions = (torch.cumsum(self.valid.long(), 1) - 1).clamp(min=0)
        if self.mask == "unilm":
            mask = unilm_mask(self.types, self.valid)
        else:
            mask = causal_mask(self.valid)
        return self._run(self.ids, self.types, positions, mask)

    @torch.no_grad()
    def _run(self, ids, types, positions, mask):
        bert = self.model.bert
        conditioner = getattr(self.model, "conditioner", None)
        ctx = conditioner.condition(self.cond) if self.cond is not None else contextlib.nullcontext()
        with ctx:
            hidden = run_bert(bert, ids, types, mask, positions, cache=self.cache)
            return self.model.cls(hidden[:, -1]).float()


def _check_prompts(prompts, vocab_size):
    if not isinstance(prompts, (list, tuple)) or not prompts:
        raise NlpkitError("prompts must be a non-empty list of token id lists")
    out = []
    for i, p in enumerate(prompts):
        if isinstance(p, torch.Tensor):
            p = p.tolist()
        if not isinstance(p, (list, tuple)):
            raise NlpkitError(f"prompt {i} is not a list of token ids (pass a list of prompts, even for one)")
        if not p:
            raise NlpkitError(f"prompt {i} is empty (it needs at least [CLS])")
        if min(p) < 0 or max(p) >= vocab_size:
            raise NlpkitError(f"prompt {i} has token ids outside the model's vocabulary (0..{vocab_size - 1})")
        out.append([int(t) for t in p])
    return out


def _rows_cond(model, cond, rows, device, dtype):
    if cond is None:
        return None
    if getattr(model, "conditioner", None) is None:
        raise NlpkitError("cond was given but the model has no .conditioner (Conditional LayerNorm)")
    cond = torch.as_tensor(cond, device=device, dtype=dtype)
    if cond.dim() == 1:
        cond = cond[None]
    if cond.shape[0] != rows:
        raise NlpkitError(f"cond has {cond.shape[0]} rows for {rows} prompts")
    return cond


# ---- logits rules ---------------------------------------------------------------------------------


class LogitsRules:
    """A DecodeConfig's rules on the next-token logits, as transformers LogitsProcessors, plus the
    forced prefix and the allowed_tokens hook.

    The processors are given the generated ids only, not the prompt (see the module docstring).
    penalize(): the repetition penalty, which the hypothesis' logprob includes; restrict(): -inf for
    the tokens that may not come next, which only decides the choice; warp(): temperature, top-k,
    top-p, for sampling."""

    def __init__(self, config, eos_id, allowed_tokens=None, forced_prefix=None, num_outputs=1, device="cpu"):
        self.eos_id, self.hook = int(eos_id), allowed_tokens
        self.prefix = _prefixes(forced_prefix, num_outputs)
        penalty = float(config.repetition_penalty)
        self.penalty = RepetitionPenaltyLogitsProcessor(penalty) if penalty != 1.0 else None
        self.bans = LogitsProcessorList()
        if config.min_new_tokens:
            self.bans.append(MinNewTokensLengthLogitsProcessor(0, config.min_new_tokens, self.eos_id, device=device))
        if config.no_repeat_ngram_size:
            self.bans.append(NoRepeatNGramLogitsProcessor(config.no_repeat_ngram_size))
        self.warpers = LogitsProcessorList()
        if config.temperature != 1.0:
            self.warpers.append(TemperatureLogitsWarper(float(config.temperature)))
        if config.top_k:
            self.warpers.append(TopKLogitsWarper(config.top_k))
        if config.top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(config.top_p))

    def penalize(self, generated, logits):
        return self.penalty(generated, logits) if self.penalty is not None else logits

    def warp(self, generated, scores):
        return self.warpers(generated, scores)

    def restrict(self, index, generated, scores):
        """`scores` with -inf for the tokens row r may not choose next; index[r]: the row's output."""
        out = self.bans(generated, scores)
        step = generated.shape[1]
        if self.hook is None and all(len(p) <= step for p in self.prefix):
            return out
        out = out.clone()
        gen = generated.tolist()
        for r, i in enumerate(index.tolist()):
            prefix = self.prefix[i]
            if step < len(prefix):  # the forced prefix overrides every other rule
                out[r] = float("-inf")
                out[r, prefix[step]] = scores[r, prefix[step]]
                continue
            ok = self.hook(i, gen[r]) if self.hook is not None else None
            if ok is not None:
                banned = torch.ones(out.shape[1], dtype=torch.bool, device=out.device)
                banned[list(ok)] = False
                out[r] = out[r].masked_fill(banned, float("-inf"))
        return out


def _prefixes(forced_prefix, num_outputs):
    if forced_prefix is not None and len(forced_prefix) and isinstance(forced_prefix[0], (list, tuple)):
        if len(forced_prefix) != num_outputs:
            raise NlpkitError(f"forced_prefix has {len(forced_prefix)} lists for {num_outputs} outputs")
        return [list(p) for p in forced_prefix]
    return [list(forced_prefix or [])] * num_outputs


def _score(logprob, length, penalty):
    return logprob / (max(length, 1) ** penalty)


# ---- searches -------------------------------------------------------------------------------------


def _next_tokens(rules, index, generated, logits, logp, config, generator):
    """The next token of every row (greedy or sampled), and the rows for which no token is allowed."""
    allowed = rules.restrict(index, generated, logits if config.do_sample else logp)
    dead = torch.isinf(allowed).all(1)
    if not config.do_sample:
        return allowed.argmax(1), dead
    x = rules.warp(generated, allowed).clone()
    x[dead, rules.eos_id] = 0.0  # no token allowed: end
    return torch.multinomial(x.softmax(1), 1, generator=generator).view(-1), dead


def _row_search(dec, config, eos_id, rules, results, generator):
    """Greedy decoding or sampling: every row continues on its own until eos or max_new_tokens.

    A generator: yields (tokens, ended) per step for streaming; finished outputs go to
    results[prompt] in row order."""
    n = config.num_return_sequences if config.do_sample else 1
    logprob = torch.zeros(dec.num_rows * n, device=dec.device)
    expand = torch.arange(dec.num_rows, device=dec.device).repeat_interleave(n) if n > 1 else None
    slots = torch.arange(dec.num_rows * n).tolist()  # output slot of each live row, to keep sample order
    for step in range(config.max_new_tokens):
        logits, prompt_index, generated = dec.logits(), dec.prompt_index, dec.generated
        if expand is not None and step == 0:
            logits, prompt_index, generated = logits[expand], prompt_index[expand], generated[expand]
        logits = rules.penalize(generated, logits)
        logp = logits.log_softmax(1)
        tokens, dead = _next_tokens(rules, prompt_index, generated, logits, logp, config, generator)
        logprob = logprob + torch.where(dead, 0.0, logp.gather(1, tokens[:, None]).view(-1))
        ended = (tokens == eos_id) | dead
        yield tokens, ended
        last = step == config.max_new_tokens - 1
        gen_rows, lp_rows, prompts = generated.tolist(), logprob.tolist(), prompt_index.tolist()
        ended_rows, dead_rows, token_rows = ended.tolist(), dead.tolist(), tokens.tolist()
        for r in range(len(slots)):
            if ended_rows[r] or last:
                eos = ended_rows[r] and not dead_rows[r]
                ids = gen_rows[r] + ([] if ended_rows[r] else [token_rows[r]])
                length = len(ids) + int(eos)
                score = _score(lp_rows[r], length, config.length_penalty)
                results[prompts[r]].append((slots[r], Hypothesis(ids, score, lp_rows[r], eos)))
        if last or bool(ended.all()):
            break
        keep = (~ended).nonzero().view(-1)
        if expand is not None and step == 0:
            reorder = expand[keep]  # the n samples of a prompt share its prompt's cache
        elif keep.numel() == ended.numel():
            reorder = None
        else:
            reorder = keep  # finished rows leave the batch
        dec.step(tokens[keep], reorder=reorder)
        logprob = logprob[keep]
        slots = [slots[i] for i in keep.tolist()]


class _NBest:
    """Beam search's bookkeeping per output (group): the ended hypotheses, and the live beams of a
    search that stopped early (they only fill an n-best list that is short)."""

    def __init__(self, num_outputs, config, eos_id):
        self.config, self.eos_id = config, eos_id
        self.finished = [[] for _ in range(num_outputs)]
        self.fallback = [[] for _ in range(num_outputs)]

    def select(self, candidates, hyp_output, hyp_ids, step):
        """(parent hypothesis, token, logprob) of the continuations that stay live, every output's
        best first; `candidates` (hypotheses, vocab) are the logprobs of each continuation."""
        hyps_of = {}
        for h, g in enumerate(hyp_output.tolist()):
            hyps_of.setdefault(g, []).append(h)
        ids = hyp_ids.tolist()
        live = []
        for g, hyps in hyps_of.items():
            live += self._select_output(g, candidates[hyps], hyps, ids, step)
        return live

    def _select_output(self, g, candidates, hyps, ids, step):
        cfg, vocab = self.config, candidates.shape[1]
        beam, alpha = cfg.beam_size, cfg.length_penalty
        values, index = candidates.view(-1).topk(min(2 * beam, candidates.numel()))
        live = []
        for rank, (value, i) in enumerate(zip(values.tolist(), index.tolist())):
            if value == float("-inf"):
                break
            h, token = hyps[i // vocab], i % vocab
            if token != self.eos_id:
                live.append((h, token, value))
                if len(live) == beam:
                    break
            elif rank < beam:  # an eos ranked below the beam would not have been kept
                self.finished[g].append(Hypothesis(ids[h], _score(value, step + 1, alpha), value, True))
        best_finished = max((h.score for h in self.finished[g]), default=float("-inf"))
        last = step == cfg.max_new_tokens - 1
        if live and not last and not (
            (cfg.early_stopping == "best" and best_finished >= _score(live[0][2], step + 1, alpha))
            or (cfg.early_stopping == "all" and len(self.finished[g]) >= beam)
        ):
            return live
        unfinished = [Hypothesis(ids[h] + [t], _score(v, step + 1, alpha), v, False) for h, t, v in live]
        if last:  # out of length: the live beams compete with the ended ones
            self.finished[g] += unfinished
        else:
            self.fallback[g] = unfinished
        return []

    def results(self, n):
        out = []
        for finished, fallback in zip(self.finished, self.fallback):
            best = sorted(finished, key=lambda h: -h.score)[:n]
            out.append(best + sorted(fallback, key=lambda h: -h.score)[: n - len(best)])
        return out


def _hypothesis_scores(hook, logp, rows, eos_id):
    """(hypotheses, vocab) scores and the rows that stay (None: all): the hook's, or the rows' own."""
    if hook is None:
        return logp, None
    out = hook(logp, rows)
    scores, keep = out if isinstance(out, tuple) else (out, None)
    if keep is None:
        return scores, None
    keep = torch.as_tensor(keep, dtype=torch.bool, device=logp.device)
    has_rows = torch.zeros(scores.shape[0], dtype=torch.bool, device=logp.device)
    has_rows[rows.hypothesis[keep]] = True
    only_eos = torch.arange(scores.shape[1], device=logp.device) == eos_id
    return scores.masked_fill(~(has_rows[:, None] | only_eos), float("-inf")), keep


def _beam_search(dec, config, eos_id, rules, groups=None, step_logprobs=None):
    """Batched beam search; returns a list (per output) of n-best Hypothesis lists. An output is a
    prompt, or a group of prompts whose rows the hook combines into one hypothesis."""
    row_hyp = torch.tensor(list(groups) if groups is not None else list(range(dec.num_rows)), device=dec.device)
    num_outputs = int(row_hyp.max()) + 1
    nbest = _NBest(num_outputs, config, eos_id)
    hyp_output = torch.arange(num_outputs, device=dec.device)  # at first one hypothesis per output
    hyp_ids = torch.zeros(num_outputs, 0, dtype=torch.long, device=dec.device)
    hyp_logprob = torch.zeros(num_outputs, device=dec.device)
    for step in range(config.max_new_tokens):
        logp = rules.penalize(dec.generated, dec.logits()).log_softmax(1)
        rows = StepRows(dec.prompt_index, row_hyp, hyp_ids)
        scores, keep = _hypothesis_scores(step_logprobs, logp, rows, eos_id)
        scores = rules.restrict(hyp_output, hyp_ids, scores)
        live = nbest.select(hyp_logprob[:, None] + scores, hyp_output, hyp_ids, step)
        if not live:
            break
        parents = torch.tensor([h for h, _, _ in live], device=dec.device)
        tokens = torch.tensor([t for _, t, _ in live], device=dec.device)
        # every row (that stays) of a parent hypothesis continues as a row of each of its children
        rows_left = keep.nonzero().view(-1) if keep is not None else torch.arange(dec.num_rows, device=dec.device)
        row_hyp, r = (parents[:, None] == row_hyp[rows_left][None]).nonzero(as_tuple=True)
        dec.step(tokens[row_hyp], reorder=rows_left[r])
        hyp_output, hyp_ids = hyp_output[parents], torch.cat([hyp_ids[parents], tokens[:, None]], 1)
        hyp_logprob = torch.tensor([v for _, _, v in live], device=dec.device)
    return nbest.results(config.num_return_sequences)


# ---- entry points ---------------------------------------------------------------------------------


def _as_config(config):
    if config is None:
        return DecodeConfig()
    return DecodeConfig.from_dict(config) if isinstance(config, Mapping) else config


def _check_positions(model, prompts, config):
    longest = max(len(p) for p in prompts) if prompts else 0
    limit = model.bert.config.max_position_embeddings
    if longest + config.max_new_tokens > limit:
        raise NlpkitError(
            f"a prompt of {longest} tokens plus max_new_tokens={config.max_new_tokens} exceeds the model's "
            f"{limit} positions; shorten the source or max_new_tokens"
        )


def _check_groups(groups, step_logprobs, num_prompts, config):
    """The number of outputs: one per prompt, or one per group."""
    if step_logprobs is not None and config.do_sample:
        raise NlpkitError("step_logprobs decodes by beam search (beam_size=1: greedy); set do_sample=false")
    if groups is None:
        return num_prompts
    if step_logprobs is None:
        raise NlpkitError("groups need a step_logprobs hook to combine the rows of a group")
    groups = list(groups)
    if len(groups) != num_prompts or sorted(set(groups)) != list(range(len(set(groups)))):
        raise NlpkitError("groups must give every prompt a group number, numbered 0, 1, 2, ... without gaps")
    return len(set(groups))


def _generator(config, device):
    if not config.do_sample or config.seed is None:
        return None
    return torch.Generator(device=device).manual_seed(int(config.seed))


def generate(model, prompts, config=None, *, mask="unilm", eos_id, pad_id, cond=None, allowed_tokens=None,
             forced_prefix=None, use_cache=True, groups=None, step_logprobs=None):
    """Decode every prompt (or group); returns per output a list of Hypothesis (see the module docstring)."""
    config = _as_config(config)
    prompts = _check_prompts(prompts, model.bert.config.vocab_size)
    _check_positions(model, prompts, config)
    num_outputs = _check_groups(groups, step_logprobs, len(prompts), config)
    with eval_mode(model):
        dec = IncrementalDecoder(model, prompts, mask=mask, pad_id=pad_id, cond=cond, use_cache=use_cache)
        rules = LogitsRules(config, eos_id, allowed_tokens, forced_prefix, num_outputs, dec.device)
        if config.beam_size > 1 or step_logprobs is not None:
            return _beam_search(dec, config, eos_id, rules, groups, step_logprobs)
        results = [[] for _ in prompts]
        for _ in _row_search(dec, config, eos_id, rules, results, _generator(config, dec.device)):
            pass
        return [[h for _, h in sorted(r, key=lambda x: x[0])] for r in results]


def stream(model, prompt, config=None, *, mask="unilm", eos_id, pad_id, cond=None, allowed_tokens=None,
           forced_prefix=None, use_cache=True):
    """Yield the generated token ids of one prompt as they are chosen (eos is not yielded)."""
    config = _as_config(config)
    if config.do_sample and config.num_return_sequences > 1:
        raise NlpkitError("stream() draws one sample; set num_return_sequences=1")
    kwargs = dict(mask=mask, eos_id=eos_id, pad_id=pad_id, allowed_tokens=allowed_tokens, use_cache=use_cache)
    if cond is not None:
        cond = torch.as_tensor(cond)
        cond = cond[None] if cond.dim() == 1 else cond
    if forced_prefix is not None and len(forced_prefix) and isinstance(forced_prefix[0], (list, tuple)):
        forced_prefix = forced_prefix[0]
    if config.beam_size > 1:
        best = generate(model, [prompt], config, cond=cond, forced_prefix=forced_prefix, **kwargs)[0]
        yield from best[0].ids if best else []
        return
    prompts = _check_prompts([prompt], model.bert.config.vocab_size)
    _check_positions(model, prompts, config)
    with eval_mode(model):
        dec = IncrementalDecoder(model, prompts, mask=mask, pad_id=pad_id, cond=cond, use_cache=use_cache)
        rules = LogitsRules(config, eos_id, allowed_tokens, forced_prefix, 1, dec.device)
        for tokens, ended in _row_search(dec, config, eos_id, rules, [[]], _generator(config, dec.device)):
            if bool(ended[0]):
                return
            yield int(tokens[0])

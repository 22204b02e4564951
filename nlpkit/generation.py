"""Autoregressive decoding shared by every generating task: exact KV cache, batched beam search,
sampling, constraints and streaming.

Model contract: an nn.Module with `.bert` (a transformers BertModel, possibly with Conditional
LayerNorm applied, its Conditioner at `.conditioner`) and `.cls` (a BertOnlyMLMHead).

API
---
``GenerationConfig(...)``
    Decoding settings (fields below); ``GenerationConfig.from_dict(d)`` ignores None values and
    accepts ``n`` for ``num_return_sequences``.
``generate(model, prompts, config, *, mask="unilm", eos_id, pad_id, cond=None, allowed_tokens=None,
forced_prefix=None, use_cache=True) -> list[list[Hypothesis]]``
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
    must equal (tests/test_generation.py, scripts/bench_generation.py).
``stream(model, prompt, config, **same keywords)``
    Yields the new token ids of one prompt as they are chosen (greedy or sampling). Beam search
    cannot know its tokens before it ends, so with ``beam_size > 1`` the best hypothesis is
    yielded once the search is over.
``IncrementalDecoder(model, prompts, *, mask, pad_id, cond=None, use_cache=True)``
    The layer generate() is built on, for callers that choose tokens themselves (e.g. voting over
    the passages of one question): ``.logits()`` gives the (rows, vocab) next-token logits,
    ``.step(tokens, reorder=None)`` first selects/reorders/duplicates rows (``reorder[i]`` = the
    current row that new row i continues) and then appends one token per row; ``.generated``
    holds the tokens appended so far, ``.prompt_index`` the prompt of each row.

The repetition penalty and the n-gram ban look at the generated tokens only (copying from the
source stays free). A seed makes a call reproducible; the same prompt sampled in a different
batch draws different samples (the RNG is shared by the batch's rows).

How the cache stays exact: prompts are left-padded, padded keys are masked out and position ids
count valid tokens only, so a padded row computes what it computes alone. The prompt is run once
with its full mask (UniLM or causal) into a transformers DynamicCache; each step then runs only
the new tokens, whose mask row is "every valid key so far" -- which is exactly the last row of
both the UniLM mask (a target token sees the source and the earlier targets) and the causal mask.
"""
import contextlib
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from transformers import DynamicCache

from .errors import NlpkitError
from .model.backbone import run_bert
from .model.masks import causal_mask, unilm_mask

MASKS = ("unilm", "causal")
EARLY_STOPPING = ("best", "all")


@dataclass
class GenerationConfig:
    max_new_tokens: int = 32
    min_new_tokens: int = 0
    #: 1 = greedy (or sampling with do_sample); > 1 = beam search
    beam_size: int = 1
    #: hypothesis score = logprob / length ** length_penalty
    length_penalty: float = 1.0
    #: "best": a prompt's beam search stops as soon as its best hypothesis has ended (the best
    #: finished score >= the best live beam's score at the current length); "all": it stops when
    #: beam_size hypotheses have ended. Both stop at max_new_tokens. Use "all" for n-best lists.
    early_stopping: str = "best"
    #: ban any token that would repeat an n-gram of this size already in the output (0 = off)
    no_repeat_ngram_size: int = 0
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    #: CTRL-style penalty on tokens already generated (> 1 discourages repeats)
    repetition_penalty: float = 1.0
    #: n-best size for beam search (<= beam_size), number of samples when sampling
    num_return_sequences: int = 1
    #: seed of the sampling RNG; None draws from torch's global RNG
    seed: int | None = None

    def __post_init__(self):
        problems = []
        if self.max_new_tokens < 1:
            problems.append("max_new_tokens must be >= 1")
        if not 0 <= self.min_new_tokens <= self.max_new_tokens:
            problems.append("min_new_tokens must be between 0 and max_new_tokens")
        if self.beam_size < 1:
            problems.append("beam_size must be >= 1")
        if self.num_return_sequences < 1:
            problems.append("num_return_sequences must be >= 1")
        if self.do_sample and self.beam_size > 1:
            problems.append("do_sample with beam_size > 1 is not supported (use one or the other)")
        if not self.do_sample and self.num_return_sequences > self.beam_size:
            problems.append("num_return_sequences must be <= beam_size without sampling")
        if self.early_stopping not in EARLY_STOPPING:
            problems.append(f"early_stopping must be one of {EARLY_STOPPING}")
        if self.no_repeat_ngram_size < 0 or self.top_k < 0:
            problems.append("no_repeat_ngram_size and top_k must be >= 0")
        if self.temperature <= 0:
            problems.append("temperature must be > 0 (use do_sample=false for greedy decoding)")
        if not 0 < self.top_p <= 1:
            problems.append("top_p must be in (0, 1]")
        if self.repetition_penalty <= 0:
            problems.append("repetition_penalty must be > 0")
        if problems:
            raise NlpkitError("generation config: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, d):
        """Build from a mapping (e.g. the task's `generation:` config section); None values are ignored."""
        d = {k: v for k, v in dict(d or {}).items() if v is not None}
        if "n" in d:
            d["num_return_sequences"] = d.pop("n")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise NlpkitError(f"generation config: unknown keys {unknown}; valid keys: {sorted(names)}")
        return cls(**d)


@dataclass
class Hypothesis:
    ids: list
    score: float
    logprob: float
    #: True when the output ended with eos (False: stopped by max_new_tokens, early stopping, or
    #: because no token was allowed)
    finished: bool = True


def _model_device_dtype(model):
    weight = model.bert.embeddings.word_embeddings.weight
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
            raise NlpkitError("a generating model needs .bert (BertModel) and .cls (the MLM head)")
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
        self.cache = DynamicCache() if use_cache else None
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
            hidden = run_bert(bert, ids, types, mask, positions, past_key_values=self.cache)
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


# ---- logits processing --------------------------------------------------------------------------


def _penalize(logits, generated, penalty):
    """CTRL repetition penalty on the tokens each row has generated."""
    if penalty == 1.0 or generated.shape[1] == 0:
        return logits
    picked = logits.gather(1, generated)
    picked = torch.where(picked > 0, picked / penalty, picked * penalty)
    return logits.scatter(1, generated, picked)


class _Rules:
    """The hard restrictions on the next token: forced prefix, min length, n-gram bans, the hook."""

    def __init__(self, config, eos_id, allowed_tokens, forced_prefix, num_prompts):
        self.config, self.eos_id, self.hook = config, eos_id, allowed_tokens
        if forced_prefix is not None and len(forced_prefix) and isinstance(forced_prefix[0], (list, tuple)):
            if len(forced_prefix) != num_prompts:
                raise NlpkitError(f"forced_prefix has {len(forced_prefix)} lists for {num_prompts} prompts")
            self.prefix = [list(p) for p in forced_prefix]
        else:
            self.prefix = [list(forced_prefix or [])] * num_prompts

    def allowed(self, prompt_index, generated, vocab):
        """(rows, vocab) bool of the tokens each row may choose next, or None for no restriction."""
        step, rows = generated.shape[1], generated.shape[0]
        cfg, n = self.config, self.config.no_repeat_ngram_size
        need_lists = self.hook is not None or (n and step + 1 >= n) or any(len(p) > step for p in self.prefix)
        if not need_lists and step >= cfg.min_new_tokens:
            return None
        allow = torch.ones(rows, vocab, dtype=torch.bool)
        if step < cfg.min_new_tokens:
            allow[:, self.eos_id] = False
        if need_lists:
            gen = generated.tolist()
            for r, p in enumerate(prompt_index.tolist()):
                prefix = self.prefix[p]
                if step < len(prefix):
                    allow[r] = False
                    allow[r, prefix[step]] = True
                    continue
                if n and step + 1 >= n:
                    tail = tuple(gen[r][step - n + 1:]) if n > 1 else ()
                    banned = [gen[r][i + n - 1] for i in range(step - n + 1) if tuple(gen[r][i:i + n - 1]) == tail]
                    allow[r, banned] = False
                if self.hook is not None:
                    ok = self.hook(p, gen[r])
                    if ok is not None:
                        keep = torch.zeros(vocab, dtype=torch.bool)
                        keep[list(ok)] = True
                        allow[r] &= keep
        return allow.to(generated.device)


def _score(logprob, length, penalty):
    return logprob / (max(length, 1) ** penalty)


def _filter_top(logits, top_k, top_p):
    if top_k and top_k < logits.shape[1]:
        kth = logits.topk(top_k, dim=1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=1, descending=True)
        probs = sorted_logits.softmax(1)
        # drop a token when the tokens ranked above it already cover top_p (the first always stays)
        drop = (probs.cumsum(1) - probs) >= top_p
        logits = logits.masked_fill(drop.scatter(1, order, drop), float("-inf"))
    return logits


# ---- searches -------------------------------------------------------------------------------------


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
        logits = _penalize(logits, generated, config.repetition_penalty)
        logp = logits.log_softmax(1)
        allow = rules.allowed(prompt_index, generated, logits.shape[1])
        if config.do_sample:
            x = logits / config.temperature
            if allow is not None:
                x = x.masked_fill(~allow, float("-inf"))
            x = _filter_top(x, config.top_k, config.top_p)
            x[:, eos_id] = torch.where(torch.isinf(x).all(1), 0.0, x[:, eos_id])  # no token allowed: end
            tokens = torch.multinomial(x.softmax(1), 1, generator=generator).view(-1)
        else:
            tokens = (logp if allow is None else logp.masked_fill(~allow, float("-inf"))).argmax(1)
        dead = ~allow.any(1) if allow is not None else torch.zeros_like(tokens, dtype=torch.bool)
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


def _beam_search(dec, config, eos_id, rules):
    """Batched beam search; returns a list (per prompt) of n-best Hypothesis lists."""
    beam, alpha, vocab = config.beam_size, config.length_penalty, None
    num_prompts = dec.num_rows
    finished = [[] for _ in range(num_prompts)]
    fallback = [[] for _ in range(num_prompts)]  # live beams when a search stopped early
    beam_logprob = torch.zeros(num_prompts, device=dec.device)
    for step in range(config.max_new_tokens):
        logits = _penalize(dec.logits(), dec.generated, config.repetition_penalty)
        vocab = logits.shape[1]
        logp = logits.log_softmax(1)
        allow = rules.allowed(dec.prompt_index, dec.generated, vocab)
        if allow is not None:
            logp = logp.masked_fill(~allow, float("-inf"))
        candidates = beam_logprob[:, None] + logp
        gen_rows = dec.generated.tolist()
        groups = {}
        for r, p in enumerate(dec.prompt_index.tolist()):
            groups.setdefault(p, []).append(r)
        src, new_tokens, new_logprob = [], [], []
        last = step == config.max_new_tokens - 1
        for p, rows in groups.items():
            flat = candidates[rows].view(-1)
            values, index = flat.topk(min(2 * beam, flat.numel()))
            live = []
            for rank, (value, i) in enumerate(zip(values.tolist(), index.tolist())):
                if value == float("-inf"):
                    break
                row, token = rows[i // vocab], i % vocab
                if token == eos_id:
                    if rank < beam:  # an eos ranked below the beam would not have been kept
                        finished[p].append(Hypothesis(gen_rows[row], _score(value, step + 1, alpha), value, True))
                    continue
                live.append((row, token, value))
                if len(live) == beam:
                    break
            best_finished = max((h.score for h in finished[p]), default=float("-inf"))
            done = (
                not live
                or last
                or (config.early_stopping == "best" and best_finished >= _score(live[0][2], step + 1, alpha))
                or (config.early_stopping == "all" and len(finished[p]) >= beam)
            )
            if done:
                unfinished = [Hypothesis(gen_rows[row] + [token], _score(v, step + 1, alpha), v, False)
                              for row, token, v in live]
                if last:  # out of length: the live beams compete with the ended ones
                    finished[p] += unfinished
                else:  # stopped early: they only fill an n-best list that is short
                    fallback[p] = unfinished
                continue
            for row, token, value in live:
                src.append(row)
                new_tokens.append(token)
                new_logprob.append(value)
        if not src:
            break
        dec.step(new_tokens, reorder=src)
        beam_logprob = torch.tensor(new_logprob, device=dec.device)
    n = config.num_return_sequences
    out = []
    for p in range(num_prompts):
        best = sorted(finished[p], key=lambda h: -h.score)[:n]
        if len(best) < n:
            best += sorted(fallback[p], key=lambda h: -h.score)[: n - len(best)]
        out.append(best)
    return out


# ---- entry points ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _eval_mode(model):
    """Dropout off while decoding (the decoder's forward passes run under no_grad themselves, so
    no grad mode leaks out of stream()'s generator between yields)."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _check_positions(model, prompts, config):
    longest = max(len(p) for p in prompts) if prompts else 0
    limit = model.bert.config.max_position_embeddings
    if longest + config.max_new_tokens > limit:
        raise NlpkitError(
            f"a prompt of {longest} tokens plus max_new_tokens={config.max_new_tokens} exceeds the model's "
            f"{limit} positions; shorten the source or max_new_tokens"
        )


def _generator(config, device):
    if not config.do_sample or config.seed is None:
        return None
    return torch.Generator(device=device).manual_seed(int(config.seed))


def generate(model, prompts, config=None, *, mask="unilm", eos_id, pad_id, cond=None, allowed_tokens=None,
             forced_prefix=None, use_cache=True):
    """Decode every prompt; returns per prompt a list of Hypothesis (see the module docstring)."""
    config = config or GenerationConfig()
    if isinstance(config, Mapping):
        config = GenerationConfig.from_dict(config)
    prompts = _check_prompts(prompts, model.bert.config.vocab_size)
    _check_positions(model, prompts, config)
    with _eval_mode(model):
        dec = IncrementalDecoder(model, prompts, mask=mask, pad_id=pad_id, cond=cond, use_cache=use_cache)
        rules = _Rules(config, eos_id, allowed_tokens, forced_prefix, len(prompts))
        if config.beam_size > 1:
            return _beam_search(dec, config, eos_id, rules)
        results = [[] for _ in prompts]
        for _ in _row_search(dec, config, eos_id, rules, results, _generator(config, dec.device)):
            pass
        return [[h for _, h in sorted(r, key=lambda x: x[0])] for r in results]


def stream(model, prompt, config=None, *, mask="unilm", eos_id, pad_id, cond=None, allowed_tokens=None,
           forced_prefix=None, use_cache=True):
    """Yield the generated token ids of one prompt as they are chosen (eos is not yielded)."""
    config = config or GenerationConfig()
    if isinstance(config, Mapping):
        config = GenerationConfig.from_dict(config)
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
    with _eval_mode(model):
        dec = IncrementalDecoder(model, prompts, mask=mask, pad_id=pad_id, cond=cond, use_cache=use_cache)
        rules = _Rules(config, eos_id, allowed_tokens, forced_prefix, 1)
        for tokens, ended in _row_search(dec, config, eos_id, rules, [[]], _generator(config, dec.device)):
            if bool(ended[0]):
                return
            yield int(tokens[0])

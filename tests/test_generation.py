"""The generation engine: the KV cache equals full recomputation, batching equals one by one, and
beam search / sampling / constraints / step hooks / streaming / Conditional LayerNorm behave as
documented; the transformers LogitsProcessors equal nlpkit's former hand-written rules."""
import itertools
import math
import random
import warnings

import pytest
import torch
from torch import nn
from transformers import BertConfig

from nlpkit.errors import NlpkitError
from nlpkit.generation import DecodeConfig, IncrementalDecoder, LogitsRules, generate, stream
from nlpkit.model import apply_conditional_layernorm, load_backbone, run_bert, unilm_mask
from nlpkit.model.masks import causal_mask
from nlpkit.tokenizer import Tokenizer

TEXTS = ["今天天气很好，我们去公园散步。", "明天下雨，我们在家读书写字。", "春风吹过山谷，花开满地。"]
MASKS = ["unilm", "causal"]


class LM(nn.Module):
    def __init__(self, config, tokenizer, cond_dim=None):
        super().__init__()
        self.bert, self.cls = load_backbone(config, tokenizer, lm_head=True)
        if cond_dim:
            self.conditioner = apply_conditional_layernorm(self.bert, cond_dim)


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.build(TEXTS)


def make_model(tok, layers=2, hidden=64, heads=2, init=0.2, eos_bias=2.0, seed=0, cond_dim=None, vocab=None):
    """A random model whose logits are peaked (init) and whose outputs end at varied lengths (eos_bias)."""
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=vocab or len(tok), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=hidden * 4, max_position_embeddings=64, initializer_range=init, pad_token_id=tok.pad_id,
    )
    model = LM(config, tok, cond_dim)
    with torch.no_grad():
        model.cls.predictions.decoder.bias[tok.sep_id] += eos_bias  # the bias the head's forward adds
        if cond_dim:  # CLN starts as the identity; make the condition matter
            for layer in model.conditioner.layers:
                layer.cond_gamma.weight.normal_(0, 0.3)
                layer.cond_beta.weight.normal_(0, 0.3)
    return model.eval()


def make_prompts(tok, lengths, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [[tok.cls_id] + torch.randint(5, len(tok), (n,), generator=g).tolist() + [tok.sep_id] for n in lengths]


def run(model, tok, prompts, config, **kw):
    kw.setdefault("mask", "unilm")
    return generate(model, prompts, config, eos_id=tok.sep_id, pad_id=tok.pad_id, **kw)


def assert_same(a, b, tol=1e-4):
    assert [[h.ids for h in hs] for hs in a] == [[h.ids for h in hs] for hs in b]
    assert [[h.finished for h in hs] for hs in a] == [[h.finished for h in hs] for hs in b]
    for hs, ks in zip(a, b):
        for h, k in zip(hs, ks):
            assert abs(h.score - k.score) <= tol and abs(h.logprob - k.logprob) <= tol


MODES = {
    "greedy": dict(max_new_tokens=10),
    "beam": dict(max_new_tokens=10, beam_size=3, num_return_sequences=3, early_stopping="all", length_penalty=0.7),
    "sample": dict(max_new_tokens=10, do_sample=True, seed=7, num_return_sequences=2, top_k=20, top_p=0.95,
                   temperature=1.3),
}


@pytest.fixture(scope="module")
def tiny(tok):
    return make_model(tok)


@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("mode", list(MODES))
def test_cache_equals_recompute_tiny(tok, tiny, mask, mode):
    prompts = make_prompts(tok, [3, 9, 6, 1])
    config = DecodeConfig(**MODES[mode])
    cached = run(tiny, tok, prompts, config, mask=mask)
    full = run(tiny, tok, prompts, config, mask=mask, use_cache=False)
    assert_same(cached, full)
    lengths = {len(h.ids) for hs in cached for h in hs}
    assert len(lengths) > 1  # outputs ended at different steps: rows left the batch mid-way


def test_cache_equals_recompute_base_config(tok):
    """12 layers, 768 hidden (the bert-base shape), random weights; kept short for the test budget."""
    model = make_model(tok, layers=12, hidden=768, heads=12, init=0.02, eos_bias=0.0)
    prompts = make_prompts(tok, [5, 2])
    for mask, mode in itertools.product(MASKS, MODES):
        config = DecodeConfig(**{**MODES[mode], "max_new_tokens": 4})
        cached = run(model, tok, prompts, config, mask=mask)
        assert_same(cached, run(model, tok, prompts, config, mask=mask, use_cache=False))


@pytest.mark.parametrize("mask", MASKS)
def test_decoder_matches_training_layout_forward(tok, tiny, mask):
    """Independent reference: the training-time layout (right-padded, positions from 0, UniLM/causal
    mask from nlpkit.model) gives the same next-token logits as the left-padded incremental decoder."""
    prompts = make_prompts(tok, [2, 7])
    targets = [[9, 12, 15, 7], [20, 5, 11, 30]]
    dec = IncrementalDecoder(tiny, prompts, mask=mask, pad_id=tok.pad_id)
    new_type = 1 if mask == "unilm" else 0
    for t in range(len(targets[0]) + 1):
        seqs = [p + tg[:t] for p, tg in zip(prompts, targets)]
        width = max(map(len, seqs))
        ids = torch.tensor([s + [tok.pad_id] * (width - len(s)) for s in seqs])
        types = torch.tensor([[0] * len(p) + [new_type] * t + [0] * (width - len(p) - t) for p in prompts])
        attn = (torch.arange(width)[None] < torch.tensor([len(s) for s in seqs])[:, None]).long()
        bool_mask = unilm_mask(types, attn) if mask == "unilm" else causal_mask(attn)
        with torch.no_grad():
            hidden = run_bert(tiny.bert, ids, types, bool_mask)
            last = hidden[torch.arange(len(seqs)), attn.sum(1) - 1]
            expected = tiny.cls(last)
        torch.testing.assert_close(dec.logits(), expected, atol=1e-4, rtol=1e-4)
        if t < len(targets[0]):
            dec.step([tg[t] for tg in targets])


@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("mode", ["greedy", "beam"])
def test_batch_equals_one_by_one(tok, tiny, mask, mode):
    prompts = make_prompts(tok, [1, 8, 4, 11], seed=3)
    config = DecodeConfig(**MODES[mode])
    batched = run(tiny, tok, prompts, config, mask=mask)
    single = [run(tiny, tok, [p], config, mask=mask)[0] for p in prompts]
    assert_same(batched, single)


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_beam_search_finds_exhaustive_n_best(length_penalty):
    """With a beam wider than every prefix set, beam search must return the exact n best of all
    sequences (ended by eos, or cut at max_new_tokens), scored with the length penalty."""
    small = Tokenizer.build(["甲乙丙丁戊"])  # 10 tokens
    model = make_model(small, eos_bias=1.0, seed=4)
    prompt, eos, max_new = [small.cls_id, 6, 9, small.sep_id], small.sep_id, 3
    config = DecodeConfig(max_new_tokens=max_new, beam_size=len(small) ** 2, num_return_sequences=5,
                              early_stopping="all", length_penalty=length_penalty)
    got = run(model, small, [prompt], config)[0]

    # every sequence, level by level, by plain recomputation: (score, ids, ended with eos)
    dec = IncrementalDecoder(model, [prompt], pad_id=small.pad_id, use_cache=False)
    prefixes, candidates = [([], 0.0)], []
    for t in range(max_new):
        logp = dec.logits().log_softmax(1).tolist()
        children, parents, tokens = [], [], []
        for r, (ids, lp) in enumerate(prefixes):
            candidates.append(((lp + logp[r][eos]) / (t + 1) ** length_penalty, ids, True))
            for token in range(len(small)):
                if token != eos:
                    children.append((ids + [token], lp + logp[r][token]))
                    parents.append(r)
                    tokens.append(token)
        if t == max_new - 1:
            candidates += [(lp / max_new ** length_penalty, ids, False) for ids, lp in children]
        else:
            dec.step(tokens, reorder=parents)
            prefixes = children
    candidates.sort(key=lambda c: -c[0])
    assert [h.ids for h in got] == [c[1] for c in candidates[:5]]
    assert [h.finished for h in got] == [c[2] for c in candidates[:5]]
    for h, c in zip(got, candidates):
        assert math.isclose(h.score, c[0], abs_tol=1e-4)


def test_beam_options(tok, tiny):
    prompts = make_prompts(tok, [3, 9, 6, 1])
    eos_model = make_model(tok, eos_bias=6.0)  # would end at once
    out = run(eos_model, tok, prompts, DecodeConfig(max_new_tokens=8, min_new_tokens=4, beam_size=3))
    assert all(len(hs[0].ids) >= 4 and hs[0].finished for hs in out)
    assert all(len(hs[0].ids) == 0 for hs in run(eos_model, tok, prompts, DecodeConfig(beam_size=3)))

    plain = run(tiny, tok, prompts, DecodeConfig(max_new_tokens=12, beam_size=3))
    assert any(len(set(hs[0].ids)) < len(hs[0].ids) for hs in plain)  # repeats happen without the ban
    for n in (1, 2):
        banned = run(tiny, tok, prompts, DecodeConfig(max_new_tokens=12, beam_size=3, no_repeat_ngram_size=n,
                                                          num_return_sequences=3, early_stopping="all"))
        for hs in banned:
            for h in hs:
                grams = [tuple(h.ids[i:i + n]) for i in range(len(h.ids) - n + 1)]
                assert len(grams) == len(set(grams))

    # "all" keeps searching until beam_size hypotheses ended (or max_new_tokens); n-best sorted by score
    full = run(tiny, tok, prompts, DecodeConfig(max_new_tokens=20, beam_size=4, num_return_sequences=4,
                                                    early_stopping="all"))
    for hs in full:
        assert len(hs) == 4
        assert [h.score for h in hs] == sorted((h.score for h in hs), reverse=True)
        for h in hs:
            assert math.isclose(h.score, h.logprob / (len(h.ids) + h.finished), abs_tol=1e-6)
            assert h.finished or len(h.ids) == 20
    assert any(all(h.finished for h in hs) for hs in full)
    # "best" stops once the best hypothesis has ended
    best = run(tiny, tok, prompts, DecodeConfig(max_new_tokens=20, beam_size=4))
    assert all(len(hs) == 1 and (hs[0].finished or len(hs[0].ids) == 20) for hs in best)
    assert any(hs[0].finished for hs in best)
    # max_new_tokens cuts the output
    assert all(len(hs[0].ids) <= 2 for hs in run(tiny, tok, prompts, DecodeConfig(max_new_tokens=2, beam_size=3)))


def test_sampling(tok, tiny):
    prompts = make_prompts(tok, [3, 9])
    config = DecodeConfig(max_new_tokens=10, do_sample=True, seed=11, num_return_sequences=4)
    a = run(tiny, tok, prompts, config)
    assert_same(a, run(tiny, tok, prompts, config))  # reproducible with a seed
    assert all(len(hs) == 4 for hs in a)
    assert len({tuple(h.ids) for h in a[1]}) > 1  # the samples differ from each other
    other = run(tiny, tok, prompts, DecodeConfig(**{**config.__dict__, "seed": 12}))
    assert [[h.ids for h in hs] for hs in other] != [[h.ids for h in hs] for hs in a]
    # sampling that keeps only the top token is greedy decoding
    greedy = run(tiny, tok, prompts, DecodeConfig(max_new_tokens=10))
    for keep in (dict(top_k=1), dict(top_p=1e-6)):
        sampled = run(tiny, tok, prompts, DecodeConfig(max_new_tokens=10, do_sample=True, seed=3, **keep))
        assert_same(sampled, greedy)
    # a strong repetition penalty removes repeats that greedy decoding makes
    repeats = lambda outs: sum(len(hs[0].ids) - len(set(hs[0].ids)) for hs in outs)  # noqa: E731
    many = make_prompts(tok, [3, 9, 6, 1, 4, 7], seed=5)
    base = repeats(run(tiny, tok, many, DecodeConfig(max_new_tokens=10)))
    penalised = repeats(run(tiny, tok, many, DecodeConfig(max_new_tokens=10, repetition_penalty=5.0)))
    assert base > 0 and penalised < base


@pytest.mark.parametrize("mode", ["greedy", "beam", "sample"])
def test_constraints_and_forced_prefix(tok, tiny, mode):
    prompts = make_prompts(tok, [4, 8, 6])
    config = DecodeConfig(**MODES[mode])
    calls = []

    def only_source(prompt_index, generated):  # like reading's extractive mode: source tokens, then eos
        calls.append((prompt_index, list(generated)))
        return sorted(set(prompts[prompt_index][1:-1])) + ([tok.sep_id] if len(generated) >= 2 else [])

    for use_cache in (True, False):
        out = run(tiny, tok, prompts, config, allowed_tokens=only_source, use_cache=use_cache)
        for i, hs in enumerate(out):
            assert all(set(h.ids) <= set(prompts[i]) and len(h.ids) >= 2 for h in hs)
    assert {p for p, _ in calls} == {0, 1, 2} and any(g for _, g in calls)
    assert_same(out, run(tiny, tok, prompts, config, allowed_tokens=only_source))

    prefix = [tok.token_to_id("春"), tok.token_to_id("风")]
    forced = run(tiny, tok, prompts, config, forced_prefix=prefix)
    assert all(h.ids[:2] == prefix for hs in forced for h in hs)
    assert_same(forced, run(tiny, tok, prompts, config, forced_prefix=prefix, use_cache=False))
    if mode == "greedy":  # the continuation is what greedy decoding chooses after the prefix
        dec = IncrementalDecoder(tiny, prompts[:1], pad_id=tok.pad_id)
        for t in prefix:
            dec.step([t])
        assert (forced[0][0].ids[2:3] or [tok.sep_id])[0] == int(dec.logits().argmax())
    per_prompt = run(tiny, tok, prompts, config, forced_prefix=[[7], [8, 9], []])
    assert [hs[0].ids[:len(p)] for hs, p in zip(per_prompt, [[7], [8, 9], []])] == [[7], [8, 9], []]


@pytest.mark.parametrize("mask", MASKS)
def test_condition_vector_with_cln(tok, mask):
    model = make_model(tok, cond_dim=8)
    prompts = make_prompts(tok, [3, 6, 5])
    cond = torch.randn(3, 8, generator=torch.Generator().manual_seed(2))
    for mode in MODES:
        config = DecodeConfig(**MODES[mode])
        out = run(model, tok, prompts, config, mask=mask, cond=cond)
        assert_same(out, run(model, tok, prompts, config, mask=mask, cond=cond, use_cache=False))
        if mode != "sample":
            single = [run(model, tok, [p], config, mask=mask, cond=cond[i:i + 1])[0] for i, p in enumerate(prompts)]
            assert_same(out, single)
    same_prompt = [prompts[0]] * 3
    outs = run(model, tok, same_prompt, DecodeConfig(max_new_tokens=10), mask=mask, cond=cond)
    assert len({tuple(hs[0].ids) for hs in outs}) > 1  # the condition changes the output
    with pytest.raises(NlpkitError, match="conditioner"):
        run(make_model(tok), tok, prompts, DecodeConfig(), cond=cond)


def test_stream(tok, tiny):
    prompt = make_prompts(tok, [6])[0]
    tiny.train()
    for mode in ("greedy", "sample", "beam"):
        config = DecodeConfig(**{**MODES[mode], "num_return_sequences": 1})
        streamed = []
        for token in stream(tiny, prompt, config, eos_id=tok.sep_id, pad_id=tok.pad_id):
            assert torch.is_grad_enabled()  # no grad mode leaks out between yields
            streamed.append(token)
        assert streamed == run(tiny, tok, [prompt], config)[0][0].ids
        assert tiny.training  # restored
    tiny.eval()


def test_config_and_input_errors(tok, tiny):
    config = DecodeConfig.from_dict({"beam_size": 4, "n": 2, "top_p": None, "length_penalty": 0.5})
    assert (config.beam_size, config.num_return_sequences, config.top_p, config.length_penalty) == (4, 2, 1.0, 0.5)
    with pytest.raises(NlpkitError, match="unknown option.*beams"):
        DecodeConfig.from_dict({"beams": 4})
    for value in ("abc", 0, 2.5, True):
        with pytest.raises(NlpkitError, match=r"decode\.beam_size.*expected an integer >= 1"):
            DecodeConfig.from_dict({"beam_size": value})
    for bad, option in [(dict(num_return_sequences=3), "num_return_sequences"), (dict(top_p=0), "top_p"),
                        (dict(max_new_tokens=0), "max_new_tokens"), (dict(temperature=0.0), "temperature"),
                        (dict(min_new_tokens=9, max_new_tokens=4), "min_new_tokens"),
                        (dict(do_sample=True, beam_size=2), "beam_size"),
                        (dict(early_stopping="never"), "early_stopping")]:
        with pytest.raises(NlpkitError, match=rf"decode.*{option}") as e:
            DecodeConfig(**bad)
        assert "\n" not in str(e.value)
    with pytest.raises(NlpkitError, match="positions"):
        run(tiny, tok, make_prompts(tok, [30]), DecodeConfig(max_new_tokens=40))
    with pytest.raises(NlpkitError, match="list of prompts"):
        run(tiny, tok, [tok.cls_id, 7, tok.sep_id], DecodeConfig())
    with pytest.raises(NlpkitError, match="vocabulary"):
        run(tiny, tok, [[tok.cls_id, 10**6]], DecodeConfig())


def test_cache_is_passed_without_deprecation_warning(tok, tiny):
    """transformers renamed BertModel's past_key_values to cache; run_bert uses the supported name."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dec = IncrementalDecoder(tiny, make_prompts(tok, [3, 5]), pad_id=tok.pad_id)
        dec.step([7, 8])
    assert not [w for w in caught if "past_key_values" in str(w.message)]


# ---- the LogitsProcessors against the former hand-written rules --------------------------------------


def ref_penalize(logits, generated, penalty):
    """CTRL repetition penalty on the tokens each row has generated."""
    if penalty == 1.0 or generated.shape[1] == 0:
        return logits
    picked = logits.gather(1, generated)
    picked = torch.where(picked > 0, picked / penalty, picked * penalty)
    return logits.scatter(1, generated, picked)


def ref_allowed(generated, vocab, eos_id, min_new_tokens, ngram):
    """The min-length ban on eos and the ban on tokens that would repeat an n-gram of the output."""
    step = generated.shape[1]
    allow = torch.ones(generated.shape[0], vocab, dtype=torch.bool)
    if step < min_new_tokens:
        allow[:, eos_id] = False
    if ngram and step + 1 >= ngram:
        for r, gen in enumerate(generated.tolist()):
            tail = tuple(gen[step - ngram + 1:]) if ngram > 1 else ()
            banned = [gen[i + ngram - 1] for i in range(step - ngram + 1) if tuple(gen[i:i + ngram - 1]) == tail]
            allow[r, banned] = False
    return allow


def ref_warp(logits, temperature, top_k, top_p):
    logits = logits / temperature
    if top_k and top_k < logits.shape[1]:
        kth = logits.topk(top_k, dim=1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=1, descending=True)
        probs = sorted_logits.softmax(1)
        drop = (probs.cumsum(1) - probs) >= top_p  # the tokens ranked above already cover top_p
        logits = logits.masked_fill(drop.scatter(1, order, drop), float("-inf"))
    return logits


def random_case(rng):
    """Logits and generated ids drawn from few tokens, so that repeats and repeated n-grams occur."""
    rows, vocab, step = rng.randint(1, 4), rng.randint(5, 40), rng.randint(0, 12)
    generated = torch.tensor([[rng.randrange(min(vocab, 6)) for _ in range(step)] for _ in range(rows)],
                             dtype=torch.long).view(rows, step)
    return torch.randn(rows, vocab, generator=torch.Generator().manual_seed(rng.randrange(10**6))) * 3, generated


def test_logits_processors_equal_reference_rules():
    rng = random.Random(0)
    for _ in range(200):
        logits, generated = random_case(rng)
        penalty = rng.choice([1.0, rng.uniform(0.3, 3.0)])
        rules = LogitsRules(DecodeConfig(repetition_penalty=penalty), eos_id=1)
        assert torch.equal(rules.penalize(generated, logits), ref_penalize(logits, generated, penalty))
    for _ in range(200):
        logits, generated = random_case(rng)
        vocab, min_new, ngram = logits.shape[1], rng.randint(0, 5), rng.randint(0, 4)
        eos = rng.randrange(vocab)
        rules = LogitsRules(DecodeConfig(min_new_tokens=min_new, no_repeat_ngram_size=ngram), eos_id=eos)
        index = torch.zeros(len(logits), dtype=torch.long)
        restricted = rules.restrict(index, generated, logits)
        assert torch.equal(~torch.isinf(restricted), ref_allowed(generated, vocab, eos, min_new, ngram))
        assert torch.equal(restricted[~torch.isinf(restricted)], logits[~torch.isinf(restricted)])
    for _ in range(200):
        logits, generated = random_case(rng)
        banned = torch.rand(logits.shape, generator=torch.Generator().manual_seed(rng.randrange(10**6))) < 0.2
        banned[:, 0] = False  # a restricted row keeps some token
        logits = logits.masked_fill(banned, float("-inf"))
        temperature, top_k = rng.choice([1.0, rng.uniform(0.3, 2.0)]), rng.choice([0, rng.randint(1, 45)])
        top_p = rng.choice([1.0, rng.uniform(0.05, 1.0)])
        rules = LogitsRules(DecodeConfig(do_sample=True, temperature=temperature, top_k=top_k, top_p=top_p), eos_id=1)
        got, want = rules.warp(generated, logits), ref_warp(logits, temperature, top_k, top_p)
        assert torch.equal(torch.isinf(got), torch.isinf(want))
        torch.testing.assert_close(got[~torch.isinf(got)], want[~torch.isinf(want)])


# ---- the step_logprobs hook and groups ------------------------------------------------------------


def mean_vote(logprobs, rows):
    """Each hypothesis' distribution: the mean of its rows' distributions."""
    hyps = rows.generated.shape[0]
    total = torch.zeros(hyps, logprobs.shape[1]).index_add_(0, rows.hypothesis, logprobs.exp())
    count = torch.zeros(hyps).index_add_(0, rows.hypothesis, torch.ones(len(logprobs)))
    return (total / count[:, None]).log()


def first_row_only(logprobs, rows):
    """mean_vote, but at step 0 only the first row of each hypothesis stays in the decoder."""
    keep = torch.ones(len(logprobs), dtype=torch.bool)
    if rows.generated.shape[1] == 0:
        keep[1:] = rows.hypothesis[1:] != rows.hypothesis[:-1]
    return mean_vote(logprobs, rows), keep


@pytest.mark.parametrize("mode", ["greedy", "beam"])
def test_groups_of_copies_decode_as_their_prompt(tok, tiny, mode):
    """A group of copies of one prompt, averaged by the hook, decodes as that prompt alone (beam
    search with beam_size=1 is greedy decoding), whether the copies stay or leave after step 0."""
    prompts = make_prompts(tok, [3, 9, 6])
    copies, groups = [prompts[0], prompts[0], prompts[1], prompts[2], prompts[2], prompts[2]], [0, 0, 1, 2, 2, 2]
    config = DecodeConfig(**MODES[mode])
    plain = run(tiny, tok, prompts, config)
    for hook, use_cache in itertools.product((mean_vote, first_row_only), (True, False)):
        grouped = run(tiny, tok, copies, config, groups=groups, step_logprobs=hook, use_cache=use_cache)
        assert_same(grouped, plain)


def test_step_hook_can_end_a_group_and_errors(tok, tiny):
    prompts = make_prompts(tok, [3, 9, 6])
    eos_logp = IncrementalDecoder(tiny, prompts[1:2], pad_id=tok.pad_id).logits().log_softmax(1)[0, tok.sep_id]

    def drop_group_1(logprobs, rows):  # its rows leave at step 0: its hypothesis can only end
        keep = (rows.prompt_index != 1) if rows.generated.shape[1] == 0 else torch.ones(len(logprobs), dtype=torch.bool)
        return logprobs, keep

    out = run(tiny, tok, prompts, DecodeConfig(max_new_tokens=5, beam_size=2), step_logprobs=drop_group_1)
    assert out[1][0].ids == [] and out[1][0].finished and math.isclose(out[1][0].logprob, eos_logp, abs_tol=1e-5)
    assert any(hs[0].ids for hs in (out[0], out[2]))
    with pytest.raises(NlpkitError, match="step_logprobs"):
        run(tiny, tok, prompts, DecodeConfig(), groups=[0, 0, 1])
    with pytest.raises(NlpkitError, match="without gaps"):
        run(tiny, tok, prompts, DecodeConfig(), groups=[0, 2, 2], step_logprobs=mean_vote)
    with pytest.raises(NlpkitError, match="do_sample"):
        run(tiny, tok, prompts, DecodeConfig(do_sample=True), step_logprobs=mean_vote)

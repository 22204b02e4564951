"""The generation engine: the KV cache equals full recomputation, batching equals one by one, and
beam search / sampling / constraints / streaming / Conditional LayerNorm behave as documented."""
import itertools
import math

import pytest
import torch
from torch import nn
from transformers import BertConfig

from nlpkit.errors import NlpkitError
from nlpkit.generation import GenerationConfig, IncrementalDecoder, generate, stream
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
    config = GenerationConfig(**MODES[mode])
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
        config = GenerationConfig(**{**MODES[mode], "max_new_tokens": 4})
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
    config = GenerationConfig(**MODES[mode])
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
    config = GenerationConfig(max_new_tokens=max_new, beam_size=len(small) ** 2, num_return_sequences=5,
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
    out = run(eos_model, tok, prompts, GenerationConfig(max_new_tokens=8, min_new_tokens=4, beam_size=3))
    assert all(len(hs[0].ids) >= 4 and hs[0].finished for hs in out)
    assert all(len(hs[0].ids) == 0 for hs in run(eos_model, tok, prompts, GenerationConfig(beam_size=3)))

    plain = run(tiny, tok, prompts, GenerationConfig(max_new_tokens=12, beam_size=3))
    assert any(len(set(hs[0].ids)) < len(hs[0].ids) for hs in plain)  # repeats happen without the ban
    for n in (1, 2):
        banned = run(tiny, tok, prompts, GenerationConfig(max_new_tokens=12, beam_size=3, no_repeat_ngram_size=n,
                                                          num_return_sequences=3, early_stopping="all"))
        for hs in banned:
            for h in hs:
                grams = [tuple(h.ids[i:i + n]) for i in range(len(h.ids) - n + 1)]
                assert len(grams) == len(set(grams))

    # "all" keeps searching until beam_size hypotheses ended (or max_new_tokens); n-best sorted by score
    full = run(tiny, tok, prompts, GenerationConfig(max_new_tokens=20, beam_size=4, num_return_sequences=4,
                                                    early_stopping="all"))
    for hs in full:
        assert len(hs) == 4
        assert [h.score for h in hs] == sorted((h.score for h in hs), reverse=True)
        for h in hs:
            assert math.isclose(h.score, h.logprob / (len(h.ids) + h.finished), abs_tol=1e-6)
            assert h.finished or len(h.ids) == 20
    assert any(all(h.finished for h in hs) for hs in full)
    # "best" stops once the best hypothesis has ended
    best = run(tiny, tok, prompts, GenerationConfig(max_new_tokens=20, beam_size=4))
    assert all(len(hs) == 1 and (hs[0].finished or len(hs[0].ids) == 20) for hs in best)
    assert any(hs[0].finished for hs in best)
    # max_new_tokens cuts the output
    assert all(len(hs[0].ids) <= 2 for hs in run(tiny, tok, prompts, GenerationConfig(max_new_tokens=2, beam_size=3)))


def test_sampling(tok, tiny):
    prompts = make_prompts(tok, [3, 9])
    config = GenerationConfig(max_new_tokens=10, do_sample=True, seed=11, num_return_sequences=4)
    a = run(tiny, tok, prompts, config)
    assert_same(a, run(tiny, tok, prompts, config))  # reproducible with a seed
    assert all(len(hs) == 4 for hs in a)
    assert len({tuple(h.ids) for h in a[1]}) > 1  # the samples differ from each other
    other = run(tiny, tok, prompts, GenerationConfig(**{**config.__dict__, "seed": 12}))
    assert [[h.ids for h in hs] for hs in other] != [[h.ids for h in hs] for hs in a]
    # sampling that keeps only the top token is greedy decoding
    greedy = run(tiny, tok, prompts, GenerationConfig(max_new_tokens=10))
    for keep in (dict(top_k=1), dict(top_p=1e-6)):
        sampled = run(tiny, tok, prompts, GenerationConfig(max_new_tokens=10, do_sample=True, seed=3, **keep))
        assert_same(sampled, greedy)
    # a strong repetition penalty removes repeats that greedy decoding makes
    repeats = lambda outs: sum(len(hs[0].ids) - len(set(hs[0].ids)) for hs in outs)  # noqa: E731
    many = make_prompts(tok, [3, 9, 6, 1, 4, 7], seed=5)
    base = repeats(run(tiny, tok, many, GenerationConfig(max_new_tokens=10)))
    penalised = repeats(run(tiny, tok, many, GenerationConfig(max_new_tokens=10, repetition_penalty=5.0)))
    assert base > 0 and penalised < base


@pytest.mark.parametrize("mode", ["greedy", "beam", "sample"])
def test_constraints_and_forced_prefix(tok, tiny, mode):
    prompts = make_prompts(tok, [4, 8, 6])
    config = GenerationConfig(**MODES[mode])
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
        config = GenerationConfig(**MODES[mode])
        out = run(model, tok, prompts, config, mask=mask, cond=cond)
        assert_same(out, run(model, tok, prompts, config, mask=mask, cond=cond, use_cache=False))
        if mode != "sample":
            single = [run(model, tok, [p], config, mask=mask, cond=cond[i:i + 1])[0] for i, p in enumerate(prompts)]
            assert_same(out, single)
    same_prompt = [prompts[0]] * 3
    outs = run(model, tok, same_prompt, GenerationConfig(max_new_tokens=10), mask=mask, cond=cond)
    assert len({tuple(hs[0].ids) for hs in outs}) > 1  # the condition changes the output
    with pytest.raises(NlpkitError, match="conditioner"):
        run(make_model(tok), tok, prompts, GenerationConfig(), cond=cond)


def test_stream(tok, tiny):
    prompt = make_prompts(tok, [6])[0]
    tiny.train()
    for mode in ("greedy", "sample", "beam"):
        config = GenerationConfig(**{**MODES[mode], "num_return_sequences": 1})
        streamed = []
        for token in stream(tiny, prompt, config, eos_id=tok.sep_id, pad_id=tok.pad_id):
            assert torch.is_grad_enabled()  # no grad mode leaks out between yields
            streamed.append(token)
        assert streamed == run(tiny, tok, [prompt], config)[0][0].ids
        assert tiny.training  # restored
    tiny.eval()


def test_config_and_input_errors(tok, tiny):
    config = GenerationConfig.from_dict({"beam_size": 4, "n": 2, "top_p": None, "length_penalty": 0.5})
    assert (config.beam_size, config.num_return_sequences, config.top_p, config.length_penalty) == (4, 2, 1.0, 0.5)
    with pytest.raises(NlpkitError, match="unknown keys"):
        GenerationConfig.from_dict({"beams": 4})
    for bad in (dict(num_return_sequences=3), dict(do_sample=True, beam_size=2), dict(top_p=0), dict(max_new_tokens=0)):
        with pytest.raises(NlpkitError):
            GenerationConfig(**bad)
    with pytest.raises(NlpkitError, match="positions"):
        run(tiny, tok, make_prompts(tok, [30]), GenerationConfig(max_new_tokens=40))
    with pytest.raises(NlpkitError, match="list of prompts"):
        run(tiny, tok, [tok.cls_id, 7, tok.sep_id], GenerationConfig())
    with pytest.raises(NlpkitError, match="vocabulary"):
        run(tiny, tok, [[tok.cls_id, 10**6]], GenerationConfig())

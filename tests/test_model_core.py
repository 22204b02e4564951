import pytest
import torch

from nlpkit.model import apply_conditional_layernorm, causal_mask, load_backbone, run_bert, unilm_mask
from nlpkit.model.masks import additive
from nlpkit.tokenizer import Tokenizer

TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
            max_position_embeddings=64)


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.build(["今天天气很好我们去公园散步吧明天下雨"])


def _bert(tok, impl):
    torch.manual_seed(0)
    bert, _ = load_backbone("tiny", tok, tiny=TINY)
    bert.config._attn_implementation = impl
    return bert.eval()


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_unilm_mask_hides_the_future_of_the_target(tok, impl):
    bert = _bert(tok, impl)
    ids = torch.tensor([tok.encode("今天天气很好", "去公园散步").input_ids])
    types = torch.tensor([tok.encode("今天天气很好", "去公园散步").token_type_ids])
    valid = torch.ones_like(ids)
    first_target = types[0].tolist().index(1)
    changed = ids.clone()
    changed[0, first_target + 2] = tok.token_to_id("雨")
    a = run_bert(bert, ids, types, unilm_mask(types, valid))
    b = run_bert(bert, changed, types, unilm_mask(types, valid))
    before = first_target + 2
    assert torch.equal(a[0, :before], b[0, :before])  # source and earlier target positions untouched
    assert not torch.allclose(a[0, before:], b[0, before:])  # the changed position and later ones differ
    # source positions attend to each other both ways: changing a source token changes earlier source outputs
    src_changed = ids.clone()
    src_changed[0, 5] = tok.token_to_id("雨")
    c = run_bert(bert, src_changed, types, unilm_mask(types, valid))
    assert not torch.allclose(a[0, 1], c[0, 1])


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_causal_mask(tok, impl):
    bert = _bert(tok, impl)
    ids = torch.tensor([tok.encode("今天天气很好我们去公园").input_ids])
    types, valid = torch.zeros_like(ids), torch.ones_like(ids)
    changed = ids.clone()
    changed[0, 6] = tok.token_to_id("雨")
    a = run_bert(bert, ids, types, causal_mask(valid))
    b = run_bert(bert, changed, types, causal_mask(valid))
    assert torch.equal(a[0, :6], b[0, :6]) and not torch.allclose(a[0, 6:], b[0, 6:])
    # the same through inputs_embeds (how a task adds features to the word embeddings)
    embeds = bert.embeddings.word_embeddings(ids)
    assert torch.allclose(run_bert(bert, None, types, causal_mask(valid), inputs_embeds=embeds), a, atol=1e-6)


def test_float_zero_one_mask_would_mask_nothing(tok):
    """Why masks go through additive(): transformers adds a float 4-D mask to the scores."""
    bert = _bert(tok, "sdpa")
    ids = torch.tensor([tok.encode("今天天气很好我们去公园").input_ids])
    changed = ids.clone()
    changed[0, 6] = tok.token_to_id("雨")
    mask = causal_mask(torch.ones_like(ids))
    wrong = [bert(input_ids=x, attention_mask=mask.float()).last_hidden_state for x in (ids, changed)]
    right = [bert(input_ids=x, attention_mask=additive(mask)).last_hidden_state for x in (ids, changed)]
    assert not torch.allclose(wrong[0][0, :6], wrong[1][0, :6])
    assert torch.equal(right[0][0, :6], right[1][0, :6])


def test_padding_does_not_change_outputs(tok):
    bert = _bert(tok, "sdpa")
    enc = tok.encode("今天天气", "很好")
    ids = torch.tensor([enc.input_ids + [0, 0, 0]])
    types = torch.tensor([enc.token_type_ids + [0, 0, 0]])
    valid = torch.tensor([[1] * len(enc) + [0, 0, 0]])
    padded = run_bert(bert, ids, types, unilm_mask(types, valid))
    alone = run_bert(bert, ids[:, : len(enc)], types[:, : len(enc)], unilm_mask(types[:, : len(enc)]))
    assert torch.allclose(padded[0, : len(enc)], alone[0], atol=1e-6)
    assert not torch.isnan(padded).any()


def test_conditional_layernorm_starts_as_the_plain_model(tok):
    bert = _bert(tok, "sdpa")
    ids = torch.tensor([tok.encode("今天天气很好").input_ids])
    types, mask = torch.zeros_like(ids), causal_mask(torch.ones_like(ids))
    plain = run_bert(bert, ids, types, mask)
    conditioner = apply_conditional_layernorm(bert, cond_dim=8, hidden=16)
    n_norms = 1 + 2 * bert.config.num_hidden_layers
    assert len(conditioner.layers) == n_norms
    cond = torch.randn(1, 8)
    with conditioner.condition(cond):
        same = run_bert(bert, ids, types, mask)
    assert torch.equal(plain, run_bert(bert, ids, types, mask))  # no condition: the plain model exactly
    assert torch.allclose(plain, same, atol=1e-6, rtol=0)  # zero-initialised: condition has no effect yet
    # after an update of the condition weights, different conditions give different outputs
    for layer in conditioner.layers:
        torch.nn.init.normal_(layer.cond_gamma.weight, std=0.1)
    with conditioner.condition(cond):
        x = run_bert(bert, ids, types, mask)
    with conditioner.condition(-cond):
        y = run_bert(bert, ids, types, mask)
    assert not torch.allclose(x, y)
    # parameter names of the LayerNorms are unchanged, so pretrained weights keep loading
    names = dict(bert.named_parameters())
    assert "encoder.layer.0.output.LayerNorm.weight" in names
    assert "encoder.layer.0.output.LayerNorm.cond_gamma.weight" in names

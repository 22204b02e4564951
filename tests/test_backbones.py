"""Backbones beyond BERT (issue 19): for every architecture in nlpkit.model.arch, a small random
checkpoint folder made here (transformers' own classes, nlpkit's vocabulary) loads with model=DIR and
keeps every BERT task working: UniLM/causal masks, the KV cache (== recomputation), Conditional
LayerNorm, run directories that AutoModel reads back, one training step of each task family."""
import json

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, ElectraForPreTraining
from torch import nn

from nlpkit.checkpoint import load_run
from nlpkit.config import build_config
from nlpkit.errors import NlpkitError
from nlpkit.generation import DecodeConfig, generate
from nlpkit.model import (ARCHS, apply_conditional_layernorm, backbone_config, causal_mask, load_backbone, run_bert,
                          supports_cache, unilm_mask)
from nlpkit.model.cln import is_layer_norm
from nlpkit.registry import get_task_class
from nlpkit.tokenizer import Tokenizer
from nlpkit.training import train_task
from nlpkit.training.encode import prepare_task
from nlpkit.training.plan import plan_training

SIZES = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
             max_position_embeddings=128, initializer_range=0.2)  # peaked logits: no near-ties in decoding
#: embedding_size differs from hidden_size: the projection into the encoder and the heads sized from each
EXTRA = {"albert": dict(embedding_size=16), "electra": dict(embedding_size=16)}
MODEL_CLASS = {"bert": "BertModel", "ernie": "ErnieModel", "roformer": "RoFormerModel", "electra": "ElectraModel",
               "albert": "AlbertModel", "deberta-v2": "DebertaV2Model"}
TASKS = ["seq2seq", "ner", "classify"]
QUICK = ["max_length=64", "trainer.progress=false", "trainer.batch_size=4"]


@pytest.fixture(scope="module")
def tok():
    texts = []
    for task in TASKS:  # the vocabulary covers the samples the training steps read
        t = get_task_class(task)(build_config(get_task_class(task)))
        texts += t.texts(t.read_data(t.sample_path("train")))
    return Tokenizer.build(texts, vocab_size=2000)


@pytest.fixture(scope="module")
def checkpoints(tok, tmp_path_factory):
    """{arch: folder}: electra is saved as a discriminator (ElectraForPreTraining, no MLM head)."""
    out = {}
    for arch in ARCHS:
        torch.manual_seed(0)
        config = backbone_config("tiny", tok, tiny={**SIZES, **EXTRA.get(arch, {}), "architecture": arch})
        model = ElectraForPreTraining(config) if arch == "electra" else AutoModelForMaskedLM.from_config(config)
        out[arch] = tmp_path_factory.mktemp(arch)
        model.save_pretrained(out[arch])
        tok.save(out[arch])
    return out


class LM(nn.Module):
    def __init__(self, folder, tok):
        super().__init__()
        self.bert, self.cls = load_backbone(str(folder), tok, lm_head=True)


def _lm(checkpoints, arch, tok):
    torch.manual_seed(0)
    return LM(checkpoints[arch], tok).eval()


def _ids(tok, *texts):
    enc = tok.encode(*texts)
    return torch.tensor([enc.input_ids]), torch.tensor([enc.token_type_ids])


@pytest.mark.parametrize("arch", list(ARCHS))
def test_model_dir_loads_its_architecture(tok, checkpoints, arch, capsys):
    model = _lm(checkpoints, arch, tok)
    # one line for what is new (electra's MLM head), else nothing: no load report, no progress bar
    note = capsys.readouterr().err
    assert ("newly initialised" in note and "MLM head" in note) == (arch == "electra")
    assert len(note.strip().splitlines()) == (arch == "electra") and "LOAD REPORT" not in note
    assert type(model.bert).__name__ == MODEL_CLASS[arch]
    saved = AutoModel.from_pretrained(checkpoints[arch])
    for name, value in saved.state_dict().items():  # every pretrained tensor arrived
        if "pooler" not in name:  # AutoModel adds a pooler nlpkit does not use
            assert torch.equal(model.bert.state_dict()[name], value), name
    # the head maps hidden states to the vocabulary, tied to the word embeddings
    ids, types = _ids(tok, "今天天气很好")
    with torch.no_grad():
        logits = model.cls(run_bert(model.bert, ids, types, causal_mask(torch.ones_like(ids))))
    assert logits.shape == (1, ids.shape[1], model.bert.config.vocab_size)
    tied = model.bert.get_input_embeddings().weight
    assert any(p is tied for p in model.cls.parameters()) or any(p is tied for p in model.parameters())


def _other(tok, token):
    """Another ordinary token than `token` (5: after the specials)."""
    return int(token) + 1 if int(token) + 1 < len(tok) else 5


@pytest.mark.parametrize("arch", list(ARCHS))
def test_masks(tok, checkpoints, arch):
    bert = _lm(checkpoints, arch, tok).bert
    ids, types = _ids(tok, "今天天气很好", "去公园散步")
    valid = torch.ones_like(ids)
    target = types[0].tolist().index(1) + 2
    changed = ids.clone()
    changed[0, target] = _other(tok, ids[0, target])
    with torch.no_grad():
        a, b = (run_bert(bert, x, types, unilm_mask(types, valid)) for x in (ids, changed))
        assert torch.equal(a[0, :target], b[0, :target])  # UniLM: the future of a target is hidden
        assert not torch.allclose(a[0, target:], b[0, target:])
        source = ids.clone()
        source[0, 5] = _other(tok, ids[0, 5])  # the source is bidirectional: an earlier position sees it
        assert not torch.allclose(a[0, 1], run_bert(bert, source, types, unilm_mask(types, valid))[0, 1])
        c, d = (run_bert(bert, x, torch.zeros_like(types), causal_mask(valid)) for x in (ids, changed))
        assert torch.equal(c[0, :target], d[0, :target]) and not torch.allclose(c[0, target:], d[0, target:])
        # inputs_embeds in place of input_ids (how nl2sql adds its features)
        embeds = bert.get_input_embeddings()(ids)
        same = run_bert(bert, None, torch.zeros_like(types), causal_mask(valid), inputs_embeds=embeds)
        torch.testing.assert_close(same, c, atol=1e-5, rtol=1e-5)
        # left padding with positions counted from the first valid token: the row computes what it computes alone
        pad = 3
        padded = torch.cat([torch.full((1, pad), tok.pad_id), ids], 1)
        pvalid = torch.cat([torch.zeros(1, pad, dtype=torch.long), valid], 1)
        ptypes = torch.cat([torch.zeros(1, pad, dtype=torch.long), types], 1)
        positions = (pvalid.cumsum(1) - 1).clamp(min=0)
        e = run_bert(bert, padded, ptypes, unilm_mask(ptypes, pvalid), positions)
        torch.testing.assert_close(e[:, pad:], a, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["greedy", "beam"])
@pytest.mark.parametrize("arch", list(ARCHS))
def test_cache_equals_recompute(tok, checkpoints, arch, mode):
    model = _lm(checkpoints, arch, tok)
    assert supports_cache(model.bert) == (arch not in ("albert", "deberta-v2"))
    g = torch.Generator().manual_seed(1)
    prompts = [[tok.cls_id] + torch.randint(5, len(tok), (n,), generator=g).tolist() + [tok.sep_id] for n in (3, 9, 6)]
    config = DecodeConfig(max_new_tokens=8, beam_size=1 if mode == "greedy" else 3)
    for mask in ("unilm", "causal"):
        runs = [generate(model, prompts, config, mask=mask, eos_id=tok.sep_id, pad_id=tok.pad_id, use_cache=c)
                for c in (True, False)]
        assert [[h.ids for h in hs] for hs in runs[0]] == [[h.ids for h in hs] for hs in runs[1]]
        for hs, ks in zip(*runs):
            assert all(abs(h.score - k.score) <= 1e-4 for h, k in zip(hs, ks))


@pytest.mark.parametrize("arch", list(ARCHS))
def test_conditional_layernorm_starts_as_the_plain_model(tok, checkpoints, arch):
    bert = _lm(checkpoints, arch, tok).bert
    ids, types = _ids(tok, "今天天气很好")
    mask = causal_mask(torch.ones_like(ids))
    with torch.no_grad():
        plain = run_bert(bert, ids, types, mask)
    norms = {id(m) for name, m in bert.named_modules() if is_layer_norm(m) and name not in ARCHS[arch].not_conditioned}
    conditioner = apply_conditional_layernorm(bert, cond_dim=8, hidden=16)
    assert len(conditioner.layers) == len(norms) >= 1 + bert.config.num_hidden_layers - (arch == "albert")
    assert not any(is_layer_norm(m) and not hasattr(m, "cond_gamma") and name not in ARCHS[arch].not_conditioned
                   for name, m in bert.named_modules())
    cond = torch.randn(1, 8)
    with torch.no_grad():
        with conditioner.condition(cond):
            torch.testing.assert_close(run_bert(bert, ids, types, mask), plain, atol=1e-5, rtol=0)
        for layer in conditioner.layers:
            nn.init.normal_(layer.cond_gamma.weight, std=0.1)
        with conditioner.condition(cond):
            x = run_bert(bert, ids, types, mask)
        with conditioner.condition(-cond):
            assert not torch.allclose(x, run_bert(bert, ids, types, mask))


def test_custom_layer_norm_classes_are_conditioned():
    """A LayerNorm class of transformers' own (DebertaLayerNorm: epsilon as variance_epsilon)."""
    from transformers.models.deberta.modeling_deberta import DebertaLayerNorm

    torch.manual_seed(0)
    norm = DebertaLayerNorm(16, eps=1e-7)
    nn.init.normal_(norm.weight)
    nn.init.normal_(norm.bias)
    block = nn.Sequential(nn.Linear(8, 16), norm)
    x = torch.randn(2, 3, 8)
    with torch.no_grad():
        plain = block(x)
        conditioner = apply_conditional_layernorm(block, cond_dim=4)
        assert len(conditioner.layers) == 1 and conditioner.layers[0].eps == 1e-7
        with conditioner.condition(torch.randn(2, 4)):
            torch.testing.assert_close(block(x), plain, atol=1e-5, rtol=0)


def _task(name, folder, out, *extra):
    task_cls = get_task_class(name)
    cfg = build_config(task_cls, [f"model={folder}", f"output_dir={out}", *QUICK, *extra])
    return task_cls(cfg), cfg


@pytest.mark.parametrize("name", TASKS)
@pytest.mark.parametrize("arch", list(ARCHS))
def test_one_training_step(checkpoints, arch, name, tmp_path):
    """A generation, a tagging and a classification task learn on each backbone: one AdamW step on a
    batch lowers its loss (dropout off, so the two losses compare)."""
    task, cfg = _task(name, checkpoints[arch], tmp_path)
    run = plan_training(task, cfg)
    prepare_task(task, cfg, run)
    train = run.train
    torch.manual_seed(0)
    model = task.build_model(cfg.model).eval()
    batch = task.collate([task.encode(r) for r in train[:4]])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)  # small: AdamW steps by ~lr per weight
    before = task.loss(model, batch)
    before.backward()
    grad = model.bert.get_input_embeddings().weight.grad
    assert grad is not None and grad.abs().sum() > 0  # the backbone learns too
    optimizer.step()
    with torch.no_grad():
        assert task.loss(model, batch).item() < before.item()


@pytest.mark.parametrize("arch", list(ARCHS))
def test_run_dir_round_trip(checkpoints, arch, tmp_path):
    """Train (2 steps) -> the run dir is that architecture's checkpoint: AutoModel reads the trained
    backbone from it, and nlpkit loads it back as the same model."""
    out = tmp_path / "run"
    task, cfg = _task("seq2seq", checkpoints[arch], out, "trainer.max_steps=2", "trainer.epochs=1",
                      "data.train=" + str(get_task_class("seq2seq").sample_path("dev")))
    train_task(task, cfg)
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == arch and config["architectures"] == [MODEL_CLASS[arch]]
    _, model = load_run(out)
    assert type(model.bert).__name__ == MODEL_CLASS[arch]
    hf = AutoModel.from_pretrained(out)
    assert type(hf).__name__ == MODEL_CLASS[arch]
    mine = model.bert.state_dict()
    for name, value in hf.state_dict().items():
        if "pooler" not in name:  # AutoModel adds a pooler nlpkit does not train
            assert torch.equal(mine[name], value), name
    pretrained = AutoModel.from_pretrained(checkpoints[arch]).get_input_embeddings().weight
    assert not torch.equal(hf.get_input_embeddings().weight, pretrained)  # the trained weights, not the start


@pytest.mark.parametrize("arch", list(ARCHS))
def test_tiny_architecture(tok, arch):
    """tiny.architecture picks the offline default model's type (a typed key with choices)."""
    cfg = build_config(get_task_class("classify"), [f"tiny.architecture={arch}", "tiny.hidden_size=32",
                                                    "tiny.intermediate_size=64", "tiny.num_hidden_layers=1"])
    bert, head = load_backbone("tiny", tok, lm_head=True, tiny=cfg.tiny)
    assert type(bert).__name__ == MODEL_CLASS[arch] and bert.config.vocab_size == len(tok)
    ids, types = _ids(tok, "今天")
    assert head(run_bert(bert, ids, types, causal_mask(torch.ones_like(ids)))).shape[-1] == len(tok)


def test_unknown_architecture_is_one_clear_error(tok, tmp_path):
    with pytest.raises(NlpkitError, match="tiny.architecture="):
        build_config(get_task_class("classify"), ["tiny.architecture=gpt2"])
    for model_type in ("gpt2", "roberta"):
        folder = tmp_path / model_type
        AutoModel.from_config(AutoConfig.for_model(model_type, n_layer=1, num_hidden_layers=1, hidden_size=32,
                                                   n_embd=32, num_attention_heads=2, n_head=2,
                                                   intermediate_size=64, vocab_size=len(tok))).save_pretrained(folder)
        tok.save(folder)
        with pytest.raises(NlpkitError) as err:
            load_backbone(str(folder), tok)
        message = str(err.value)
        assert "\n" not in message and f"model_type '{model_type}' is not supported" in message
        assert "bert, ernie, roformer, electra, albert, deberta-v2" in message
    assert "tokenizer" in message  # roberta: why it is refused
    # a deberta-v2 with a convolution layer would leak the future through the masks: refused by name
    config = backbone_config("tiny", tok, tiny={**SIZES, "architecture": "deberta-v2"})
    config.conv_kernel_size = 3
    with pytest.raises(NlpkitError, match="conv_kernel_size=3"):
        load_backbone(config, tok)

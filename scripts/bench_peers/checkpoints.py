"""A pretrained checkpoint folder (transformers layout: config.json, vocab.txt, pytorch_model.bin or
model.safetensors) as the peers load it: spec["init"] = that folder, absent or None = a random tiny model.

bert4torch 0.6.0 loads such a folder (ALBERT or BERT) with three things a user has to supply, each
found by comparing its outputs with transformers' on the same text (b4t_load_check):
- a bert4torch_config.json: the folder's config.json plus "model" (bert4torch does not read
  config.json from a local path) and "bias": true (without it BertLayer builds its feed-forward layers
  and their LayerNorm without biases, and the checkpoint's are silently left out);
- for a bare BertModel checkpoint (m3e-small: keys without the "bert." prefix bert4torch's mapping
  expects), a mapping that adds the prefix; ALBERT's "albert." keys load as they are;
- nothing else: then its hidden states (and an ALBERT's masked-LM logits) equal transformers' within
  TOLERANCE. A runner's model must hold exactly the verified weights, or it refuses (InitRefused)
  rather than train a silently random model.
"""
import json
from pathlib import Path

from .common import InputMismatch

TOLERANCE = 1e-4  # max |difference| of the hidden states (and MLM probabilities) vs transformers
PROBE = "擂台赛的下一站比赛将于１月１０日在呼和浩特市举行。iPhone 2024年，销量增长了35%"


class InitRefused(InputMismatch):
    """The checkpoint cannot be loaded faithfully: the row stops before training (one line)."""


def folder(init):
    """The checkpoint folder, checked: config.json, vocab.txt and one weights file."""
    path = Path(init).expanduser()
    missing = [n for n in ("config.json", "vocab.txt") if not (path / n).is_file()]
    if missing or weights(path) is None:
        raise InitRefused(f"init={init}: not a checkpoint folder (missing {', '.join(missing) or 'weights'})")
    return path


def weights(path):
    return next((Path(path) / n for n in ("pytorch_model.bin", "model.safetensors") if (Path(path) / n).is_file()),
                None)


def config(path):
    return json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))


def do_lower_case(path):
    """Whether the folder's own tokenizer lower-cases (what transformers and nlpkit do with it)."""
    from transformers import AutoTokenizer

    normalizer = AutoTokenizer.from_pretrained(str(path)).backend_tokenizer.normalizer
    return bool(json.loads(normalizer.__getstate__()).get("lowercase", True))


# ---- bert4torch ---------------------------------------------------------------------------------
def b4t_config(path, workdir):
    """workdir/bert4torch_config.json for the folder: its config.json + "model" + "bias": true."""
    cfg = config(path)
    kind = cfg.get("model_type")
    if kind not in ("bert", "albert"):
        raise InitRefused(f"init={path}: model_type {kind!r}; the bert4torch peers load BERT or ALBERT only")
    out = Path(workdir) / "bert4torch_config.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**cfg, "model": kind, "bias": True}, indent=2), encoding="utf-8")
    return str(out), cfg


def b4t_mapping(path, cfg):
    """None (bert4torch's own mapping) unless the weights are a bare BertModel's: then a callable
    checkpoint key -> model key that puts back the "bert." prefix bert4torch's mapping expects."""
    from types import SimpleNamespace

    from bert4torch.models.bert import BERT
    from bert4torch.snippets import load_checkpoint

    if cfg["model_type"] != "bert" or any(k.startswith("bert.") for k in load_checkpoint(str(weights(path)))):
        return None
    shape = SimpleNamespace(num_hidden_layers=cfg["num_hidden_layers"], hidden_size=cfg["hidden_size"],
                            embedding_size=cfg.get("embedding_size", cfg["hidden_size"]))
    model_key = {ckpt: mine for mine, ckpt in BERT.variable_mapping(shape).items()}
    return lambda key: model_key.get("bert." + key, key)


def b4t_build(init, workdir, new=(), **kwargs):
    """build_transformer_model on the checkpoint (kwargs: the example's own, e.g. segment_vocab_size=0),
    refused unless its weights are the ones b4t_load_check proved equal to transformers'.
    new: parts of the names of layers the example adds that a checkpoint may lack (conditional
    LayerNorm's "dense1"/"dense2", an MLM head "mlm" on a bare BertModel): a weight named so that the
    checked model lacks keeps bert4torch's own initialisation and is listed in the report ("new");
    every other weight must be the verified one.
    Returns (model, {"maxdiff_hidden", "maxdiff_mlm", ..., "new"})."""
    from bert4torch.models import build_transformer_model

    path = folder(init)
    config_path, cfg = b4t_config(path, workdir)
    mapping = b4t_mapping(path, cfg)
    model = build_transformer_model(config_path, str(weights(path)), verbose=0,
                                    **({"mapping": mapping} if mapping else {}), **kwargs)
    reference, report = b4t_load_check(path, workdir)
    theirs = dict(reference.named_parameters())
    report["new"] = []
    for name, p in model.named_parameters():
        if name not in theirs and any(part in name for part in new):
            report["new"].append(name)
        elif name not in theirs or theirs[name].shape != p.shape or not bool((theirs[name] == p).all()):
            raise InitRefused(f"init={init}: bert4torch's {name} is not the checkpoint's verified weight; refused")
    return model, report


def b4t_load_check(init, workdir):
    """Load the checkpoint into bert4torch (segments, and the MLM head where the checkpoint has one) and
    compare with transformers on PROBE. Returns (the bert4torch model, report); InitRefused when a
    difference exceeds TOLERANCE."""
    import torch
    from bert4torch.models import build_transformer_model
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    path = folder(init)
    config_path, cfg = b4t_config(path, Path(workdir) / "load_check")
    mapping = b4t_mapping(path, cfg)
    with_mlm = cfg.get("architectures", [""])[0].endswith("ForMaskedLM")
    ours = build_transformer_model(config_path, str(weights(path)), verbose=0, with_mlm=with_mlm,
                                   **({"mapping": mapping} if mapping else {})).eval()
    theirs = (AutoModelForMaskedLM if with_mlm else AutoModel).from_pretrained(str(path)).eval()
    enc = AutoTokenizer.from_pretrained(str(path))(PROBE, "第二句", return_tensors="pt")
    with torch.no_grad():
        out = ours([enc["input_ids"], enc["token_type_ids"]])
        ref = theirs(**enc, output_hidden_states=True)
    hidden, mlm = (out if with_mlm else (out, None))
    report = {"maxdiff_hidden": float((hidden - ref.hidden_states[-1]).abs().max()), "tolerance": TOLERANCE}
    if with_mlm:  # probabilities: the logits are large, their float error is not
        report["maxdiff_mlm"] = float((mlm.softmax(-1) - ref.logits.softmax(-1)).abs().max())
    worst = max(v for k, v in report.items() if k.startswith("maxdiff"))
    if not worst <= TOLERANCE:
        raise InitRefused(f"init={init}: bert4torch's outputs differ from transformers' by {worst:.3g} "
                          f"(> {TOLERANCE}): it does not load this checkpoint faithfully; refused")
    return ours, report


def b4t_backbone(spec, workdir, new=(), **kwargs):
    """The bert4torch runners' BERT: (model, hidden size, vocab.txt, do_lower_case, load report or None).
    With spec["init"], the checkpoint (b4t_build), its vocab.txt and its tokenizer's case rule (the
    examples' do_lower_case=True is bert-base-chinese's; m3e-small's tokenizer keeps case, and so do
    transformers and nlpkit with it); else a random BERT at nlpkit's tiny size (spec["tiny"]) with
    nlpkit's vocabulary (spec["vocab"]), lower-cased. kwargs: the example's own; new: as b4t_build's."""
    from bert4torch.models import build_transformer_model

    from .common import vocab_size, write_bert_config

    if spec.get("init"):
        path = folder(spec["init"])
        model, report = b4t_build(path, workdir, new, **kwargs)
        return model, int(config(path)["hidden_size"]), str(path / "vocab.txt"), do_lower_case(path), report
    config_path = write_bert_config(workdir, spec["tiny"], vocab_size(spec["vocab"]))
    model = build_transformer_model(config_path=config_path, checkpoint_path=None, verbose=0, **kwargs)
    return model, int(spec["tiny"]["hidden_size"]), spec["vocab"], True, None

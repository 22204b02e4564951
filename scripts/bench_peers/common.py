"""What the peer runners share: threads and seeds, the vocabulary, the BERT config file, data loading."""
import json
import os
import random
import time
from pathlib import Path


def setup(spec):
    """Torch threads and every seed, as the spec says; returns torch."""
    import numpy as np
    import torch

    torch.set_num_threads(int(spec["threads"]))
    seed = int(spec.get("seed", 42))
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch


class Clock:
    """Wall seconds and CPU seconds (this process, all its threads) of a `with` block."""

    def __enter__(self):
        self.t0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        self.cpu = time.process_time() - self.c0


def nlpkit_vocab(texts, folder, vocab_size=8000):
    """Build nlpkit's tiny vocabulary from `texts` exactly as `model=tiny` does (nlpkit.tokenizer.Tokenizer.build)
    and write it as folder/vocab.txt; returns the path."""
    from nlpkit.tokenizer import Tokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer.build(list(texts), vocab_size=vocab_size)
    vocab = sorted(tok.vocab.items(), key=lambda kv: kv[1])
    path = folder / "vocab.txt"
    path.write_text("".join(t + "\n" for t, _ in vocab), encoding="utf-8")
    return str(path)


def vocab_size(vocab_path):
    with open(vocab_path, encoding="utf-8") as f:
        return sum(1 for _ in f)


def write_bert_config(folder, tiny, n_vocab, **extra):
    """folder/bert4torch_config.json (the name bert4torch's build_transformer_model looks for): a BERT
    config with Google / transformers field names, for a randomly initialised model of nlpkit's tiny
    size; returns its path."""
    config = {
        "model": "bert", "model_type": "bert", "architectures": ["BertModel"],
        "vocab_size": n_vocab,
        "hidden_size": tiny["hidden_size"],
        "num_hidden_layers": tiny["num_hidden_layers"],
        "num_attention_heads": tiny["num_attention_heads"],
        "intermediate_size": tiny["intermediate_size"],
        "max_position_embeddings": tiny.get("max_position_embeddings", 512),
        "hidden_dropout_prob": tiny.get("hidden_dropout_prob", 0.1),
        "attention_probs_dropout_prob": tiny.get("attention_probs_dropout_prob", 0.1),
        "hidden_act": "gelu",
        "type_vocab_size": 2,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
        **extra,
    }
    path = Path(folder) / "bert4torch_config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return str(path)


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_tsv(path):
    """`text<TAB>label` lines -> [(text, label)]."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                text, label = line.rsplit("\t", 1)
                rows.append((text, label))
    return rows


def read_bio(path):
    """Character-per-line BIO (`char TAG`, a blank line between paragraphs) -> [(text, [(start, end, type)])],
    end exclusive."""
    out, chars, tags = [], [], []

    def flush():
        if chars:
            out.append(("".join(chars), spans_from_bio(tags)))
        chars.clear()
        tags.clear()

    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                flush()
                continue
            char, tag = line.rsplit(" ", 1)
            chars.append(char)
            tags.append(tag)
    flush()
    return out


def spans_from_bio(tags):
    """BIO tags -> [(start, end, type)], end exclusive (an I- that continues nothing starts an entity)."""
    spans, cur = [], None
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, _, kind = tag.partition("-")
        if cur and not (prefix == "I" and kind == cur[2]):
            spans.append((cur[0], i, cur[2]))
            cur = None
        if prefix == "B" or (prefix == "I" and cur is None):
            cur = [i, i + 1, kind]
    return spans


def env_threads(n):
    """Environment for a child process that must use n threads."""
    env = dict(os.environ)
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[key] = str(n)
    env["TOKENIZERS_PARALLELISM"] = "false"
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    return env


# ---- proving the inputs -------------------------------------------------------------------------
class InputMismatch(Exception):
    """A peer would train on other inputs than nlpkit: the row stops before training."""


def check_inputs(spec, peer_ids, peer_labels):
    """Stop unless the peer tokenises the check texts to nlpkit's ids and has nlpkit's label set.

    spec["check"] = {"texts", "ids", "labels", "source"} from the parent (nlpkit's tokenizer of the run
    trained on the same file); peer_ids(text) -> the ids the peer's own code feeds its model."""
    ref = spec["check"]
    for n, (text, want) in enumerate(zip(ref["texts"], ref["ids"]), start=1):
        got = [int(i) for i in peer_ids(text)]
        if got != want:
            at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
            raise InputMismatch(f"token ids differ from nlpkit's on training text {n} {text[:40]!r}: position {at}, "
                                f"peer {got[at:at + 5]} vs nlpkit {want[at:at + 5]} (lengths {len(got)} / {len(want)})")
    ours, theirs = sorted(map(str, ref["labels"])), sorted(map(str, peer_labels))
    if ours != theirs:
        raise InputMismatch(f"label sets differ: peer {theirs[:8]} vs nlpkit {ours[:8]}")
    return {"texts_checked": len(ref["texts"]), "labels_checked": len(ours), "reference": ref.get("source")}


class PositionCounter:
    """Wraps a collate function and counts the token positions (padding included) of what it returns
    while `counting`: a speed column in padded positions compares engines, not batching policies."""

    def __init__(self, collate, key="input_ids"):
        self.collate, self.key, self.positions, self.counting = collate, key, 0, True

    def __call__(self, features):
        batch = self.collate(features)
        if self.counting:
            self.positions += _first_ids(batch, self.key).numel()
        return batch


def _first_ids(batch, key):
    """The token-id tensor of a batch: batch[key] for a mapping, else the first 2-D tensor found."""
    import torch

    if hasattr(batch, "keys") and key in batch:
        return batch[key]
    stack = [batch]
    while stack:
        item = stack.pop(0)
        if torch.is_tensor(item) and item.dim() == 2:
            return item
        if isinstance(item, (list, tuple)):
            stack.extend(item)
    raise TypeError("no 2-D token id tensor in the batch")

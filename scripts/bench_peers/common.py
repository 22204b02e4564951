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
        # bert4torch 0.6.0's BertLayer builds its feed-forward layers and their LayerNorm WITHOUT biases
        # unless the config says `bias`; BERT has them (and a checkpoint's would be left unloaded)
        "bias": True,
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
    """`text<TAB>label` lines -> [(text, label)]; `text_a<TAB>text_b<TAB>label` (LCQMC's layout) ->
    [((text_a, text_b), label)]. As nlpkit's classify reader: the number of fields tells the kind,
    and one file holds one kind."""
    rows, width = [], None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            line = line.rstrip("\n")
            if not line:
                continue
            fields = line.split("\t")
            if width is None:
                width = len(fields)
            if len(fields) != width or width not in (2, 3):
                raise ValueError(f"{path}:{n}: {len(fields)} tab-separated fields, expected "
                                 f"{width if width in (2, 3) else '2 or 3'}")
            rows.append((fields[0] if width == 2 else (fields[0], fields[1]), fields[-1]))
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

    spec["check"] = {"texts", "ids", "labels", "source"} (+ "type_ids" or "types") from the parent: nlpkit's
    tokenizer of the run trained on the same file (reference_encodings). A text is a string or a pair
    [text_a, text_b]; peer_ids(text) -> what the peer's own code feeds its model: the token ids, or a
    mapping with "input_ids" (+ "token_type_ids"). With reference "type_ids", the type ids are compared
    too; a peer that feeds none matches only all-zero ones (a single text, never a pair)."""
    ref = spec["check"]
    type_ids = ref.get("type_ids", ref.get("types")) or [None] * len(ref["ids"])  # bench_real names them "types"
    for n, (text, want, want_types) in enumerate(zip(ref["texts"], ref["ids"], type_ids), start=1):
        fed = peer_ids(tuple(text) if isinstance(text, list) else text)
        got = fed["input_ids"] if hasattr(fed, "keys") else fed
        _same(f"token ids differ from nlpkit's on training text {n} {_shown(text)}", got, want)
        fed_types = fed.get("token_type_ids") if hasattr(fed, "keys") else None
        if want_types is not None and (fed_types is not None or any(want_types)):
            # a peer feeding no type ids matches only all-zero ones (a single text), never a pair's
            _same(f"token type ids differ from nlpkit's on training text {n} {_shown(text)}",
                  fed_types if fed_types is not None else [], want_types)
    ours, theirs = sorted(map(str, ref["labels"])), sorted(map(str, peer_labels))
    if ours != theirs:
        raise InputMismatch(f"label sets differ: peer {theirs[:8]} vs nlpkit {ours[:8]}")
    return {"texts_checked": len(ref["texts"]), "labels_checked": len(ours), "reference": ref.get("source"),
            "type_ids_checked": any(t is not None for t in type_ids)}


def _shown(text):
    return repr(text[:40]) if isinstance(text, str) else repr(tuple(t[:20] for t in text))


def _same(what, got, want):
    got, want = [int(i) for i in got], [int(i) for i in want]
    if got != want:
        at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        raise InputMismatch(f"{what}: position {at}, peer {got[at:at + 5]} vs nlpkit {want[at:at + 5]} "
                            f"(lengths {len(got)} / {len(want)})")


def reference_encodings(tokenizer, texts, max_length):
    """What check_inputs compares a peer with: {"texts", "ids", "type_ids"} from nlpkit's Tokenizer
    (`encode(text)` or `encode(text_a, text_b)`, truncated to max_length); pairs become [a, b] lists (JSON)."""
    texts = [t if isinstance(t, str) else list(t) for t in texts]
    encs = [tokenizer.encode(t, maxlen=max_length) if isinstance(t, str) else tokenizer.encode(*t, maxlen=max_length)
            for t in texts]
    return {"texts": texts, "ids": [e.input_ids for e in encs], "type_ids": [e.token_type_ids for e in encs]}


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

"""Task `classify`: labels for single texts or text pairs, single-label (softmax) or multi-label (sigmoid)."""
import torch

from nlpkit.data import pad
from nlpkit.errors import NlpkitError
from nlpkit.inference import to_device
from nlpkit.model import load_backbone
from nlpkit.pipelines import Pipeline
from nlpkit.task import BertTask
from nlpkit.windows import elementwise_max, encode_windows, split_pair, text_windows, weighted_mean

from .config import PRETRAINED, TINY, ClassifyConfig
from .metrics import multi_label_scores, single_label_scores
from .model import ClassifyModel, classify_loss, probabilities
from .reader import Options, read_classify_file

#: digits kept in the probabilities returned (JSON-friendly, and equal between batch sizes)
DIGITS = 6


def _is_pair(item):
    return isinstance(item, tuple) and len(item) == 2 and all(isinstance(x, str) for x in item)


def _parse_input(item):
    """A text, a (text_a, text_b) tuple, or a record with "text" or "text_a" and "text_b" -> a record."""
    if isinstance(item, str):
        return {"text": item}
    if _is_pair(item):
        return {"text_a": item[0], "text_b": item[1]}
    if isinstance(item, dict) and all(isinstance(item.get(f), str) for f in ("text_a", "text_b")):
        return {"text_a": item["text_a"], "text_b": item["text_b"]}
    if isinstance(item, dict) and isinstance(item.get("text"), str):
        return {"text": item["text"]}
    raise NlpkitError(f'classify: expected a string, a (text_a, text_b) tuple or a record with "text" or '
                      f'"text_a" and "text_b" strings, got {item!r:.80}')


def _reader_options(cfg, state, gold):
    return Options(multi_label=cfg.multi_label, separator=cfg.label_separator, gold=gold,
                   labels=list(cfg.labels) if cfg.labels else None, columns=dict(cfg.data.columns),
                   pair=state.get("pair", False))


def _inputs(tokenizer, encoded):
    """(input_ids, token_type_ids) pairs -> a padded batch of tensors."""
    return {"input_ids": pad([ids for ids, _ in encoded], tokenizer.pad_id),
            "token_type_ids": pad([types for _, types in encoded], 0),
            "attention_mask": pad([[1] * len(ids) for ids, _ in encoded], 0)}


def _window_records(tokenizer, r, max_length, stride):
    """A training record, or one per window (pair of windows) when its text is longer than max_length."""
    if "text_a" in r:
        pairs = split_pair(tokenizer, r["text_a"], r["text_b"], max_length, stride)
        return [{**r, "text_a": r["text_a"][a.start : a.end], "text_b": r["text_b"][b.start : b.end]}
                for a, b in pairs] if len(pairs) > 1 else [r]
    ranges = text_windows(tokenizer, r["text"], max_length, stride)
    return [{**r, "text": r["text"][s:e]} for s, e in ranges] if len(ranges) > 1 else [r]


class ClassifyPipeline(Pipeline):
    """A tuple of two strings is ONE text pair; a list is a batch (of strings, pairs or records)."""

    def __call__(self, inputs, *args, **kwargs):
        if _is_pair(inputs):
            inputs = {"text_a": inputs[0], "text_b": inputs[1]}
        return super().__call__(inputs, *args, **kwargs)


class ClassifyTask(BertTask):
    """Text classification: single texts or pairs, TSV / JSONL / CSV, single- or multi-label."""

    name = "classify"
    sample = {"train": "sample/train.tsv", "dev": "sample/dev.tsv"}
    config_class, tiny_profile, pretrained_profile = ClassifyConfig, TINY, PRETRAINED
    call_options = ("threshold", "window.stride")
    pipeline_class = ClassifyPipeline

    #: one key for both kinds of data: with one gold and one predicted label per text, micro-F1 is accuracy
    metric = "micro_f1"

    # ---- data ------------------------------------------------------------------------------
    def read(self, path):
        return read_classify_file(path, _reader_options(self.cfg, self.state, gold=True))

    def read_inputs(self, path):
        return read_classify_file(path, _reader_options(self.cfg, self.state, gold=False))

    def texts(self, records):
        for r in records:
            yield from ([r["text_a"], r["text_b"]] if "text_a" in r else [r["text"]])

    def as_record(self, item, **options):
        """A text, a (text_a, text_b) tuple, or a record with "text" or "text_a" and "text_b"."""
        record = _parse_input(item)
        pair = self.state.get("pair", False)
        if ("text_a" in record) != pair:
            raise NlpkitError(f"classify: this model classifies {'text pairs' if pair else 'single texts'}, "
                              f"got {'a pair' if 'text_a' in record else 'a single text'}: {item!r:.80}")
        return record

    def prepare(self, records):
        """The labels (the config's, else the training data's, sorted) and whether the texts are pairs."""
        seen = sorted({x for r in records for x in (r["label"] if self.cfg.multi_label else [r["label"]])})
        labels = list(self.cfg.labels) if self.cfg.labels else seen
        if len(labels) < (1 if self.cfg.multi_label else 2):
            raise NlpkitError(f"classify: the training data has {len(labels)} label(s) ({', '.join(labels)}); "
                              "a classifier needs at least two (multi_label: one)")
        self.state.update({"labels": labels, "pair": "text_a" in records[0]})

    # ---- encoding --------------------------------------------------------------------------
    def encode(self, record):
        if "text_a" in record:
            enc = self.tokenizer.encode(record["text_a"], record["text_b"], maxlen=self.cfg.max_length)
        else:
            enc = self.tokenizer.encode(record["text"], maxlen=self.cfg.max_length)
        index = {label: i for i, label in enumerate(self.state["labels"])}
        target = [index[x] for x in record["label"]] if self.cfg.multi_label else index[record["label"]]
        return {"input_ids": enc.input_ids, "token_type_ids": enc.token_type_ids, "target": target}

    def collate(self, features):
        batch = _inputs(self.tokenizer, [(f["input_ids"], f["token_type_ids"]) for f in features])
        if self.cfg.multi_label:
            targets = torch.zeros(len(features), len(self.state["labels"]))
            for row, f in enumerate(features):
                targets[row, f["target"]] = 1
        else:
            targets = torch.tensor([f["target"] for f in features])
        return {**batch, "targets": targets}

    # ---- model -----------------------------------------------------------------------------
    def build_model(self, source):
        bert, _ = load_backbone(source, self.tokenizer, tiny=self.cfg.tiny)
        return ClassifyModel(bert, len(self.state["labels"]), self.cfg.pooling)

    def loss(self, model, batch):
        logits = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
        return classify_loss(logits, batch["targets"], self.cfg.multi_label)

    def training_records(self, records):
        """With window.train, a text (pair) longer than max_length becomes one record per window (pair
        of windows), each with the text's label."""
        if not self.cfg.window.train:
            return records
        return [part for r in records
                for part in _window_records(self.tokenizer, r, self.cfg.max_length, self.cfg.window.stride)]

    # ---- inference -------------------------------------------------------------------------
    def windows(self, record, stride=None, **options):
        """A text longer than max_length is read in windows (`stride` tokens shared; default window.stride)."""
        stride = self.cfg.window.stride if stride is None else stride
        second = record.get("text_b")
        return encode_windows(self.tokenizer, record.get("text_a", record.get("text")), self.cfg.max_length, stride,
                              second)

    def predict_batch(self, model, windows, **options):
        """The label probabilities of each window."""
        batch = to_device(_inputs(self.tokenizer, [(w.encoding.input_ids, w.encoding.token_type_ids)
                                                   for w in windows]), model)
        logits = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
        return probabilities(logits, self.cfg.multi_label).cpu().tolist()

    def merge(self, record, windows, probs, threshold=None, **options):
        """Single-label: {"label", "score", "scores": {label: probability}}; multi-label: {"labels": those
        above the threshold (default: the config's), "scores"}. A text read in several windows is
        scored by its windows' probabilities: their mean weighted by each window's text tokens
        (single-label), their maximum per label (multi-label: a label any part of the text carries
        is the document's)."""
        if len(probs) == 1:
            probs = probs[0]
        elif self.cfg.multi_label:
            probs = elementwise_max(probs)
        else:
            probs = weighted_mean(probs, [sum(x is not None for x in w.encoding.sequence_ids) for w in windows])
        scores = {label: round(p, DIGITS) for label, p in zip(self.state["labels"], probs)}
        if self.cfg.multi_label:
            threshold = self.cfg.threshold if threshold is None else threshold
            return {"labels": [label for label, p in scores.items() if p > threshold], "scores": scores}
        best = max(scores, key=scores.get)
        return {"label": best, "score": scores[best], "scores": scores}

    def score(self, records, predictions):
        """Accuracy and macro F1 (multi-label: micro/macro F1); rows: each record with "pred", "correct"."""
        golds = [r["label"] for r in records]
        labels = self.state["labels"]
        if self.cfg.multi_label:
            preds = [p["labels"] for p in predictions]
            metrics, same = multi_label_scores(golds, preds, labels), (lambda g, p: set(g) == set(p))
        else:
            preds = [p["label"] for p in predictions]
            metrics, same = single_label_scores(golds, preds, labels), (lambda g, p: g == p)
        return metrics, [{**r, "pred": p, "correct": same(r["label"], p)} for r, p in zip(records, preds)]

    def output_rows(self, records, predictions):
        """The input record (its other fields too, e.g. an "id"; not a gold label) with the prediction."""
        return [{**{k: v for k, v in r.items() if k != "label"}, **p} for r, p in zip(records, predictions)]

"""Task `classify`: labels for single texts or text pairs, single-label (softmax) or multi-label (sigmoid)."""
import torch

from nlpkit.data import pad, write_jsonl
from nlpkit.devices import eval_mode
from nlpkit.errors import NlpkitError
from nlpkit.model import load_backbone
from nlpkit.pipelines import Pipeline
from nlpkit.task import BertTask
from nlpkit.windows import elementwise_max, encode_windows, predict_windows, split_pair, text_windows, weighted_mean

from .config import PRETRAINED, TINY, ClassifyConfig
from .metrics import multi_label_scores, single_label_scores
from .model import ClassifyModel, classify_loss, probabilities
from .reader import Options, read_classify_file

#: digits kept in the probabilities returned (JSON-friendly, and equal between batch sizes)
DIGITS = 6


def _is_pair(item):
    return isinstance(item, tuple) and len(item) == 2 and all(isinstance(x, str) for x in item)


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

    @property
    def metric(self):
        return "micro_f1" if self.cfg.multi_label else "accuracy"

    # ---- data ------------------------------------------------------------------------------
    def _options(self, gold):
        cfg = self.cfg
        return Options(multi_label=cfg.multi_label, separator=cfg.label_separator, gold=gold,
                       labels=list(cfg.labels) if cfg.labels else None, columns=dict(cfg.data.columns),
                       pair=self.state.get("pair", False))

    def read(self, path):
        return read_classify_file(path, self._options(gold=True))

    def read_inputs(self, path):
        return read_classify_file(path, self._options(gold=False))

    def texts(self, records):
        for r in records:
            yield from ([r["text_a"], r["text_b"]] if "text_a" in r else [r["text"]])

    def as_record(self, item, **options):
        """A text, a (text_a, text_b) tuple, or a record with "text" or "text_a" and "text_b"."""
        if isinstance(item, str):
            record = {"text": item}
        elif _is_pair(item):
            record = {"text_a": item[0], "text_b": item[1]}
        elif isinstance(item, dict) and all(isinstance(item.get(f), str) for f in ("text_a", "text_b")):
            record = {"text_a": item["text_a"], "text_b": item["text_b"]}
        elif isinstance(item, dict) and isinstance(item.get("text"), str):
            record = {"text": item["text"]}
        else:
            raise NlpkitError(f'classify: expected a string, a (text_a, text_b) tuple or a record with "text" or '
                              f'"text_a" and "text_b" strings, got {item!r:.80}')
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

    @property
    def labels(self):
        return self.state["labels"]

    # ---- encoding --------------------------------------------------------------------------
    def _encoding(self, record):
        if "text_a" in record:
            return self.tokenizer.encode(record["text_a"], record["text_b"], maxlen=self.cfg.max_length)
        return self.tokenizer.encode(record["text"], maxlen=self.cfg.max_length)

    def encode(self, record):
        enc = self._encoding(record)
        index = {label: i for i, label in enumerate(self.labels)}
        target = [index[x] for x in record["label"]] if self.cfg.multi_label else index[record["label"]]
        return {"input_ids": enc.input_ids, "token_type_ids": enc.token_type_ids, "target": target}

    def collate(self, features):
        batch = self._inputs([(f["input_ids"], f["token_type_ids"]) for f in features])
        if self.cfg.multi_label:
            targets = torch.zeros(len(features), len(self.labels))
            for row, f in enumerate(features):
                targets[row, f["target"]] = 1
        else:
            targets = torch.tensor([f["target"] for f in features])
        return {**batch, "targets": targets}

    def _inputs(self, encoded):
        return {"input_ids": pad([ids for ids, _ in encoded], self.tokenizer.pad_id),
                "token_type_ids": pad([types for _, types in encoded], 0),
                "attention_mask": pad([[1] * len(ids) for ids, _ in encoded], 0)}

    # ---- model -----------------------------------------------------------------------------
    def build_model(self, source):
        bert, _ = load_backbone(source, self.tokenizer, tiny=self.cfg.tiny)
        return ClassifyModel(bert, len(self.labels), self.cfg.pooling)

    def loss(self, model, batch):
        logits = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
        return classify_loss(logits, batch["targets"], self.cfg.multi_label)

    # ---- inference -------------------------------------------------------------------------
    def predict(self, model, records, threshold=None, stride=None):
        """Single-label: {"label", "score", "scores": {label: probability}}; multi-label: {"labels": those
        above the threshold (default: the config's), "scores"}. A text longer than max_length is read in
        windows (`stride` tokens shared) and scored by its windows' probabilities: their mean weighted
        by each window's text tokens (single-label), their maximum per label (multi-label)."""
        threshold = self.cfg.threshold if threshold is None else threshold
        stride = self.cfg.window.stride if stride is None else stride
        model = getattr(model, "module", model)
        with eval_mode(model), torch.inference_mode():
            out = predict_windows(records, lambda r: self._windows(r, stride),
                                  lambda windows: self._probabilities(model, windows), self._aggregate)
        return [self._decide(o, threshold) for o in out]

    def _windows(self, record, stride):
        if "text_a" in record:
            return encode_windows(self.tokenizer, record["text_a"], self.cfg.max_length, stride, record["text_b"])
        return encode_windows(self.tokenizer, record["text"], self.cfg.max_length, stride)

    def _probabilities(self, model, windows):
        device = next(model.parameters()).device
        out = []
        for chunk in self.batches(windows, self.cfg.trainer.eval_batch_size, "predict"):
            batch = self._inputs([(w.encoding.input_ids, w.encoding.token_type_ids) for w in chunk])
            logits = model(*(batch[k].to(device) for k in ("input_ids", "token_type_ids", "attention_mask")))
            out += probabilities(logits, self.cfg.multi_label).cpu().tolist()
        return out

    def _aggregate(self, record, windows, probs):
        if len(probs) == 1:
            return self._result(probs[0])
        if self.cfg.multi_label:  # a label any part of the text carries is the document's
            return self._result(elementwise_max(probs))
        tokens = [sum(x is not None for x in w.encoding.sequence_ids) for w in windows]  # text tokens, not specials
        return self._result(weighted_mean(probs, tokens))

    def training_records(self, records):
        """With window.train, a text (pair) longer than max_length becomes one record per window (pair
        of windows), each with the text's label."""
        if not self.cfg.window.train:
            return records
        return [part for r in records for part in self._window_records(r)]

    def _window_records(self, r):
        stride, n = self.cfg.window.stride, self.cfg.max_length
        if "text_a" in r:
            pairs = split_pair(self.tokenizer, r["text_a"], r["text_b"], n, stride)
            return [{**r, "text_a": r["text_a"][a.start : a.end], "text_b": r["text_b"][b.start : b.end]}
                    for a, b in pairs] if len(pairs) > 1 else [r]
        ranges = text_windows(self.tokenizer, r["text"], n, stride)
        return [{**r, "text": r["text"][s:e]} for s, e in ranges] if len(ranges) > 1 else [r]

    def _result(self, probs):
        return {"scores": {label: round(p, DIGITS) for label, p in zip(self.labels, probs)}}

    def _decide(self, result, threshold):
        scores = result["scores"]
        if self.cfg.multi_label:
            return {"labels": [label for label, p in scores.items() if p > threshold], "scores": scores}
        best = max(scores, key=scores.get)
        return {"label": best, "score": scores[best], "scores": scores}

    def evaluate(self, model, records, **options):
        predictions = self.predict(model, records, **options)
        golds = [r["label"] for r in records]
        if self.cfg.multi_label:
            metrics = multi_label_scores(golds, [p["labels"] for p in predictions], self.labels)
            preds = [p["labels"] for p in predictions]
        else:
            preds = [p["label"] for p in predictions]
            metrics = single_label_scores(golds, preds, self.labels)
        if self.cfg.eval_output:
            same = (lambda g, p: set(g) == set(p)) if self.cfg.multi_label else (lambda g, p: g == p)
            write_jsonl(self.cfg.eval_output, [{**r, "pred": p, "correct": same(r["label"], p)}
                                               for r, p in zip(records, preds)])
        return metrics

    def output_rows(self, records, predictions):
        """The input record (its other fields too, e.g. an "id"; not a gold label) with the prediction."""
        return [{**{k: v for k, v in r.items() if k != "label"}, **p} for r, p in zip(records, predictions)]

    def pipeline(self, model, **defaults):
        return ClassifyPipeline(self, model, **defaults)

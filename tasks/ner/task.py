"""Task `ner`: named entities as character spans, with a CRF, softmax or GlobalPointer head."""
import warnings

import torch

from nlpkit.data import pad, write_jsonl
from nlpkit.devices import eval_mode
from nlpkit.errors import NlpkitError
from nlpkit.model import load_backbone
from nlpkit.task import BertTask
from nlpkit.windows import encode_windows, merge_spans, predict_windows, text_windows

from .config import PRETRAINED, TINY, NerConfig
from .decoding import align, char_entity, sort_entities
from .metrics import score
from .model import NerModel
from .reader import read_ner_file
from .tags import overlapping, spans_from_tags, tag_names, tags_from_spans


class NerTask(BertTask):
    """Named entity recognition: BIO/BIOES, CLUENER or JSONL data; CRF, softmax or GlobalPointer head."""

    name = "ner"
    metric = "f1"
    sample = {"train": "sample/train.txt", "dev": "sample/dev.txt"}
    config_class, tiny_profile, pretrained_profile = NerConfig, TINY, PRETRAINED
    call_options = ("window.stride",)

    # ---- data ------------------------------------------------------------------------------
    def read(self, path):
        return read_ner_file(path, columns=self._columns())

    def read_inputs(self, path):
        return read_ner_file(path, gold=False, columns=self._columns())

    def _columns(self):
        return dict(self.cfg.data.columns) if self.cfg is not None else None

    def texts(self, records):
        return [r["text"] for r in records]

    def prepare(self, records):
        """Entity types (sorted) and the tag scheme: the config's, else the training file's, else BIO."""
        types = sorted({e["type"] for r in records for e in r["entities"]})
        if not types:
            raise NlpkitError("ner: the training data has no entities, so there are no types to learn")
        scheme = self.cfg.scheme or next((r["scheme"] for r in records if "scheme" in r), "bio")
        self.state.update({"types": types, "scheme": scheme})
        self._warn_left_out(records)
        self._warn_overlapping(records, "training")

    def _warn_overlapping(self, records, what):
        """A tagging head holds one entity per character: say how many nested or crossing ones it drops
        (else a nested dataset trains and scores as if they were not there). Returns that count."""
        if self.cfg.head == "global_pointer":
            return 0
        dropped = sum(overlapping(len(r["text"]), r["entities"], self.state["scheme"]) for r in records)
        if dropped:
            total = sum(len(r["entities"]) for r in records)
            warnings.warn(f"ner: head={self.cfg.head} drops overlapping entities: {dropped} of {total} {what} "
                          "entities nest in or cross another and are left out (head=global_pointer keeps them)",
                          stacklevel=2)
        return dropped

    def _warn_left_out(self, records):
        total = sum(len(r["entities"]) for r in records)
        left_out = sum(len(r["entities"]) - len(self._learnt(r)) for r in records)
        if left_out:
            where = ("cut by a window's edge" if self.cfg.window.train
                     else f"beyond max_length={self.cfg.max_length} tokens")
            warnings.warn(f"ner: {left_out} of {total} training entities are not learnt: {where} or an end inside "
                          "a token", stacklevel=2)

    def _learnt(self, record):
        """(start, end, type) of the record's entities some training input holds whole, on token boundaries."""
        learnt = set()
        for shift, part in self._window_records(record):
            enc = self._encoding(part["text"])
            learnt |= {(enc.offsets[a][0] + shift, enc.offsets[b][1] + shift, t)
                       for a, b, t in align(enc, len(part["text"]), part["entities"])[0]}
        return learnt

    def training_records(self, records):
        """With window.train, each text longer than a window becomes one record per window (its
        entities shifted; windows are not cut inside an entity where another cut is near)."""
        return [part for r in records for _, part in self._window_records(r)]

    def _window_records(self, record):
        """[(character offset, record)]: the record itself, or with window.train one per window."""
        text, entities = record["text"], record["entities"]
        if not self.cfg.window.train:
            return [(0, record)]
        avoid = [(e["start"], e["end"]) for e in entities]
        ranges = text_windows(self.tokenizer, text, self.cfg.max_length, self.cfg.window.stride, avoid)
        if len(ranges) == 1:
            return [(0, record)]
        return [(s, {**record, "text": text[s:e], "entities": [
            {**x, "start": x["start"] - s, "end": x["end"] - s} for x in entities if s <= x["start"] and x["end"] <= e]})
            for s, e in ranges]

    @property
    def labels(self):
        """What the head scores: entity types (global_pointer) or tags."""
        if self.cfg.head == "global_pointer":
            return self.state["types"]
        return tag_names(self.state["types"], self.state["scheme"])

    # ---- encoding --------------------------------------------------------------------------
    def _encoding(self, text):
        return self.tokenizer.encode(text, maxlen=self.cfg.max_length)

    def encode(self, record):
        enc = self._encoding(record["text"])
        spans, _ = align(enc, len(record["text"]), record["entities"])
        feature = {"input_ids": enc.input_ids, "token_type_ids": enc.token_type_ids}
        if self.cfg.head == "global_pointer":
            index = {t: i for i, t in enumerate(self.state["types"])}
            feature["spans"] = [[index[t], first, last] for first, last, t in spans if t in index]
            return feature
        index = {t: i for i, t in enumerate(self.labels)}
        tags = tags_from_spans(len(enc), [(f, last + 1, t) for f, last, t in spans], self.state["scheme"])
        feature["labels"] = [index.get(tag, 0) if seq == 0 else -100 for tag, seq in zip(tags, enc.sequence_ids)]
        return feature

    def collate(self, features):
        ids = pad([f["input_ids"] for f in features], self.tokenizer.pad_id)
        batch = {"input_ids": ids, "token_type_ids": pad([f["token_type_ids"] for f in features], 0),
                 "attention_mask": pad([[1] * len(f["input_ids"]) for f in features], 0)}
        if self.cfg.head == "global_pointer":
            b, length = ids.shape
            targets = torch.zeros(b, len(self.labels), length, length, dtype=torch.bool)  # (B, types, L, L)
            for row, f in enumerate(features):
                for t, first, last in f["spans"]:
                    targets[row, t, first, last] = True
            batch["targets"] = targets
            batch["valid"] = self._valid(f["input_ids"] for f in features)
        else:
            batch["labels"] = pad([f["labels"] for f in features], -100)
            batch["valid"] = batch["labels"] != -100
        return batch

    def _valid(self, id_lists):
        """The sentence's own tokens: not [CLS], [SEP] or padding."""
        return pad([[0] + [1] * (len(ids) - 2) + [0] for ids in id_lists], 0).bool()

    # ---- model -----------------------------------------------------------------------------
    def build_model(self, source):
        bert, _ = load_backbone(source, self.tokenizer, tiny=self.cfg.tiny)
        return NerModel(bert, self.cfg.head, len(self.labels), self.cfg.head_size, self.cfg.crf_lr_multiplier)

    def loss(self, model, batch):
        out = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"], batch["valid"])
        return getattr(model, "module", model).loss(out, batch)

    # ---- inference -------------------------------------------------------------------------
    def predict(self, model, records, stride=None, **options):
        """Entities of each record: [{"text", "start", "end", "type"}], character offsets, end exclusive.
        A text longer than max_length is read in windows (`stride` tokens shared; default window.stride)."""
        model = getattr(model, "module", model)
        stride = self.cfg.window.stride if stride is None else stride
        with eval_mode(model), torch.inference_mode():
            return predict_windows(records, lambda r: self._windows(r["text"], stride),
                                   lambda windows: self._run(model, windows), self._merge)

    def _windows(self, text, stride):
        return encode_windows(self.tokenizer, text, self.cfg.max_length, stride)

    def _run(self, model, windows):
        """Inclusive token spans [(first, last, type)] found in each window, in batches."""
        found = []
        for chunk in self.batches(windows, self.cfg.trainer.eval_batch_size, "predict"):
            found += self._predict_batch(model, [w.encoding for w in chunk])
        return found

    def _predict_batch(self, model, encs):
        device = next(model.parameters()).device
        ids = pad([e.input_ids for e in encs], self.tokenizer.pad_id).to(device)
        types = pad([e.token_type_ids for e in encs], 0).to(device)
        mask = pad([[1] * len(e) for e in encs], 0).to(device)
        valid = self._valid(e.input_ids for e in encs).to(device)
        if self.cfg.head == "global_pointer":
            return [[(i, j, self.labels[t]) for i, j, t in found] for found in model.decode(ids, types, mask, valid)]
        # tags of tokens 1..n -> inclusive token spans
        return [[(s + 1, e, t) for s, e, t in spans_from_tags([self.labels[k] for k in found])]
                for found in model.decode(ids, types, mask, valid)]

    def _merge(self, record, windows, found):
        """The windows' entities in document offsets, each decided by one window (nlpkit.windows); a
        tagging head's entities never overlap, so an entity crossing a better-placed one is dropped."""
        text = record["text"]
        entities = [[char_entity(text, w.encoding.offsets, i, j, t) for i, j, t in spans]
                    for w, spans in zip(windows, found)]
        kept = merge_spans(windows, entities, lambda e: (e["start"], e["end"]),
                           exclusive=self.cfg.head != "global_pointer")
        return sort_entities(kept)

    def evaluate(self, model, records, **options):
        """seqeval strict entity P/R/F1 (global_pointer: exact spans) with a per-type breakdown; with
        config `eval_output` every record is written with its gold and predicted entities."""
        predictions = self.predict(model, records)
        metrics, rows = score(records, predictions, self.cfg.head, self.state["scheme"])
        dropped = self._warn_overlapping(records, "gold")
        if dropped:  # the tagging scores above never saw them
            metrics["overlapping_not_scored"] = dropped
        if self.cfg.eval_output:
            write_jsonl(self.cfg.eval_output, rows)
        return metrics

    def output_rows(self, records, predictions):
        """The input record (its other fields too, e.g. an "id") with the predicted "entities"."""
        return [{**{k: v for k, v in r.items() if k != "scheme"}, "entities": p} for r, p in zip(records, predictions)]

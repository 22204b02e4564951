"""Task `ner`: named entities as character spans, with a CRF, softmax or GlobalPointer head (heads.py)."""
import warnings

from nlpkit.data import pad
from nlpkit.errors import NlpkitError
from nlpkit.inference import to_device
from nlpkit.model import load_backbone
from nlpkit.task import BertTask
from nlpkit.windows import encode_windows, merge_spans, text_windows

from .config import PRETRAINED, SMALL, TINY, NerConfig
from .decoding import align, char_entity, sort_entities
from .heads import HEADS, sentence_mask
from .metrics import score as score_entities
from .model import NerModel
from .reader import read_ner_file
from .tags import overlapping


def window_records(tokenizer, record, cfg):
    """[(character offset, record)]: the record itself, or with window.train one per window of a text
    longer than max_length (its entities shifted; no cut inside an entity where another cut is near)."""
    text, entities = record["text"], record["entities"]
    if not cfg.window.train:
        return [(0, record)]
    avoid = [(e["start"], e["end"]) for e in entities]
    ranges = text_windows(tokenizer, text, cfg.max_length, cfg.window.stride, avoid)
    if len(ranges) == 1:
        return [(0, record)]
    return [(s, {**record, "text": text[s:e], "entities": [
        {**x, "start": x["start"] - s, "end": x["end"] - s} for x in entities if s <= x["start"] and x["end"] <= e]})
        for s, e in ranges]


def learnt(tokenizer, record, cfg):
    """(start, end, type) of the record's entities some training input holds whole, on token boundaries."""
    found = set()
    for shift, part in window_records(tokenizer, record, cfg):
        enc = tokenizer.encode(part["text"], maxlen=cfg.max_length)
        found |= {(enc.offsets[a][0] + shift, enc.offsets[b][1] + shift, t)
                  for a, b, t in align(enc, len(part["text"]), part["entities"])[0]}
    return found


def warn_overlapping(records, head, scheme, what):
    """A tagging head holds one entity per character: say how many nested or crossing ones it drops
    (else a nested dataset trains and scores as if they were not there). Returns that count."""
    if not HEADS[head].tagging:
        return 0
    dropped = sum(overlapping(len(r["text"]), r["entities"], scheme) for r in records)
    if dropped:
        total = sum(len(r["entities"]) for r in records)
        warnings.warn(f"ner: head={head} drops overlapping entities: {dropped} of {total} {what} "
                      "entities nest in or cross another and are left out (head=global_pointer keeps them)",
                      stacklevel=3)
    return dropped


class NerTask(BertTask):
    """Named entity recognition: BIO/BIOES, CLUENER or JSONL data; CRF, softmax or GlobalPointer head."""

    name = "ner"
    metric = "f1"
    sample = {"train": "sample/train.txt", "dev": "sample/dev.txt"}
    config_class, tiny_profile, small_profile, pretrained_profile = NerConfig, TINY, SMALL, PRETRAINED
    call_options = ("window.stride",)

    # ---- data ------------------------------------------------------------------------------
    def read(self, path):
        return read_ner_file(path, columns=dict(self.cfg.data.columns))

    def read_inputs(self, path):
        return read_ner_file(path, gold=False, columns=dict(self.cfg.data.columns))

    def texts(self, records):
        return [r["text"] for r in records]

    def prepare(self, records):
        """Entity types (sorted) and the tag scheme: the config's, else the training file's, else BIO."""
        types = sorted({e["type"] for r in records for e in r["entities"]})
        if not types:
            raise NlpkitError("ner: the training data has no entities, so there are no types to learn")
        scheme = self.cfg.scheme or next((r["scheme"] for r in records if "scheme" in r), "bio")
        self.state.update({"types": types, "scheme": scheme})
        total = sum(len(r["entities"]) for r in records)
        left_out = total - sum(len(learnt(self.tokenizer, r, self.cfg)) for r in records)
        if left_out:
            where = ("cut by a window's edge" if self.cfg.window.train
                     else f"beyond max_length={self.cfg.max_length} tokens")
            warnings.warn(f"ner: {left_out} of {total} training entities are not learnt: {where} or an end inside "
                          "a token", stacklevel=2)
        warn_overlapping(records, self.cfg.head, scheme, "training")

    def training_records(self, records):
        """With window.train, each text longer than a window becomes one record per window (its
        entities shifted; windows are not cut inside an entity where another cut is near)."""
        return [part for r in records for _, part in window_records(self.tokenizer, r, self.cfg)]

    @property
    def labels(self):
        """What the head scores: entity types (global_pointer) or tags."""
        return HEADS[self.cfg.head].labels(self.state["types"], self.state["scheme"])

    # ---- encoding --------------------------------------------------------------------------
    def encode(self, record):
        enc = self.tokenizer.encode(record["text"], maxlen=self.cfg.max_length)
        spans, _ = align(enc, len(record["text"]), record["entities"])
        return {"input_ids": enc.input_ids, "token_type_ids": enc.token_type_ids,
                **HEADS[self.cfg.head].feature(enc, spans, self.labels, self.state["scheme"])}

    def collate(self, features):
        ids = pad([f["input_ids"] for f in features], self.tokenizer.pad_id)
        return {"input_ids": ids, "token_type_ids": pad([f["token_type_ids"] for f in features], 0),
                "attention_mask": pad([[1] * len(f["input_ids"]) for f in features], 0),
                **HEADS[self.cfg.head].targets(features, ids, len(self.labels))}

    # ---- model -----------------------------------------------------------------------------
    def build_model(self, source):
        bert, _ = load_backbone(source, self.tokenizer, tiny=self.cfg.tiny)
        return NerModel(bert, self.cfg.head, len(self.labels), self.cfg.head_size, self.cfg.crf_lr_multiplier)

    def loss(self, model, batch):
        out = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"], batch["valid"])
        return getattr(model, "module", model).loss(out, batch)

    # ---- inference -------------------------------------------------------------------------
    def windows(self, record, stride=None, **options):
        """A text longer than max_length is read in windows (`stride` tokens shared; default window.stride)."""
        stride = self.cfg.window.stride if stride is None else stride
        return encode_windows(self.tokenizer, record["text"], self.cfg.max_length, stride)

    def predict_batch(self, model, windows, **options):
        """Inclusive token spans [(first, last, type)] found in each window."""
        encs = [w.encoding for w in windows]
        batch = to_device({"input_ids": pad([e.input_ids for e in encs], self.tokenizer.pad_id),
                           "token_type_ids": pad([e.token_type_ids for e in encs], 0),
                           "attention_mask": pad([[1] * len(e) for e in encs], 0),
                           "valid": sentence_mask(e.input_ids for e in encs)}, model)
        out = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"], batch["valid"])
        return HEADS[self.cfg.head].decode(model, out, batch["valid"], self.labels)

    def merge(self, record, windows, found, **options):
        """Entities of the record: [{"text", "start", "end", "type"}], character offsets in the whole text,
        end exclusive; each decided by one window (nlpkit.windows); a tagging head's entities never
        overlap, so an entity crossing a better-placed one is dropped."""
        text = record["text"]
        entities = [[char_entity(text, w.encoding.offsets, i, j, t) for i, j, t in spans]
                    for w, spans in zip(windows, found)]
        kept = merge_spans(windows, entities, lambda e: (e["start"], e["end"]),
                           exclusive=HEADS[self.cfg.head].tagging)
        return sort_entities(kept)

    def score(self, records, predictions):
        """seqeval strict entity P/R/F1 (global_pointer: exact spans) with a per-type breakdown; rows:
        each record with its gold and predicted entities."""
        metrics, rows = score_entities(records, predictions, HEADS[self.cfg.head].tagging, self.state["scheme"])
        dropped = warn_overlapping(records, self.cfg.head, self.state["scheme"], "gold")
        if dropped:  # the tagging scores above never saw them
            metrics["overlapping_not_scored"] = dropped
        return metrics, rows

    def output_rows(self, records, predictions):
        """The input record (its other fields too, e.g. an "id") with the predicted "entities"."""
        return [{**{k: v for k, v in r.items() if k != "scheme"}, "entities": p} for r, p in zip(records, predictions)]

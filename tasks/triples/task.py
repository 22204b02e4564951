"""Task `triples`: (subject, predicate, object) extraction from DuIE / LIC2019 JSONL."""
import warnings

import torch

from nlpkit.data import pad, write_jsonl
from nlpkit.devices import eval_mode
from nlpkit.errors import NlpkitError
from nlpkit.model import load_backbone
from nlpkit.task import BertTask
from nlpkit.windows import encode_windows, merge_spans, predict_windows, text_windows

from .casrel import CasRelHead
from .config import PRETRAINED, TINY, TriplesConfig
from .decoding import char_span
from .gplinker import GPLinkerHead
from .metrics import score, triple_key
from .reader import read_schema, read_spo_file

#: config `head` -> its labels, model, loss, decoding and per-call options
HEADS = {"casrel": CasRelHead, "gplinker": GPLinkerHead}


def occurrences(text, part):
    """Character starts of every non-overlapping occurrence of `part` in `text`."""
    found, pos = [], text.find(part)
    while pos >= 0:
        found.append(pos)
        pos = text.find(part, pos + len(part))
    return found


def token_spans(offsets, sequence_ids, text, part):
    """Inclusive token spans covering each occurrence of `part` (occurrences cut off by truncation are dropped)."""
    char_to_token = [None] * len(text)
    for i, ((s, e), seq) in enumerate(zip(offsets, sequence_ids)):
        if seq == 0:
            for c in range(s, e):
                char_to_token[c] = i
    spans = []
    for start in occurrences(text, part):
        first, last = char_to_token[start], char_to_token[start + len(part) - 1]
        if first is not None and last is not None:
            spans.append((first, last))
    return spans


class TriplesTask(BertTask):
    """Subject-predicate-object extraction (DuIE): the CasRel pointer design with a Conditional LayerNorm,
    or GPLinker (config `head`)."""

    name = "triples"
    metric = "f1"
    sample = {"train": "sample/train.json", "dev": "sample/dev.json"}
    sample_schema = "sample/schema.json"
    config_class, tiny_profile, pretrained_profile = TriplesConfig, TINY, PRETRAINED

    @property
    def head(self):
        return HEADS[self.cfg.head]

    @property
    def call_options(self):
        """Per-call options: the thresholds of this run's head (the other head's are unknown options)
        and the windows' stride."""
        return (*self.head.options, "window.stride")

    # ---- data ------------------------------------------------------------------------------
    def read(self, path):
        return read_spo_file(path)

    def read_inputs(self, path):
        return read_spo_file(path, require_spo=False)

    def texts(self, records):
        return [r["text"] for r in records]

    def prepare(self, records):
        """Predicates from the schema file when there is one (the bundled one with the bundled sample),
        else from the training data in sorted order."""
        schema = self.cfg.schema
        if schema is None and self.cfg.data.train is None:
            schema = str(self.folder() / self.sample_schema)
        seen = sorted({t["predicate"] for r in records for t in r["spo_list"]})
        if schema:
            predicates = read_schema(schema)
            unknown = [t for r in records for t in r["spo_list"] if t["predicate"] not in predicates]
            if unknown:
                names = sorted({t["predicate"] for t in unknown})
                warnings.warn(f"{schema}: {len(unknown)} training triple(s) with predicates not in the schema "
                              f"are skipped: {', '.join(names[:10])}", stacklevel=2)
        else:
            predicates = seen
        if not predicates:
            raise NlpkitError("triples: the training data has no triples, so there are no predicates to learn")
        self.state["predicates"] = predicates

    @property
    def predicates(self):
        return self.state["predicates"]

    def _encoding(self, text):
        return self.tokenizer.encode(text, maxlen=self.cfg.max_length)

    def encode(self, record):
        enc = self._encoding(record["text"])
        index = {p: i for i, p in enumerate(self.predicates)}
        spo = []
        for t in record["spo_list"]:
            if t["predicate"] not in index:
                continue
            subjects = token_spans(enc.offsets, enc.sequence_ids, record["text"], t["subject"])
            objects = token_spans(enc.offsets, enc.sequence_ids, record["text"], t["object"])
            # every occurrence is a target: which one the annotator meant is not recorded in DuIE
            spo += [[ss, se, index[t["predicate"]], os_, oe] for ss, se in subjects for os_, oe in objects]
        return {"input_ids": enc.input_ids, "token_type_ids": enc.token_type_ids, "spo": spo}

    def collate(self, features):
        ids = pad([f["input_ids"] for f in features], self.tokenizer.pad_id)
        return {"input_ids": ids, "token_type_ids": pad([f["token_type_ids"] for f in features], 0),
                "attention_mask": pad([[1] * len(f["input_ids"]) for f in features], 0),
                **self.head.labels(features, ids.shape[1], len(self.predicates))}

    # ---- model -----------------------------------------------------------------------------
    def build_model(self, source):
        bert, _ = load_backbone(source, self.tokenizer, tiny=self.cfg.tiny)
        return self.head.build(bert, len(self.predicates), self.cfg)

    def loss(self, model, batch):
        return self.head.loss(model, batch)

    def training_records(self, records):
        """With window.train, a text longer than max_length becomes one record per window, with the
        triples whose subject and object both occur in it (cuts avoid their occurrences where they can)."""
        if not self.cfg.window.train:
            return records
        return [part for r in records for part in self._window_records(r)]

    def _window_records(self, record):
        text = record["text"]
        avoid = [(s, s + len(part)) for t in record["spo_list"] for part in (t["subject"], t["object"])
                 for s in occurrences(text, part)]
        ranges = text_windows(self.tokenizer, text, self.cfg.max_length, self.cfg.window.stride, avoid)
        if len(ranges) == 1:
            return [record]
        return [{**record, "text": text[s:e], "spo_list": [t for t in record["spo_list"]
                                                           if t["subject"] in text[s:e] and t["object"] in text[s:e]]}
                for s, e in ranges]

    # ---- inference -------------------------------------------------------------------------
    def predict(self, model, records, stride=None, **options):
        """Triples of each record, [{"subject","predicate","object","subject_span","object_span"}].
        Options: the head's thresholds, defaulting to the config's; `stride` of the windows a text
        longer than max_length is read in (a triple is found where one window holds both its entities)."""
        own = self.head.options
        other = sorted(set(options) - set(own))
        if other:
            raise NlpkitError(f"triples head={self.cfg.head}: unknown option(s) {', '.join(other)}; "
                              f"valid: {', '.join(own)}")
        settings = {k: self.cfg[k] if options.get(k) is None else options[k] for k in own}
        stride = self.cfg.window.stride if stride is None else stride
        model = getattr(model, "module", model)
        with eval_mode(model), torch.inference_mode():
            return predict_windows(records, lambda r: encode_windows(self.tokenizer, r["text"], self.cfg.max_length,
                                                                     stride),
                                   lambda windows: self._run(model, windows, settings), self._merge)

    def _run(self, model, windows, settings):
        """Token triples [(ss, se, p, os, oe)] of each window, in batches."""
        found = []
        for chunk in self.batches(windows, self.cfg.trainer.eval_batch_size, "predict"):
            encs = [w.encoding for w in chunk]
            found += self.head.decode(model, self._inputs(model, encs), encs, **settings)
        return found

    def _inputs(self, model, encs):
        """(input_ids, token_type_ids, attention_mask) of the encodings, padded, on the model's device."""
        device = next(model.parameters()).device
        ids = pad([e.input_ids for e in encs], self.tokenizer.pad_id).to(device)
        types = pad([e.token_type_ids for e in encs], 0).to(device)
        mask = pad([[1] * len(e) for e in encs], 0).to(device)
        return ids, types, mask

    def _merge(self, record, windows, found):
        """The windows' triples in document offsets; each decided by the window that holds its subject
        and object farthest from a cut edge (nlpkit.windows); a triple found again at another occurrence
        of its entities is reported once, at the first."""
        text = record["text"]
        triples = [[self._triple(text, w.encoding.offsets, t) for t in ts] for w, ts in zip(windows, found)]
        kept = merge_spans(windows, triples, lambda t: (min(t["subject_span"][0], t["object_span"][0]),
                                                        max(t["subject_span"][1], t["object_span"][1])))
        seen, rows = set(), []
        for triple in kept:
            if triple_key(triple) not in seen:
                seen.add(triple_key(triple))
                rows.append(triple)
        return rows

    def _triple(self, text, offsets, token_triple):
        ss, se, p, os_, oe = token_triple
        s_span, o_span = char_span(offsets, ss, se), char_span(offsets, os_, oe)
        return {"subject": text[s_span[0] : s_span[1]], "predicate": self.predicates[p],
                "object": text[o_span[0] : o_span[1]], "subject_span": s_span, "object_span": o_span}

    def evaluate(self, model, records, **options):
        """Micro P/R/F1 over exact (subject, predicate, object) sets, with a per-predicate breakdown.

        With config `eval_output` every record is written with its gold and predicted triples and
        the `new` (predicted, not gold) and `lack` (gold, not predicted) lists."""
        predictions = self.predict(model, records, **options)
        metrics, rows = score(records, predictions)
        if self.cfg.eval_output:
            write_jsonl(self.cfg.eval_output, rows)
        return metrics

    def output_rows(self, records, predictions):
        return [{"text": r["text"], "spo_list": p} for r, p in zip(records, predictions)]

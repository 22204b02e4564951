"""Task `triples`: (subject, predicate, object) extraction from DuIE / LIC2019 JSONL."""
import warnings

from nlpkit.data import pad
from nlpkit.errors import NlpkitError
from nlpkit.inference import to_device
from nlpkit.model import load_backbone
from nlpkit.task import BertTask
from nlpkit.windows import encode_windows, merge_spans, text_windows

from .casrel import CasRelHead
from .config import PRETRAINED, SMALL, TINY, TriplesConfig
from .decoding import char_span
from .gplinker import GPLinkerHead
from .metrics import score as score_triples
from .metrics import triple_key
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


def window_records(tokenizer, record, max_length, stride):
    """A training record, or one per window of a text longer than max_length, with the triples whose
    subject and object both occur in it (cuts avoid their occurrences where they can)."""
    text = record["text"]
    avoid = [(s, s + len(part)) for t in record["spo_list"] for part in (t["subject"], t["object"])
             for s in occurrences(text, part)]
    ranges = text_windows(tokenizer, text, max_length, stride, avoid)
    if len(ranges) == 1:
        return [record]
    return [{**record, "text": text[s:e], "spo_list": [t for t in record["spo_list"]
                                                       if t["subject"] in text[s:e] and t["object"] in text[s:e]]}
            for s, e in ranges]


def head_settings(head, cfg, options):
    """The head's thresholds: this call's options over the config's; an option of the other head is an error."""
    other = sorted(set(options) - set(head.options))
    if other:
        raise NlpkitError(f"triples head={cfg.head}: unknown option(s) {', '.join(other)}; "
                          f"valid: {', '.join(head.options)}")
    return {k: cfg[k] if options.get(k) is None else options[k] for k in head.options}


def char_triple(text, offsets, token_triple, predicates):
    """A token triple (ss, se, p, os, oe) -> {"subject", "predicate", "object", "subject_span", "object_span"}."""
    ss, se, p, os_, oe = token_triple
    s_span, o_span = char_span(offsets, ss, se), char_span(offsets, os_, oe)
    return {"subject": text[s_span[0] : s_span[1]], "predicate": predicates[p],
            "object": text[o_span[0] : o_span[1]], "subject_span": s_span, "object_span": o_span}


class TriplesTask(BertTask):
    """Subject-predicate-object extraction (DuIE): the CasRel pointer design with a Conditional LayerNorm,
    or GPLinker (config `head`)."""

    name = "triples"
    metric = "f1"
    sample = {"train": "sample/train.json", "dev": "sample/dev.json"}
    sample_schema = "sample/schema.json"
    config_class, tiny_profile, small_profile, pretrained_profile = TriplesConfig, TINY, SMALL, PRETRAINED

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

    def encode(self, record):
        enc = self.tokenizer.encode(record["text"], maxlen=self.cfg.max_length)
        index = {p: i for i, p in enumerate(self.state["predicates"])}
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
                **self.head.labels(features, ids.shape[1], len(self.state["predicates"]))}

    # ---- model -----------------------------------------------------------------------------
    def build_model(self, source):
        bert, _ = load_backbone(source, self.tokenizer, tiny=self.cfg.tiny)
        return self.head.build(bert, len(self.state["predicates"]), self.cfg)

    def loss(self, model, batch):
        return self.head.loss(model, batch)

    def training_records(self, records):
        """With window.train, a text longer than max_length becomes one record per window, with the
        triples whose subject and object both occur in it (cuts avoid their occurrences where they can)."""
        if not self.cfg.window.train:
            return records
        return [part for r in records
                for part in window_records(self.tokenizer, r, self.cfg.max_length, self.cfg.window.stride)]

    # ---- inference -------------------------------------------------------------------------
    def windows(self, record, stride=None, **options):
        """A text longer than max_length is read in windows (`stride` tokens shared; default window.stride);
        a triple is found where one window holds both its entities."""
        head_settings(self.head, self.cfg, options)  # an option of the other head: refused before any work
        stride = self.cfg.window.stride if stride is None else stride
        return encode_windows(self.tokenizer, record["text"], self.cfg.max_length, stride)

    def predict_batch(self, model, windows, stride=None, **options):
        """Token triples [(ss, se, p, os, oe)] of each window. Options: the head's thresholds, defaulting
        to the config's."""
        settings = head_settings(self.head, self.cfg, options)
        encs = [w.encoding for w in windows]
        batch = to_device({"input_ids": pad([e.input_ids for e in encs], self.tokenizer.pad_id),
                           "token_type_ids": pad([e.token_type_ids for e in encs], 0),
                           "attention_mask": pad([[1] * len(e) for e in encs], 0)}, model)
        inputs = (batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
        return self.head.decode(model, inputs, encs, **settings)

    def merge(self, record, windows, found, **options):
        """Triples of the record, [{"subject","predicate","object","subject_span","object_span"}] (character
        offsets in the whole text); each decided by the window that holds its subject and object
        farthest from a cut edge (nlpkit.windows); a triple found again at another occurrence of its
        entities is reported once, at the first."""
        text = record["text"]
        triples = [[char_triple(text, w.encoding.offsets, t, self.state["predicates"]) for t in ts]
                   for w, ts in zip(windows, found)]
        kept = merge_spans(windows, triples, lambda t: (min(t["subject_span"][0], t["object_span"][0]),
                                                        max(t["subject_span"][1], t["object_span"][1])))
        seen, rows = set(), []
        for triple in kept:
            if triple_key(triple) not in seen:
                seen.add(triple_key(triple))
                rows.append(triple)
        return rows

    def score(self, records, predictions):
        """Micro P/R/F1 over exact (subject, predicate, object) sets, with a per-predicate breakdown; rows:
        each record with its gold and predicted triples and the `new` (predicted, not gold) and `lack`
        (gold, not predicted) lists."""
        return score_triples(records, predictions)

    def output_rows(self, records, predictions):
        return [{"text": r["text"], "spo_list": p} for r, p in zip(records, predictions)]

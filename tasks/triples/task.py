"""Task `triples`: (subject, predicate, object) extraction from DuIE / LIC2019 JSONL."""
import warnings

import torch

from nlpkit.data import pad, write_jsonl
from nlpkit.errors import NlpkitError
from nlpkit.model import load_backbone
from nlpkit.task import BertTask

from .config import PRETRAINED, TINY, TriplesConfig
from .decoding import char_span, gplinker_triples, object_spans, subject_spans, valid_positions
from .gplinker import PARTS, GPLinkerModel, gplinker_loss, gplinker_targets
from .metrics import score, triple_key
from .model import OBJECT_POWER, SUBJECT_POWER, CasRelModel, pointer_loss, probabilities
from .reader import read_schema, read_spo_file

#: the per-call options each head reads (the others are errors, not ignored)
HEAD_OPTIONS = {"casrel": ("subject_threshold", "object_threshold"), "gplinker": ("score_threshold",)}


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
    def call_options(self):
        """Per-call options: the thresholds of this run's head; the other head's are unknown options."""
        return HEAD_OPTIONS[self.cfg.head]

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
        batch = {"input_ids": ids, "token_type_ids": pad([f["token_type_ids"] for f in features], 0),
                 "attention_mask": pad([[1] * len(f["input_ids"]) for f in features], 0)}
        if self.cfg.head == "gplinker":
            batch["valid"] = self._valid([len(f["input_ids"]) for f in features])
            targets = gplinker_targets([f["spo"] for f in features], ids.shape[1], len(self.predicates))
            return {**batch, **{f"{part}_targets": t for part, t in targets.items()}}
        return {**batch, **self._casrel_labels(features, ids.shape[1])}

    def _valid(self, lengths):
        """The sentence's own tokens: not [CLS], [SEP] or padding."""
        return pad([[0] + [1] * (n - 2) + [0] for n in lengths], 0).bool()

    def _casrel_labels(self, features, length):
        """Pointer labels of all subjects, and of the objects of one subject drawn per sentence."""
        batch_size = len(features)
        subject_labels = torch.zeros(batch_size, length, 2)
        object_labels = torch.zeros(batch_size, length, len(self.predicates), 2)
        spans = torch.zeros(batch_size, 2, dtype=torch.long)
        has_subject = torch.zeros(batch_size, dtype=torch.bool)
        for row, f in enumerate(features):
            subjects = sorted({(ss, se) for ss, se, *_ in f["spo"]})
            for ss, se in subjects:
                subject_labels[row, ss, 0] = subject_labels[row, se, 1] = 1
            if not subjects:
                continue
            # one subject per sentence per step, drawn with torch's RNG so a resumed run draws the same
            chosen = subjects[int(torch.randint(len(subjects), (1,)))]
            spans[row] = torch.tensor(chosen)
            has_subject[row] = True
            for ss, se, p, os_, oe in f["spo"]:
                if (ss, se) == chosen:
                    object_labels[row, os_, p, 0] = object_labels[row, oe, p, 1] = 1
        return {
            "subject_labels": subject_labels,
            "object_labels": object_labels,
            "subject_spans": spans,
            "has_subject": has_subject,
        }

    # ---- model -----------------------------------------------------------------------------
    def build_model(self, source):
        bert, _ = load_backbone(source, self.tokenizer, tiny=self.cfg.tiny)
        if self.cfg.head == "gplinker":
            return GPLinkerModel(bert, len(self.predicates), self.cfg.head_size)
        return CasRelModel(bert, len(self.predicates))

    def loss(self, model, batch):
        inputs = (batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
        if self.cfg.head == "gplinker":
            return gplinker_loss(model(*inputs, batch["valid"]), [batch[f"{part}_targets"] for part in PARTS])
        subject_logits, object_logits = model(*inputs, batch["subject_spans"])
        return pointer_loss(subject_logits, object_logits, batch)

    # ---- inference -------------------------------------------------------------------------
    def predict(self, model, records, **options):
        """Triples of each record, [{"subject","predicate","object","subject_span","object_span"}].
        Options: the head's thresholds (HEAD_OPTIONS), defaulting to the config's."""
        own = HEAD_OPTIONS[self.cfg.head]
        other = sorted(set(options) - set(own))
        if other:
            raise NlpkitError(f"triples head={self.cfg.head}: unknown option(s) {', '.join(other)}; "
                              f"valid: {', '.join(own)}")
        settings = {k: self.cfg[k] if options.get(k) is None else options[k] for k in own}
        decode = self._gplinker_batch if self.cfg.head == "gplinker" else self._casrel_batch
        model = getattr(model, "module", model)
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                out = []
                for chunk in self.batches(records, self.cfg.trainer.eval_batch_size, "predict"):
                    texts = [r["text"] for r in chunk]
                    encs = [self._encoding(t) for t in texts]
                    out += self._records(texts, encs, decode(model, encs, **settings))
                return out
        finally:
            model.train(was_training)

    def _inputs(self, model, encs):
        device = next(model.parameters()).device
        ids = pad([e.input_ids for e in encs], self.tokenizer.pad_id).to(device)
        types = pad([e.token_type_ids for e in encs], 0).to(device)
        mask = pad([[1] * len(e) for e in encs], 0).to(device)
        return ids, types, mask

    def _gplinker_batch(self, model, encs, score_threshold):
        """Token triples [(ss, se, p, os, oe)] of each sentence, sorted."""
        ids, types, mask = self._inputs(model, encs)
        valid = self._valid([len(e) for e in encs]).to(ids.device)
        entity, head, tail = model(ids, types, mask, valid)  # decoded where they are: (B, P, L, L) is large
        return [gplinker_triples(entity[row], head[row], tail[row], score_threshold) for row in range(len(encs))]

    def _casrel_batch(self, model, encs, subject_threshold, object_threshold):
        """Token triples [(ss, se, p, os, oe)] of each sentence: subjects in order of their start, and per
        subject its objects by predicate, then start."""
        ids, types, mask = self._inputs(model, encs)
        states = model.encode(ids, types, mask)
        sub_probs = probabilities(model.subject_logits(states), SUBJECT_POWER).float().cpu()
        valid = [valid_positions(e.sequence_ids, ids.shape[1]) for e in encs]
        # every subject of every sentence in the batch goes through the object head in one pass
        rows, spans = [], []
        for row in range(len(encs)):
            for span in subject_spans(sub_probs[row], valid[row], subject_threshold):
                rows.append(row)
                spans.append(span)
        found = [[] for _ in encs]
        if not rows:
            return found
        obj_logits = model.object_logits(states[torch.tensor(rows, device=ids.device)],
                                         torch.tensor(spans, device=ids.device))
        obj_probs = probabilities(obj_logits, OBJECT_POWER).float().cpu()
        for k, (row, (ss, se)) in enumerate(zip(rows, spans)):
            objects = object_spans(obj_probs[k], valid[row], object_threshold)
            found[row] += [(ss, se, p, os_, oe) for p, os_, oe in objects]
        return found

    def _records(self, texts, encs, token_triples):
        """Token triples -> triple records with character spans; a triple found again at another
        occurrence of its entities is reported once, at the first."""
        results = []
        for text, enc, triples in zip(texts, encs, token_triples):
            seen, rows = set(), []
            for ss, se, p, os_, oe in triples:
                s_span, o_span = char_span(enc.offsets, ss, se), char_span(enc.offsets, os_, oe)
                triple = {"subject": text[s_span[0] : s_span[1]], "predicate": self.predicates[p],
                          "object": text[o_span[0] : o_span[1]], "subject_span": s_span, "object_span": o_span}
                if triple_key(triple) not in seen:
                    seen.add(triple_key(triple))
                    rows.append(triple)
            results.append(rows)
        return results

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

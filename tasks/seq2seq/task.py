"""UniLM seq2seq: `[CLS] source [SEP] target [SEP]` on one BERT, segment 0/1, loss on the target."""
from pathlib import Path

from nlpkit.data import check_file, iter_lines, iter_tsv_pairs, pad, read_json_lines
from nlpkit.errors import DataError, NlpkitError
from nlpkit.generation import decode_config
from nlpkit.inference import warn_cut
from nlpkit.metrics import text_generation_scores
from nlpkit.model.lm import BertLM, lm_loss
from nlpkit.task import BertTask

from .config import PRETRAINED, TINY, Seq2SeqConfig, check_room

#: fields of a predict input that hold the source text, in order of preference
SOURCE_KEYS = ("src", "text", "abst", "content")


def _record(src, tgt, path, line, fields=("content", "title")):
    """A training / evaluation record {"src", "tgt"}; an empty side is one error naming its field."""
    if not src.strip():
        raise DataError(path, line, "is empty", fields[0])
    if not tgt.strip():
        raise DataError(path, line, "empty target", fields[1])
    return {"src": src.strip(), "tgt": tgt.strip()}


def read_tsv(path):
    """CSL TSV: `title\\tcontent` lines."""
    return [_record(content, title, path, no)
            for no, title, content in iter_tsv_pairs(path, ("title", "content"))]


def read_folder(folder):
    """THUCNews layout: one article per .txt file (any depth), line 1 the title, the rest the body."""
    records = []
    files = sorted(folder.rglob("*.txt"))
    if not files:
        raise NlpkitError(f"{folder}: no .txt files (THUCNews layout: line 1 title, rest body)")
    for f in files:
        lines = [line for _, line in iter_lines(f)]
        title = lines[0] if lines else ""
        body = "".join(line.strip() for line in lines[1:])
        records.append(_record(body, title, f, 1, ("body", "title")))
    return records


def source_record(obj, path, line):
    """A predict input: a record whose source is "src" (or "text"/"abst"/"content")."""
    if not isinstance(obj, dict):
        raise DataError(path, line, f"expected a JSON object or a string, got {type(obj).__name__}")
    src = next((obj[k] for k in SOURCE_KEYS if k in obj), None)
    if not isinstance(src, str) or not src.strip():
        raise DataError(path, line, f"expected a non-empty string in one of the fields {', '.join(SOURCE_KEYS)}")
    return {**obj, "src": src}


class Seq2SeqTask(BertTask):
    """UniLM-masked seq2seq generation (titles, summaries)."""

    name = "seq2seq"
    metric = "rouge-l"
    sample = {"train": "sample/train.tsv", "dev": "sample/dev.tsv"}
    config_class, tiny_profile, pretrained_profile = Seq2SeqConfig, TINY, PRETRAINED
    call_options = ("decode",)

    # ---- data ------------------------------------------------------------------------------
    def read(self, path):
        """CSL TSV `title\\tcontent`, JSONL {"title","abst"} / {"src","tgt"}, or a THUCNews folder."""
        p = Path(path)
        if p.is_dir():
            return read_folder(p)
        check_file(p)
        if p.suffix in (".json", ".jsonl"):
            return [self.from_row(obj, p, no) for no, obj in read_json_lines(p)]
        return read_tsv(p)

    def from_row(self, obj, path, no):
        """A JSON object or table row {"title","abst"} / {"src","tgt"} -> a record."""
        if not isinstance(obj, dict):
            raise DataError(path, no, "expected a JSON object")
        pair = next(((s, t) for s, t in (("abst", "title"), ("src", "tgt")) if s in obj and t in obj), None)
        if pair is None:
            raise DataError(path, no, 'expected fields {"title","abst"} or {"src","tgt"} (map others with data.columns)')
        src, tgt = obj[pair[0]], obj[pair[1]]
        if not isinstance(src, str) or not isinstance(tgt, str):
            raise DataError(path, no, "expected strings", pair[0] if not isinstance(src, str) else pair[1])
        return _record(src, tgt, path, no, pair)

    def texts(self, records):
        for r in records:
            yield r["src"]
            yield r.get("tgt", "")

    # ---- encoding --------------------------------------------------------------------------
    def training_records(self, records):
        """The training records as they are; says once per run how many targets (max_target_length) and
        sources (what max_length leaves beside the target) encoding cuts."""
        tok, cfg = self.tokenizer, self.cfg
        targets = [min(len(tok.token_ids(r["tgt"])), cfg.max_target_length) for r in records]
        cut = sum(len(tok.token_ids(r["tgt"])) > cfg.max_target_length for r in records)
        warn_cut(self, "training targets", cut, len(records), cfg.max_target_length, "max_target_length")
        cut = sum(len(tok.token_ids(r["src"])) > cfg.max_length - n - 3 for r, n in zip(records, targets))
        warn_cut(self, "training sources", cut, len(records), f"{cfg.max_length} - 3 - their target's", "max_length")
        return records

    def encode(self, record):
        tgt_ids = self.tokenizer.token_ids(record["tgt"])[: self.cfg.max_target_length]
        enc = self.tokenizer.encode(record["src"], maxlen=self.cfg.max_length - len(tgt_ids) - 1)
        ids = enc.input_ids + tgt_ids + [self.tokenizer.sep_id]
        return {"input_ids": ids, "token_type_ids": [0] * len(enc.input_ids) + [1] * (len(tgt_ids) + 1)}

    def collate(self, features):
        ids = pad([f["input_ids"] for f in features], self.tokenizer.pad_id)
        types = pad([f["token_type_ids"] for f in features], 0)
        mask = pad([[1] * len(f["input_ids"]) for f in features], 0)
        return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}

    # ---- model -----------------------------------------------------------------------------
    def build_model(self, source):
        return BertLM(source, self.tokenizer, mask="unilm", tiny=self.cfg.tiny)

    def loss(self, model, batch):
        logits = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
        return lm_loss(logits, batch["input_ids"], batch["token_type_ids"])

    # ---- inference -------------------------------------------------------------------------
    def _prompt(self, record, config):
        """[CLS] source [SEP], cut so that the source plus config.max_new_tokens fit max_length."""
        check_room(self.cfg.max_length, config.max_new_tokens, "max_new_tokens")
        budget = self.cfg.max_length - config.max_new_tokens - 1
        return self.tokenizer.encode(record["src"], maxlen=budget).input_ids

    def predict_batch(self, model, records, **options):
        """{"text", "score"} per source (and "candidates" with num_return_sequences > 1); a source longer
        than max_length - decode.max_new_tokens - 3 tokens is cut to it (said once per run)."""
        from nlpkit.generation import generate

        config = decode_config(self.cfg.decode, options)
        tok = self.tokenizer
        prompts = [self._prompt(r, config) for r in records]
        room = self.cfg.max_length - config.max_new_tokens - 1
        cut = sum(len(p) == room and len(tok.token_ids(r["src"])) > room - 2 for p, r in zip(prompts, records))
        warn_cut(self, "sources", cut, len(records), room - 2, "max_length",
                 "max_length - decode.max_new_tokens - 3; raise max_length or lower decode.max_new_tokens to keep "
                 "more")
        results = generate(model, prompts, config, mask="unilm", eos_id=tok.sep_id, pad_id=tok.pad_id)
        out = []
        for record, hyps in zip(records, results):  # a copied character the vocabulary lacks is copied back
            texts = [{"text": tok.decode(h.ids, source=record["src"]), "score": float(h.score)} for h in hyps]
            out.append({"text": texts[0]["text"], "score": texts[0]["score"],
                        **({"candidates": texts} if len(texts) > 1 else {})})
        return out

    def stream(self, model, record, **options):
        """Yield the generated text piece by piece (greedy or sampling)."""
        from nlpkit.generation import stream

        tok = self.tokenizer
        config = decode_config(self.cfg.decode, options)
        produced = []
        shown = ""
        for token_id in stream(model, self._prompt(record, config), config, mask="unilm",
                               eos_id=tok.sep_id, pad_id=tok.pad_id):
            produced.append(token_id)
            text = tok.decode(produced, source=record["src"])
            if len(text) > len(shown):
                yield text[len(shown):]
                shown = text

    def score(self, records, predictions):
        """ROUGE-1/2/L and BLEU of the generated texts; rows: each record with its "pred"."""
        scores = text_generation_scores([p["text"] for p in predictions], [r["tgt"] for r in records])
        return scores, [{**r, "pred": p["text"]} for r, p in zip(records, predictions)]

    def read_inputs(self, path):
        """predict input, a file: JSONL {"src"} (or "text"/"abst"/"content"), or CSL TSV (its titles unused)."""
        p = Path(path)
        if p.is_dir():
            raise NlpkitError(f"{path}: is a folder; predict reads a file: JSONL {{\"src\": ...}} per line or "
                              f"CSL TSV (a THUCNews folder is training/evaluation data)")
        check_file(p)
        if p.suffix not in (".json", ".jsonl"):
            return read_tsv(p)
        return [source_record(obj, path, no) for no, obj in read_json_lines(path)]

    def as_record(self, item, **options):
        """A pipeline input: the source text, or a record with "src" (or "text"/"abst"/"content")."""
        if isinstance(item, str):
            item = {"src": item}
        return source_record(item, "input", None)

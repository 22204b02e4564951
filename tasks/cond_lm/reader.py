"""Readers for cond_lm: TSV `text<TAB>label` (the bert4keras sentiment-corpus layout), JSONL
`{"text","label"}` and JSONL `{"text","cond":[floats]}`, and tables (CSV, Parquet, ...) with those
columns (or mapped by data.columns); long texts are split into sentence chunks."""
import math
import re

from nlpkit.data import is_json, iter_tsv_pairs, read_json_records, read_table, reads_as_table, require
from nlpkit.errors import DataError

# a sentence ends after Chinese/Western end punctuation (plus any closing quotes/brackets); a Western
# full stop only before whitespace or the end, so "3.5" and "e.g.x" stay whole
_SENTENCE_END = re.compile(r"(?:[。！？!?；;…\n]+|\.(?=\s|$))[”’」』》）)\"']*\s*")
_CLAUSE_END = re.compile(r"[，,、：:]+\s*")


def _pieces(text, pattern):
    out, start = [], 0
    for m in pattern.finditer(text):
        if m.end() > start:
            out.append(text[start : m.end()])
            start = m.end()
    if start < len(text):
        out.append(text[start:])
    return out


def split_text(text, limit):
    """Split `text` into chunks of at most `limit` characters, cutting at sentence ends first,
    then at commas, and only as a last resort inside a clause. Each WordPiece token covers at least
    one non-space character, so a chunk of `limit` characters never needs more than `limit` tokens."""
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    units = []
    for sentence in _pieces(text, _SENTENCE_END):
        if len(sentence.strip()) <= limit:
            units.append(sentence)
            continue
        for clause in _pieces(sentence, _CLAUSE_END):
            units += [clause[i : i + limit] for i in range(0, len(clause), limit)]
    chunks, cur = [], ""
    for unit in units:  # pack consecutive pieces greedily up to the limit
        if cur and len((cur + unit).strip()) > limit:
            chunks.append(cur)
            cur = ""
        cur += unit
    chunks.append(cur)
    return [c.strip() for c in chunks if c.strip()]


def read_raw(path, columns=None):
    """Yield (line, text, label or None, cond or None) for every record of a data file: TSV, JSON/JSONL,
    or a table (CSV, Parquet, Arrow, a datasets folder; any table when `columns` maps its columns)."""
    if reads_as_table(path, columns):
        yield from _objects(read_table(path, columns or None), path)
        return
    if is_json(path):
        yield from _objects(read_json_records(path), path)
        return
    for no, text, label in iter_tsv_pairs(path, ("text", "label"), split_last=True):
        if not text.strip():
            raise DataError(path, no, "is empty", "text")
        yield no, text, _label(label, path, no), None


def _objects(rows, path):
    """(line, text, label, cond) of {"text", "label"|"cond"} objects; one kind of condition per file."""
    kind = None
    for no, obj in rows:
        text = require(obj, "text", path, no)
        has_label, has_cond = "label" in obj, "cond" in obj
        if has_label == has_cond:
            raise DataError(path, no, "a record needs exactly one of 'label' (a class name) or 'cond' (a list of numbers)")
        this = "label" if has_label else "cond"
        if kind and this != kind:
            raise DataError(path, no, f"earlier records give '{kind}'; all records of a file must use the same kind of condition", this)
        kind = this
        if has_label:
            yield no, text, _label(obj["label"], path, no), None
        else:
            yield no, text, None, check_cond(obj["cond"], path, no)


def _label(value, path, line):
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataError(path, line, f"expected a string or an integer, got {type(value).__name__}", "label")
    value = str(value).strip()
    if not value:
        raise DataError(path, line, "is empty", "label")
    return value


def check_cond(value, path, line, size=None):
    """A condition vector: a non-empty list of finite numbers (of length `size` when given)."""
    if not isinstance(value, list) or not value:
        raise DataError(path, line, "expected a non-empty list of numbers", "cond")
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in value):
        raise DataError(path, line, "expected finite numbers only", "cond")
    if size is not None and len(value) != size:
        raise DataError(path, line, f"has length {len(value)}, the model expects length {size}", "cond")
    return [float(v) for v in value]


def read_records(path, max_length, label_names=None, columns=None):
    """Records {"text", "label"|"cond", "where"}; a text longer than max_length - 2 characters becomes
    several records. `label_names` maps raw labels (e.g. "0"/"1") to display names."""
    names = dict(label_names or {})
    records = []
    for no, text, label, cond in read_raw(path, columns):
        for chunk in split_text(text, max_length - 2):
            record = {"text": chunk, "where": f"{path}:{no}"}
            if label is not None:
                record["label"] = str(names.get(label, label))
            else:
                record["cond"] = cond
            records.append(record)
    return records

"""Classification data -> records {"text", "label"} or {"text_a", "text_b", "label"}.

Formats:
- TSV without a header: `text<TAB>label` or `text_a<TAB>text_b<TAB>label` (told apart by the number of
  fields, which every line must share); a first line naming the columns (text, text_a, text_b, label,
  in any order) is read as a header;
- JSON lines {"text", "label"} / {"text_a", "text_b", "label"};
- tables (.csv, .parquet, .arrow, a datasets folder) with those columns.
data.columns maps other column or key names (data.columns.text=review). With multi_label, "label"
is a list (JSON) or a string of labels joined by label_separator ("sports|politics"; "" = none).
Errors name the file, the line and the field.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from nlpkit.data import is_json, is_table, iter_lines, map_columns, read_json_records, read_table
from nlpkit.errors import DataError

FIELDS = ("text", "text_a", "text_b", "label")


@dataclass
class Options:
    multi_label: bool = False
    separator: str = "|"
    #: a fixed label set (None: any label)
    labels: Optional[Sequence[str]] = None
    #: False: the label may be absent (inputs to predict)
    gold: bool = True
    columns: Optional[dict] = None
    #: whether two-field TSV lines are pairs (inputs to predict of a pair model) rather than text + label
    pair: bool = False


def read_classify_file(path, opts):
    if is_table(path):
        csv = Path(path).suffix.lower() == ".csv"
        rows = ((no + 1 if csv else f"row {no}", row) for no, row in read_table(path, opts.columns))
    elif is_json(path):
        rows = ((no, map_columns(obj, opts.columns, path, no)) for no, obj in read_json_records(path))
    else:
        rows = _tsv_rows(path, opts)
    records, first = [], None
    for line, row in rows:
        record = make_record(row, path, line, opts)
        kind = "text_a" in record
        if first is None:
            first = (kind, line)
        elif kind != first[0]:
            raise DataError(path, line, f"a {'pair' if kind else 'single text'}, but line {first[1]} is a "
                                        f"{'pair' if first[0] else 'single text'}: one file holds one kind")
        records.append(record)
    return records


def _tsv_rows(path, opts):
    """(line, {field: value}) of a header-less TSV, or of one whose first line names its columns."""
    names, count, header = None, None, False
    known = set(FIELDS) | set((opts.columns or {}).values())
    for no, line in iter_lines(path):
        if not line.strip():
            continue
        fields = line.split("\t")
        if names is None and count is None:
            count, names = len(fields), fields
            header = set(fields) <= known and len(set(fields)) == len(fields) and len(fields) > 1
            if header:
                continue
            names = _positional(path, no, count, opts)
        if len(fields) != count:
            raise DataError(path, no, f"{len(fields)} tab-separated field(s), but the file's lines have {count} "
                                      f"({'<TAB>'.join(names)})")
        row = dict(zip(names, fields))
        yield no, map_columns(row, opts.columns, path, no) if header else row


def _positional(path, line, count, opts):
    if count == 1 and not opts.gold:
        return ["text"]
    if count == 2:
        return ["text_a", "text_b"] if opts.pair and not opts.gold else ["text", "label"]
    if count == 3:
        return ["text_a", "text_b", "label"]
    raise DataError(path, line, f"{count} tab-separated field(s): expected text<TAB>label or "
                                "text_a<TAB>text_b<TAB>label")


def make_record(row, path, line, opts):
    if not isinstance(row, dict):
        raise DataError(path, line, f"expected a JSON object, got {type(row).__name__}")
    if "text_b" in row:
        record = {f: _text(row, f, path, line) for f in ("text_a", "text_b")}
    else:  # text_a alone is a single text (ChnSentiCorp's "label<TAB>text_a")
        record = {"text": _text(row, "text" if "text" in row or "text_a" not in row else "text_a", path, line)}
    if not opts.gold:  # an input to predict: other fields (an "id") are kept for the output rows
        record = {**{k: v for k, v in row.items() if k not in (*FIELDS, "labels")}, **record}
    key = "labels" if opts.multi_label and "label" not in row and "labels" in row else "label"
    if key in row and row[key] is not None:
        read = _labels if opts.multi_label else _one_label
        record["label"] = read(row[key], path, line, key, opts)
    elif opts.gold:
        raise DataError(path, line, "missing", "label")
    return record


def _text(row, field, path, line):
    value = row.get(field)
    if not isinstance(value, str) or not value.strip():
        what = "missing" if value is None else "is empty" if isinstance(value, str) else \
            f"expected a string, got {type(value).__name__}"
        raise DataError(path, line, what, field)
    return value


def _one_label(value, path, line, field, opts):
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataError(path, line, f"expected a string, got {type(value).__name__}", field)
    label = str(value).strip()
    if not label:
        raise DataError(path, line, "is empty", field)
    if opts.labels is not None and label not in opts.labels:
        raise DataError(path, line, f"'{label}' is not one of the labels: {', '.join(opts.labels)}", field)
    return label


def _labels(value, path, line, field, opts):
    """A list, or a string joined by the separator; "" is no label. Sorted, without repeats."""
    if isinstance(value, str):
        value = [v for v in value.split(opts.separator) if v.strip()]
    if not isinstance(value, list):
        raise DataError(path, line, f"expected a list of labels or a '{opts.separator}'-separated string, "
                                    f"got {type(value).__name__}", field)
    return sorted({_one_label(v, path, line, field, opts) for v in value})

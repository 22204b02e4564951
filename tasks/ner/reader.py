"""NER data -> records {"text", "entities": [{"start", "end", "type"}]} (character offsets, end exclusive).

Formats (detected per file):
- character-per-line BIO / BIOES (People's Daily, MSRA): `char TAG` lines, a blank line between
  sentences; a "char" may be several characters (they are joined without a separator);
- CLUENER JSON lines: {"text", "label": {type: {entity: [[start, end], ...]}}}, end INCLUSIVE;
- JSON lines {"text", "entities": [{"start", "end", "type"}]}, end EXCLUSIVE (Python slicing);
- tables (.csv, .parquet, .arrow, a datasets folder) with a "text" and an "entities" column (a list
  as above or its JSON text); data.columns maps other column names.
Errors name the file, the line and the field.
"""
import json
from pathlib import Path

from nlpkit.data import is_json, is_table, iter_lines, map_columns, read_json_records, read_table
from nlpkit.errors import DataError

from .tags import detect_scheme, spans_from_tags, split_tag


def read_ner_file(path, gold=True, columns=None):
    """Records of any supported format; gold=False lets entities be absent (inputs to predict)."""
    if is_table(path):
        return _read_table(path, gold, columns)
    if is_json(path):
        return [json_record(map_columns(obj, columns, path, no), path, no, gold)
                for no, obj in read_json_records(path)]
    return read_bio(path)


# ---- character-per-line BIO / BIOES ---------------------------------------------------------------
def read_bio(path):
    """Sentences of `char TAG` lines. Each record also holds the "scheme" its file's tags use."""
    records, prefixes, sentence = [], set(), []
    for no, line in iter_lines(path):
        if not line.strip():
            if sentence:
                records.append(_bio_record(sentence))
            sentence = []
            continue
        parts = line.split()
        if len(parts) != 2:
            raise DataError(path, no, f"expected 'char TAG' (two fields separated by a space), "
                                      f"found {len(parts)} field(s)")
        parsed = split_tag(parts[1])
        if parsed is None:
            raise DataError(path, no, f"'{parts[1]}' is not a tag: expected O or B-/I-/E-/S-/M- and a type, e.g. B-PER",
                            "tag")
        prefixes.add(parsed[0])
        sentence.append((parts[0], parts[1]))
    if sentence:
        records.append(_bio_record(sentence))
    scheme = detect_scheme(prefixes)
    return [{**r, "scheme": scheme} for r in records]


def _bio_record(sentence):
    starts, pos = [], 0
    for chars, _ in sentence:
        starts.append(pos)
        pos += len(chars)
    starts.append(pos)
    spans = spans_from_tags([tag for _, tag in sentence])
    return {"text": "".join(chars for chars, _ in sentence),
            "entities": [{"start": starts[s], "end": starts[e], "type": t} for s, e, t in spans]}


# ---- JSON lines -----------------------------------------------------------------------------------
def json_record(obj, path, line, gold=True):
    """One JSON object or table row (CLUENER or the entities format, data.columns applied) -> a record."""
    if not isinstance(obj, dict):
        raise DataError(path, line, f"expected a JSON object, got {type(obj).__name__}")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        raise DataError(path, line, "missing or empty, expected the sentence as a string", "text")
    if not gold:  # an input to predict: other fields (an "id") are kept for the output rows
        return {**{k: v for k, v in obj.items() if k not in ("label", "entities")}, "text": text}
    if "label" in obj:
        return {"text": text, "entities": _cluener_entities(obj["label"], text, path, line)}
    if "entities" in obj:
        return {"text": text, "entities": _entities(obj["entities"], text, path, line)}
    raise DataError(path, line, 'no entities: expected "entities" [{"start","end","type"}] or CLUENER "label"')


def _cluener_entities(label, text, path, line):
    """CLUENER {type: {entity: [[start, end], ...]}} with INCLUSIVE ends; each span must spell `entity`."""
    if not isinstance(label, dict):
        raise DataError(path, line, "expected {type: {entity: [[start, end], ...]}}", "label")
    out = []
    for kind, found in label.items():
        if not isinstance(found, dict):
            raise DataError(path, line, "expected {entity: [[start, end], ...]}", f"label.{kind}")
        for name, spans in found.items():
            where = f"label.{kind}.{name}"
            if not isinstance(spans, list) or not all(_is_pair(s) for s in spans):
                raise DataError(path, line, "expected a list of [start, end] pairs (end inclusive)", where)
            for start, end in spans:
                if not 0 <= start <= end < len(text) or text[start : end + 1] != name:
                    raise DataError(path, line, f"[{start}, {end}] (end inclusive) does not spell '{name}' in the text",
                                    where)
                out.append({"start": start, "end": end + 1, "type": kind})
    return sorted(out, key=lambda e: (e["start"], e["end"], e["type"]))


def _is_pair(value):
    return isinstance(value, list) and len(value) == 2 and all(type(v) is int for v in value)


def _entities(entities, text, path, line):
    """[{"start", "end", "type"}] with EXCLUSIVE ends, checked against the text."""
    if isinstance(entities, str):  # a table cell holding the list as JSON
        try:
            entities = json.loads(entities)
        except json.JSONDecodeError as e:
            raise DataError(path, line, f"invalid JSON: {e.msg}", "entities") from None
    if not isinstance(entities, list):
        raise DataError(path, line, f"expected a list, got {type(entities).__name__}", "entities")
    out = []
    for i, e in enumerate(entities):
        where = f"entities[{i}]"
        if not isinstance(e, dict) or not {"start", "end", "type"} <= set(e):
            raise DataError(path, line, 'expected {"start", "end", "type"}', where)
        start, end, kind = e["start"], e["end"], e["type"]
        if type(start) is not int or type(end) is not int or not 0 <= start < end <= len(text):
            raise DataError(path, line, f"start={start!r}, end={end!r}: expected integers with "
                                        f"0 <= start < end <= {len(text)} (end exclusive)", where)
        if not isinstance(kind, str) or not kind.strip():
            raise DataError(path, line, "expected a non-empty string", f"{where}.type")
        out.append({"start": start, "end": end, "type": kind})
    return sorted(out, key=lambda e: (e["start"], e["end"], e["type"]))


# ---- tables ---------------------------------------------------------------------------------------
def _read_table(path, gold, columns):
    """Rows with "text" and "entities" (list or JSON text) columns; CSV row N is reported as line N + 1
    (after the header), other tables' rows as "row N"."""
    csv = Path(path).suffix.lower() == ".csv"
    return [json_record(row, path, no + 1 if csv else f"row {no}", gold)
            for no, row in read_table(path, columns)]

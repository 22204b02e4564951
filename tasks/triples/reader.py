"""DuIE / LIC2019 readers: `{"text", "spo_list": [{"subject","predicate","object",...}]}` lines and the
schema file of `{"predicate","subject_type","object_type"}` lines.

The 2020 form (object / object_type as `{"@value": ...}` dicts) is accepted; of a complex object only
its main `@value` slot is kept. A triple whose subject or object does not occur in its text cannot
be a pointer target, so it is skipped and counted in one warning per file, never a crash.
"""
import warnings

from nlpkit.data import read_json_records, require
from nlpkit.errors import DataError


def _value(spo, field, path, line, where):
    """A string field of a triple; 2020-style `{"@value": ...}` dicts give their main value."""
    if field not in spo:
        raise DataError(path, line, "missing", f"{where}.{field}")
    value = spo[field]
    if isinstance(value, dict):
        if "@value" not in value:
            raise DataError(path, line, "a dict needs an '@value' key", f"{where}.{field}")
        value = value["@value"]
    if not isinstance(value, str):
        raise DataError(path, line, f"expected a string, got {type(value).__name__}", f"{where}.{field}")
    return value


def read_spo_file(path, require_spo=True):
    """Records {"text", "spo_list": [{"subject","predicate","object","subject_type","object_type"}]}.

    With require_spo=False (prediction inputs) a missing spo_list is allowed and read as empty.
    """
    records, skipped, first_skip = [], 0, None
    for line, obj in read_json_records(path):
        text = require(obj, "text", path, line)
        if "spo_list" not in obj and not require_spo:
            records.append({"text": text, "spo_list": []})
            continue
        raw = require(obj, "spo_list", path, line, kind=list, allow_empty=True)
        spo_list = []
        for i, spo in enumerate(raw):
            where = f"spo_list[{i}]"
            if not isinstance(spo, dict):
                raise DataError(path, line, f"expected a JSON object, got {type(spo).__name__}", where)
            triple = {k: _value(spo, k, path, line, where) for k in ("subject", "predicate", "object")}
            for k in ("subject", "predicate", "object"):
                if not triple[k]:
                    raise DataError(path, line, "is empty", f"{where}.{k}")
            for k in ("subject_type", "object_type"):
                triple[k] = _value(spo, k, path, line, where) if k in spo else ""
            if triple["subject"] not in text or triple["object"] not in text:
                skipped += 1
                first_skip = first_skip or line
                continue
            key = (triple["subject"], triple["predicate"], triple["object"])
            if all((t["subject"], t["predicate"], t["object"]) != key for t in spo_list):
                spo_list.append(triple)
        records.append({"text": text, "spo_list": spo_list})
    if skipped:
        warnings.warn(
            f"{path}: skipped {skipped} triple(s) whose subject or object is not in the text "
            f"(first at line {first_skip})",
            stacklevel=2,
        )
    return records


def read_schema(path):
    """Predicate names in file order from a schema file (DuIE 2019 or 2020 form)."""
    predicates = []
    for line, obj in read_json_records(path):
        name = require(obj, "predicate", path, line)
        if name not in predicates:
            predicates.append(name)
    if not predicates:
        raise DataError(path, None, "no predicates in the schema file")
    return predicates

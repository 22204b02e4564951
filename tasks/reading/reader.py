"""Readers: WebQA / SogouQA JSON and SQuAD / CMRC2018 files -> question records.

A record is {"id", "question", "passages": [{"passage", "answers": [alternatives]}]}; a passage
with no answer has answers == []. The gold answers of a question are the alternatives of all its
passages (gold_answers()); a question whose passages all lack one has the gold answer "no answer".
"""
import json

from nlpkit.data import check_file, json_start, read_json_records
from nlpkit.errors import DataError


def split_answer(value, sep, path, line, field):
    """A passage's "answer": a string (alternatives joined by `sep`, empty = none) or a list of strings."""
    if isinstance(value, str):
        parts = value.split(sep) if sep else [value]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        parts = value
    else:
        raise DataError(path, line, f"expected a string or a list of strings, got {type(value).__name__}", field)
    return [p.strip() for p in parts if p.strip()]


def webqa_record(obj, path, line, sep, need_answers=True):
    """One WebQA / SogouQA object {"id","question","passages":[{"passage","answer"}]}.

    For prediction inputs (need_answers=False) "answer" may be missing and a passage may be a plain string."""
    if not isinstance(obj, dict):
        raise DataError(path, line, f"expected a JSON object, got {type(obj).__name__}")
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        raise DataError(path, line, "missing" if question is None else "expected a non-empty string", "question")
    passages = obj.get("passages")
    if not isinstance(passages, list) or not passages:
        raise DataError(path, line, "missing" if passages is None else "expected a non-empty list", "passages")
    items = []
    for i, p in enumerate(passages):
        field = f"passages[{i}]"
        if isinstance(p, str) and not need_answers:
            p = {"passage": p}
        if not isinstance(p, dict):
            raise DataError(path, line, f"expected an object {{\"passage\",\"answer\"}}, got {type(p).__name__}", field)
        text = p.get("passage")
        if not isinstance(text, str):
            raise DataError(path, line, "missing" if text is None else f"expected a string, got {type(text).__name__}",
                            f"{field}.passage")
        if "answer" in p:
            answers = split_answer(p["answer"], sep, path, line, f"{field}.answer")
        elif "answers" in p:
            answers = split_answer(p["answers"], sep, path, line, f"{field}.answers")
        elif need_answers:
            raise DataError(path, line, "missing", f"{field}.answer")
        else:
            answers = []
        items.append({"passage": text, "answers": answers})
    record_id = obj.get("id", obj.get("query_id"))
    return {"id": None if record_id is None else str(record_id), "question": question.strip(), "passages": items}


def squad_answers(obj, path, line, field):
    answers = obj.get("answers", [])
    if obj.get("is_impossible") and not answers:
        return []
    if not isinstance(answers, list):
        raise DataError(path, line, f"expected a list, got {type(answers).__name__}", field)
    out = []
    for i, a in enumerate(answers):
        text = a.get("text") if isinstance(a, dict) else a
        if not isinstance(text, str):
            raise DataError(path, line, 'expected {"text": string}', f"{field}[{i}]")
        if text.strip() and text.strip() not in out:
            out.append(text.strip())
    return out


def squad_flat_record(obj, path, line, need_answers=True, where=""):
    """A flat SQuAD / CMRC2018-style object {"id","context","question","answers":[{"text"}]};
    `where` prefixes field names (the JSON path inside a nested file)."""
    if not isinstance(obj, dict):
        raise DataError(path, line, f"expected a JSON object, got {type(obj).__name__}", where.rstrip(".") or None)
    for field in ("context", "question"):
        if not isinstance(obj.get(field), str) or not obj[field].strip():
            raise DataError(path, line, "missing" if field not in obj else "expected a non-empty string", where + field)
    if need_answers and "answers" not in obj and not obj.get("is_impossible"):
        raise DataError(path, line, "missing", where + "answers")
    answers = squad_answers(obj, path, line, where + "answers")
    return {"id": None if obj.get("id") is None else str(obj["id"]), "question": obj["question"].strip(),
            "passages": [{"passage": obj["context"], "answers": answers}]}


def squad_nested_records(doc, path, need_answers=True):
    """The official nested layout {"data":[{"paragraphs":[{"context","qas":[...]}]}]}; there are no
    useful line numbers inside one big JSON object, so errors name the JSON path instead."""
    records = []
    data = doc.get("data")
    if not isinstance(data, list):
        raise DataError(path, None, "expected a list", "data")
    for a, article in enumerate(data):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise DataError(path, None, "expected a list", f"data[{a}].paragraphs")
        for p, para in enumerate(paragraphs):
            where = f"data[{a}].paragraphs[{p}]"
            if not isinstance(para, dict) or not isinstance(para.get("context"), str):
                raise DataError(path, None, "expected a string", f"{where}.context")
            if not isinstance(para.get("qas"), list):
                raise DataError(path, None, "expected a list", f"{where}.qas")
            for q, qa in enumerate(para["qas"]):
                flat = {**qa, "context": para["context"]} if isinstance(qa, dict) else qa
                records.append(squad_flat_record(flat, path, None, need_answers, f"{where}.qas[{q}]."))
    return records


def read_questions(path, sep="|", need_answers=True):
    """Read a WebQA / SogouQA file (JSON list or JSONL) or a SQuAD / CMRC2018 file (nested JSON, or a
    flat list / JSONL of {"context","question","answers"})."""
    p = check_file(path)
    if json_start(p) == "{":
        try:
            doc = json.loads(p.read_bytes().decode("utf-8-sig"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            doc = None  # JSONL: read line by line below, which names the bad line
        if isinstance(doc, dict) and "data" in doc:
            return squad_nested_records(doc, path, need_answers)
    records = []
    for line, obj in read_json_records(path):
        if isinstance(obj, dict) and "context" in obj and "passages" not in obj:
            records.append(squad_flat_record(obj, path, line, need_answers))
        else:
            records.append(webqa_record(obj, path, line, sep, need_answers))
    return records


def gold_answers(record):
    """The question's gold alternatives in order of first appearance; [] means "no answer"."""
    out = []
    for p in record["passages"]:
        for a in p.get("answers", []):
            if a not in out:
                out.append(a)
    return out

"""TableQA files: questions (`train.json`) and their tables (`train.tables.json`), checked line by line,
and the databases built from them.

WikiSQL files differ only in names (integer `sel`/`agg`, no `cond_conn_op`, other code numbers);
they are read into the TableQA form. A tables file is loaded once into an SQLite copy kept in the nlpkit
cache under its content digest: nothing is ever written next to the user's files.
"""
import hashlib
import json
from pathlib import Path

from nlpkit.cache import cache_file
from nlpkit.data import atomic_path, read_json_records, require
from nlpkit.errors import DataError, NlpkitError

from .sql import (AGGS, CONNS, LAYOUT_VERSION, OPS, SQLITE_MAGIC, Database, Table, file_digest, parse_number,
                  sqlite_matches, write_sqlite)

TYPES = ("text", "real")
# WikiSQL code -> TableQA code
WIKISQL_AGG = {0: 0, 1: 2, 2: 3, 3: 4, 4: 5, 5: 1}  # '', MAX, MIN, COUNT, SUM, AVG
WIKISQL_OP = {0: 2, 1: 0, 2: 1}  # =, >, <


def find_tables(questions_path, explicit=None):
    """The tables file (or SQLite database) for a questions file.

    `explicit` (config key `tables`) wins; otherwise TableQA's convention: train.json next to
    train.tables.json, or a shared tables.json in the same folder (.jsonl for WikiSQL)."""
    if explicit:
        if not Path(explicit).exists():
            raise NlpkitError(f"tables={explicit}: no such file")
        return Path(explicit)
    q = Path(questions_path)
    stem = q.name.split(".")[0]
    candidates = [q.parent / f"{stem}.tables.json", q.parent / f"{stem}.tables.jsonl",
                  q.parent / "tables.json", q.parent / "tables.jsonl"]
    for c in candidates:
        if c.exists():
            return c
    raise NlpkitError(
        f"{questions_path}: no tables file found (looked for {', '.join(c.name for c in candidates)}); "
        "set tables=PATH to a TableQA tables file or an SQLite database"
    )


def open_database(path):
    """A Database from a TableQA tables file (through its cached SQLite copy) or an SQLite database."""
    path = Path(path)
    if not path.is_file():
        raise NlpkitError(f"{path}: no such tables file or database")
    with open(path, "rb") as f:
        is_sqlite = f.read(16) == SQLITE_MAGIC
    digest = file_digest(path)
    if is_sqlite:
        return Database.from_sqlite(path, digest).opened_from(path)
    copy = sqlite_copy(digest)
    if not sqlite_matches(copy, digest):
        tables = read_tables(path)
        with atomic_path(copy) as tmp:  # a reader never sees a half-written copy
            write_sqlite(tmp, tables, digest)
    return Database.from_sqlite(copy, digest).opened_from(path)


def sqlite_copy(digest):
    """Where the SQLite copy of a tables file with this content digest lives (the nlpkit cache)."""
    return cache_file("nl2sql", f"{digest}-v{LAYOUT_VERSION}", ".sqlite")


def database_from_dicts(tables):
    """An in-memory Database from TableQA table dicts (checked like a tables file's lines)."""
    parsed = [parse_table(t, "table", None) for t in tables]
    version = hashlib.sha256(json.dumps(tables, ensure_ascii=False, sort_keys=True, default=str).encode()).hexdigest()
    return Database.in_memory(parsed, version)


def parse_table(obj, path, line):
    """One tables-file object -> (Table, rows), checking header, types and every row."""
    tid = require(obj, "id", path, line, kind=(str, int))
    header = require(obj, "header", path, line, kind=list)
    for i, h in enumerate(header):
        if not isinstance(h, (str, int, float)):
            raise DataError(path, line, f"header {i} is {type(h).__name__}, expected text", "header")
    header = [str(h) for h in header]
    types = obj.get("types") or ["text"] * len(header)
    if not isinstance(types, list) or len(types) != len(header):
        raise DataError(path, line, f"expected a list of {len(header)} types (one per header)", "types")
    for k in types:
        if k not in TYPES:
            raise DataError(path, line, f"type {k!r} is not one of {', '.join(TYPES)}", "types")
    rows = require(obj, "rows", path, line, kind=list, allow_empty=True)
    for r, row in enumerate(rows):
        if not isinstance(row, list):
            raise DataError(path, line, f"row {r} is {type(row).__name__}, expected a list", "rows")
        if len(row) != len(header):
            shape = "shorter" if len(row) < len(header) else "longer"
            raise DataError(path, line, f"row {r} has {len(row)} cells, {shape} than the header's {len(header)}",
                            "rows")
    title = obj.get("title") or obj.get("page_title") or obj.get("name") or ""
    return Table(str(tid), header, list(types), title=str(title)), rows


def read_tables(path):
    """[(Table, rows)] from a TableQA tables file (JSONL or a JSON list)."""
    out, seen = [], {}
    for line, obj in read_json_records(path):
        table, rows = parse_table(obj, path, line)
        if table.id in seen:
            raise DataError(path, line, f"duplicate table id '{table.id}' (first on line {seen[table.id]})", "id")
        seen[table.id] = line
        out.append((table, rows))
    if not out:
        raise NlpkitError(f"{path}: no tables")
    return out


def read_questions(path, db, tables_key, need_sql=True):
    """Question records {"table_id", "question", "sql", "tables", "line"}; `sql` normalised to TableQA codes.

    `tables_key` names the database the record's table lives in (the task keeps them by that key)."""
    records = []
    for line, obj in read_json_records(path):
        tid = str(require(obj, "table_id", path, line, kind=(str, int)))
        question = require(obj, "question", path, line).strip()
        if tid not in db.tables:
            raise DataError(path, line, f"table_id '{tid}' is not in {db.name}", "table_id")
        sql = None
        if need_sql or "sql" in obj:
            sql = parse_sql(require(obj, "sql", path, line, kind=dict), db.tables[tid], path, line)
        records.append({"table_id": tid, "question": question, "sql": sql, "tables": tables_key, "line": line})
    if not records:
        raise NlpkitError(f"{path}: no questions")
    return records


def parse_sql(sql, table, path, line):
    n = len(table.header)
    sel, agg = sql.get("sel"), sql.get("agg")
    wikisql = isinstance(sel, int) and not isinstance(sel, bool)
    if wikisql:
        sel, agg = [sel], [WIKISQL_AGG.get(agg, agg)]
    if not isinstance(sel, list) or not sel:
        raise DataError(path, line, "expected a non-empty list of column indexes", "sql.sel")
    if not isinstance(agg, list) or len(agg) != len(sel):
        raise DataError(path, line, f"expected a list of {len(sel)} agg codes (one per sel)", "sql.agg")
    for c in sel:
        _column(c, n, table, path, line, "sql.sel")
    for a in agg:
        if a not in range(len(AGGS)):
            raise DataError(path, line, f"agg code {a!r} is not one of 0..{len(AGGS) - 1}", "sql.agg")
    conds = sql.get("conds") or []
    if not isinstance(conds, list):
        raise DataError(path, line, "expected a list of [column, op, value]", "sql.conds")
    out = []
    for cond in conds:
        if not isinstance(cond, list) or len(cond) != 3:
            raise DataError(path, line, f"condition {cond!r} is not [column, op, value]", "sql.conds")
        col, op, value = cond
        _column(col, n, table, path, line, "sql.conds")
        if wikisql:
            if op not in WIKISQL_OP:
                raise DataError(path, line, f"WikiSQL op {op!r} is not one of 0 (=), 1 (>), 2 (<)", "sql.conds")
            op = WIKISQL_OP[op]
        if op not in range(len(OPS)):
            raise DataError(path, line, f"condition op {op!r} is not one of 0..{len(OPS) - 1}", "sql.conds")
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise DataError(path, line, f"condition value {value!r} is not text or a number", "sql.conds")
        if table.types[col] == "real" and parse_number(value) is None:
            raise DataError(path, line, f"condition value {value!r} is not a number, but column "
                            f"{col} ('{table.header[col]}') is real", "sql.conds")
        out.append([col, op, str(value) if not isinstance(value, str) else value])
    conn = sql.get("cond_conn_op", 1 if len(out) > 1 else 0) if not wikisql else (1 if len(out) > 1 else 0)
    if conn not in range(len(CONNS)):
        raise DataError(path, line, f"cond_conn_op {conn!r} is not one of 0, 1, 2", "sql.cond_conn_op")
    return {"sel": list(sel), "agg": list(agg), "cond_conn_op": conn, "conds": out}


def _column(col, n, table, path, line, field):
    if isinstance(col, bool) or not isinstance(col, int) or not 0 <= col < n:
        raise DataError(path, line, f"column {col!r} out of range: table '{table.id}' has {n} columns "
                        f"(0..{n - 1})", field)

"""The SQL side of nl2sql: tables in SQLite, structured queries rendered with quoted identifiers and
values bound as parameters, executed on a read-only connection.

A structured query is the TableQA `sql` dict: {"sel": [col, ...], "agg": [code, ...],
"cond_conn_op": 0|1|2, "conds": [[col, op, value], ...]} with column indexes into the table header.
"""
import hashlib
import json
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from nlpkit.errors import NlpkitError

# TableQA codes
AGGS = ["", "AVG", "MAX", "MIN", "COUNT", "SUM"]
OPS = [">", "<", "=", "!="]
CONNS = ["", "AND", "OR"]

#: bump when the SQLite layout written from a tables file changes, so old caches are rebuilt
LAYOUT_VERSION = "1"
META_TABLE = "_nlpkit_source"
SQLITE_MAGIC = b"SQLite format 3\x00"

NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


class SQLError(NlpkitError):
    """A query that cannot be rendered or run (bad column, non-numeric value for a real column...)."""


@dataclass
class Table:
    id: str
    header: list  # display names, as the model reads them
    types: list  # "text" | "real" per column
    columns: list = field(default_factory=list)  # SQLite column names (headers made unique)
    title: str = ""

    def __post_init__(self):
        if not self.columns:
            self.columns = unique_columns(self.header)


def unique_columns(header):
    """SQLite column names from headers: empty ones named colN, duplicates (case-insensitive) suffixed."""
    seen, out = set(), []
    for i, h in enumerate(header):
        name = str(h).strip() or f"col{i}"
        base, n = name, 2
        while name.lower() in seen:
            name, n = f"{base}_{n}", n + 1
        seen.add(name.lower())
        out.append(name)
    return out


def quote(identifier):
    """An SQL identifier in double quotes; embedded quotes doubled, so any header is safe."""
    return '"' + str(identifier).replace('"', '""') + '"'


def parse_number(value):
    """float(value), also for strings like '1,234' or '25.8%'; None when there is no number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).replace(",", "").strip()
    try:
        return float(text)
    except ValueError:
        m = NUMBER.search(text)
        return float(m.group()) if m else None


def cell_text(value):
    """A cell or condition value as the text a text column stores (25.0 -> '25')."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def normalize_value(value, kind):
    """The value a condition compares with: a float for real columns, stripped text otherwise."""
    if kind == "real":
        return parse_number(value)
    text = cell_text(value)
    return text.strip() if text is not None else None


# ---- rendering ---------------------------------------------------------------------------------
def render(query, table):
    """Structured query -> (sql, params). Identifiers come from the table schema, values are params."""
    sel, agg = list(query.get("sel", [])), list(query.get("agg", []))
    if not sel:
        raise SQLError("query selects no column")
    if len(sel) != len(agg):
        raise SQLError(f"query has {len(sel)} sel columns but {len(agg)} agg codes")
    n = len(table.columns)
    parts = []
    for col, a in zip(sel, agg):
        _check_index(col, n, "sel column")
        if not isinstance(a, int) or not 0 <= a < len(AGGS):
            raise SQLError(f"agg code {a!r} is not one of 0..{len(AGGS) - 1}")
        name = quote(table.columns[col])
        parts.append(f"{AGGS[a]}({name})" if a else name)
    sql = f"SELECT {', '.join(parts)} FROM {quote(table.id)}"
    conds, params = query.get("conds") or [], []
    if conds:
        conn = query.get("cond_conn_op", 0)
        if conn not in (0, 1, 2):
            raise SQLError(f"cond_conn_op {conn!r} is not one of 0, 1, 2")
        where = []
        for cond in conds:
            if len(cond) != 3:
                raise SQLError(f"condition {cond!r} is not [column, op, value]")
            col, op, value = cond
            _check_index(col, n, "condition column")
            if not isinstance(op, int) or not 0 <= op < len(OPS):
                raise SQLError(f"condition op {op!r} is not one of 0..{len(OPS) - 1}")
            bound = normalize_value(value, table.types[col])
            if bound is None:
                raise SQLError(f"value {value!r} is not a number, but column '{table.header[col]}' is real")
            where.append(f"{quote(table.columns[col])} {OPS[op]} ?")
            params.append(bound)
        # a lone condition ignores the connector; several without one are joined with AND
        sql += " WHERE " + f" {CONNS[conn] or 'AND'} ".join(where)
    return sql, params


def _check_index(col, n, what):
    if isinstance(col, bool) or not isinstance(col, int) or not 0 <= col < n:
        raise SQLError(f"{what} {col!r} out of range: the table has {n} columns")


# ---- databases ---------------------------------------------------------------------------------
def _authorizer(action, *_):
    # defence in depth: whatever SQL reaches the executing connection, it may only read
    if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION):
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


class Database:
    """Tables by id, with a read-only SQLite connection to run queries on.

    Built by the reader (`reader.open_database` for a tables file or an SQLite database,
    `reader.database_from_dicts` for table dicts, in memory); this module never reads tables files.
    """

    def __init__(self, path, tables, connection=None, version=""):
        self.path = str(path) if path is not None else None
        self.tables = tables  # id -> Table
        #: digest of the source (tables file or database): part of the encoded-data cache key
        self.version = version
        self._conn = connection
        self._values = {}
        self.source, self.stamp = None, None  # the file it was opened from, and its (mtime, size) then

    @classmethod
    def from_sqlite(cls, path, version=""):
        """Open an SQLite file read-only: a copy we wrote (headers as the tables file gave them, kept in
        META_TABLE) or the user's own database (tables by name, types from the declared columns)."""
        conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True, check_same_thread=False)
        try:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            if META_TABLE in names:
                meta = dict(conn.execute(f"SELECT key, value FROM {quote(META_TABLE)}").fetchall())
                tables = {t[0]: Table(*t) for t in json.loads(meta["tables"])}
            else:
                tables = {name: _schema_table(conn, name) for name in names if not name.startswith("sqlite_")}
        except sqlite3.DatabaseError as e:
            conn.close()
            raise NlpkitError(f"{path}: cannot read the SQLite database: {e}") from None
        return cls(path, tables, _read_only(conn), version)

    @classmethod
    def in_memory(cls, parsed, version):
        """An in-memory database of [(Table, rows)] (already checked)."""
        conn = sqlite3.connect(":memory:", check_same_thread=False)
        _load(conn, parsed)
        conn.commit()
        return cls(None, {t.id: t for t, _ in parsed}, _read_only(conn), version)

    def opened_from(self, source):
        """Remember the user's file it was opened from, to notice when that file changes."""
        self.source, self.stamp = Path(source), file_stamp(source)
        return self

    @property
    def name(self):
        """What error messages call it: the tables file or database the user gave."""
        return str(self.source or self.path or "the given tables")

    def stale(self):
        """Whether the file it was opened from has changed since."""
        return self.source is not None and file_stamp(self.source) != self.stamp

    # use
    def table(self, table_id):
        try:
            return self.tables[table_id]
        except KeyError:
            raise NlpkitError(f"table '{table_id}' is not in {self.name}") from None

    def values(self, table_id, col, limit=5000):
        """Distinct non-empty values of a column (for value matching and snapping), cached."""
        key = (table_id, col)
        if key not in self._values:
            t = self.table(table_id)
            sql = (f"SELECT DISTINCT {quote(t.columns[col])} FROM {quote(t.id)} "
                   f"WHERE {quote(t.columns[col])} IS NOT NULL LIMIT {int(limit)}")
            self._values[key] = [cell_text(v) for (v,) in self.connection.execute(sql)]
        return self._values[key]

    def execute(self, sql, params=()):
        """Run one statement on the read-only connection; anything but reading is refused."""
        try:
            return self.connection.execute(sql, list(params)).fetchall()
        except sqlite3.Error as e:
            raise SQLError(f"cannot run {sql!r}: {e}") from None

    def run(self, query, table_id):
        sql, params = render(query, self.table(table_id))
        return self.execute(sql, params)

    @property
    def connection(self):
        if self._conn is None:  # after unpickling in a worker process
            self._conn = Database.from_sqlite(self.path)._conn
        return self._conn

    def __getstate__(self):
        if self.path is None:
            raise NlpkitError("an in-memory nl2sql database cannot be sent to another process")
        return {**self.__dict__, "_conn": None, "_values": {}}


def _read_only(conn):
    conn.execute("PRAGMA query_only = ON")
    conn.set_authorizer(_authorizer)
    return conn


def _numeric_affinity(declared):
    d = (declared or "").upper()
    return any(k in d for k in ("INT", "REAL", "FLOA", "DOUB", "NUM", "DEC"))


def _load(conn, tables):
    for t, rows in tables:
        cols = ", ".join(f"{quote(c)} {'REAL' if k == 'real' else 'TEXT'}" for c, k in zip(t.columns, t.types))
        conn.execute(f"CREATE TABLE {quote(t.id)} ({cols})")
        marks = ", ".join("?" * len(t.columns))
        conn.executemany(
            f"INSERT INTO {quote(t.id)} VALUES ({marks})",
            ([normalize_value(v, k) if v not in ("", None) else None for v, k in zip(row, t.types)] for row in rows),
        )


def _schema_table(conn, name):
    info = conn.execute(f"PRAGMA table_info({quote(name)})").fetchall()
    cols = [r[1] for r in info]
    return Table(name, cols, ["real" if _numeric_affinity(r[2]) else "text" for r in info], cols)


def write_sqlite(path, parsed, digest):
    """Write [(Table, rows)] to a new SQLite file, with the source digest and the headers in META_TABLE."""
    conn = sqlite3.connect(path)
    try:
        _load(conn, parsed)
        conn.execute(f"CREATE TABLE {quote(META_TABLE)} (key TEXT, value TEXT)")
        meta = {"sha256": digest, "layout": LAYOUT_VERSION,
                "tables": [[t.id, t.header, t.types, t.columns, t.title] for t, _ in parsed]}
        conn.executemany(f"INSERT INTO {quote(META_TABLE)} VALUES (?, ?)",
                         [(k, json.dumps(v, ensure_ascii=False)) for k, v in meta.items()])
        conn.commit()
    finally:
        conn.close()


def sqlite_matches(path, digest):
    """Whether `path` is an SQLite copy we wrote of the source with this digest, in this layout."""
    try:
        conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True)
        try:
            meta = dict(conn.execute(f"SELECT key, value FROM {quote(META_TABLE)}").fetchall())
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return meta.get("sha256") == json.dumps(digest) and meta.get("layout") == json.dumps(LAYOUT_VERSION)


def file_stamp(path):
    st = Path(path).stat()
    return st.st_mtime_ns, st.st_size


def file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

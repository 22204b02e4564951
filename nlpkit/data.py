"""Readers with file:line errors (text lines, JSON, tables), atomic writers, padding and length-grouped
batching."""
import contextlib
import csv
import json
import lzma
import os
import re
import tempfile
import zlib
from pathlib import Path

from .errors import DataError, NlpkitError


def check_file(path):
    p = Path(path)
    if not p.exists():
        raise NlpkitError(f"{path}: no such file")
    if p.is_dir():
        raise NlpkitError(f"{path}: is a folder, expected a file")
    return p


#: A longer "line" is a binary file or one without newlines; reading it whole could exhaust memory.
MAX_LINE_BYTES = 16 << 20
_SNIFF_BYTES = 64 << 10

_COMPRESSED = "expected UTF-8 text: decompress it first"
_EXPORT = "expected UTF-8 text: export it as text (TSV, JSONL) first"
# (first bytes, format, what to do); checked in order, so the zip-based formats precede plain zip
_MAGIC = [(re.compile(m, re.S), name, hint) for m, name, hint in (
    (rb"PAR1", "Parquet", _EXPORT),
    (rb"ARROW1", "Arrow", _EXPORT),
    (rb"\xff\xff\xff\xff", "Arrow stream", _EXPORT),  # the .arrow files `datasets` writes
    (rb"SQLite format 3\x00", "SQLite", _EXPORT),
    (rb"PK\x03\x04.*?xl/", "Excel .xlsx", _EXPORT),
    (rb"PK\x03\x04.*?word/", "Word .docx", _EXPORT),
    (rb"PK(\x03\x04|\x05\x06)", "zip", _COMPRESSED),
    (rb"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "Excel .xls / OLE2", _EXPORT),
    (rb"\x1f\x8b", "gzip", _COMPRESSED),
    (rb"BZh[1-9]1AY&SY", "bzip2", _COMPRESSED),
    (rb"\xfd7zXZ\x00", "xz", _COMPRESSED),
    (rb"\x28\xb5\x2f\xfd", "zstd", _COMPRESSED),
    (rb"7z\xbc\xaf\x27\x1c", "7z", _COMPRESSED),
    (rb"%PDF-", "PDF", _EXPORT),
    (rb"\xff\xfe|\xfe\xff", "UTF-16 text", "expected UTF-8 text: convert it (iconv -f UTF-16 -t UTF-8)"),
)]


def sniff_format(head):
    """(format, hint) of the binary format a file's first bytes show, or None (maybe text)."""
    for magic, name, hint in _MAGIC:
        if magic.match(head):
            return name, hint
    return None


def sniff_unsupported(path, head=None):
    """Raise NlpkitError naming the format when `path` (or its first bytes `head`) is not text."""
    if head is None:
        with _open_bytes(path) as f:
            head = _read(f.peek, _SNIFF_BYTES, path)
    found = sniff_format(head)
    if found:
        raise NlpkitError(f"{path}: unsupported format ({found[0]}); {found[1]}")


def _open_bytes(path):
    try:
        return open(check_file(path), "rb", buffering=_SNIFF_BYTES)
    except OSError as e:  # permission denied, a socket...: one line naming the file
        raise NlpkitError(f"{path}: cannot read: {e.strerror or e}") from None


#: what a read raises on an unreadable file, or a truncated or corrupt .gz / .bz2 / .xz stream
READ_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError)


def _read(method, size, path):
    try:
        return method(size)
    except READ_ERRORS as e:
        raise NlpkitError(f"{path}: cannot read: {getattr(e, 'strerror', None) or e}") from None


def iter_lines(path, max_line_bytes=MAX_LINE_BYTES):
    """Yield (line_number, line without newline) of a UTF-8 text file; bad bytes name the line.

    A binary format (Parquet, gzip, ...) is refused by name, and a line over max_line_bytes is an
    error rather than a MemoryError (reads are bounded, even on /dev/zero)."""
    with _open_bytes(path) as f:
        sniff_unsupported(path, _read(f.peek, _SNIFF_BYTES, path))
        yield from read_lines(f, path, max_line_bytes)


def read_lines(f, path, max_line_bytes=MAX_LINE_BYTES):
    """iter_lines() over an open binary stream (e.g. a gzip file), `path` naming it in errors."""
    no = 0
    while raw := _read(f.readline, max_line_bytes + 1, path):
        no += 1
        if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
            raise DataError(path, no, f"line longer than {max_line_bytes:,} bytes: not a text file, "
                                      "or a file without line breaks")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(path, no, f"not valid UTF-8 ({e.reason} at byte {e.start})") from None
        if no == 1:
            line = line.lstrip("\ufeff")
        yield no, line.rstrip("\r\n")


def iter_tsv_pairs(path, names, split_last=False):
    """Yield (line_number, first, second) for every non-blank `first<TAB>second` line; names: the two
    fields, for the error a line without a tab gets. split_last: split at the last tab (the second
    field never holds one) rather than the first."""
    for no, line in iter_lines(path):
        if not line.strip():
            continue
        if "\t" not in line:
            raise DataError(path, no, f"expected '{names[0]}<TAB>{names[1]}', found no tab")
        first, second = line.rsplit("\t", 1) if split_last else line.split("\t", 1)
        yield no, first, second


def read_json_lines(path):
    """Yield (line_number, object) for every non-empty line of a JSONL file."""
    for no, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            yield no, json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(path, no, f"invalid JSON: {e.msg} (column {e.colno})") from None


def json_start(path):
    """'[' for a file holding a JSON list, '{' for a JSON object or JSON lines, else None (other text).

    Reads only the first 64 KiB, so a minified JSON list on one long line is told apart too."""
    with _open_bytes(path) as f:
        head = _read(f.peek, _SNIFF_BYTES, path)[:_SNIFF_BYTES]
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    return head[:1].decode() if head[:1] in (b"[", b"{") else None


def is_json(path):
    """Whether a data file is JSON or JSON lines: its name ends in .json / .jsonl, or its text opens with
    { or [. The one test every reader that takes JSON besides its own text format asks."""
    return Path(path).suffix.lower() in (".json", ".jsonl") or json_start(path) is not None


def read_json_records(path):
    """A JSON file holding a list of objects, or JSONL: (line_number, object) pairs.

    For a JSON list the line number is where the object starts."""
    if json_start(path) != "[":
        yield from read_json_lines(path)
        return
    with _open_bytes(path) as f:
        raw = _read(f.read, -1, path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(path, line, f"not valid UTF-8 ({e.reason})") from None
    decoder = json.JSONDecoder()
    try:
        items = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(path, e.lineno, f"invalid JSON: {e.msg} (column {e.colno})") from None
    # recover each object's starting line for error messages
    pos, starts = text.index("[") + 1, []
    for _ in items:
        while text[pos] in " \t\r\n,":
            pos += 1
        starts.append(text.count("\n", 0, pos) + 1)
        _, pos = decoder.raw_decode(text, pos)
    yield from zip(starts, items)


def read_jsonl(path):
    return [obj for _, obj in read_json_lines(path)]


def require(record, field, path, line, kind=str, allow_empty=False):
    """Fetch record[field], checking presence and type; errors name file, line and field."""
    if not isinstance(record, dict):
        raise DataError(path, line, f"expected a JSON object, got {type(record).__name__}")
    if field not in record:
        raise DataError(path, line, "missing", field)
    value = record[field]
    if kind is not None and not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise DataError(path, line, f"expected {names}, got {type(value).__name__}", field)
    if not allow_empty and isinstance(value, (str, list)) and not value:
        raise DataError(path, line, "is empty", field)
    return value


# ---- tables -------------------------------------------------------------------------------------
_TABLE_SUFFIXES = (".csv", ".parquet", ".arrow")
_SAVED_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


def is_table(path):
    """True for what only read_table reads: .csv, .parquet, .arrow, or a `datasets` save_to_disk folder.

    .tsv and .json/.jsonl are not: tasks have their own header-less formats there, and call read_table
    for them only when they want a table."""
    p = Path(path)
    if p.is_dir():
        return any((p / m).is_file() for m in _SAVED_MARKERS)
    return p.suffix.lower() in _TABLE_SUFFIXES


def reads_as_table(path, columns=None):
    """Whether read_table reads `path` for a task: a table format (is_table), or a JSON / JSONL / TSV
    file when data.columns maps its columns (a task reads these in its own formats otherwise)."""
    return is_table(path) or bool(columns) and Path(path).suffix.lower() in (".json", ".jsonl", ".tsv")


def read_table(path, columns=None):
    """Yield (row_number, dict) for each row of a table, rows counted from 1 (CSV row N is line N + 1).

    Formats: .csv, .tsv (a header row, tab-separated, no quoting), .parquet, .arrow, .json/.jsonl (one
    object per row), and a `datasets` save_to_disk folder. CSV/TSV cells stay strings exactly as written
    ("007" stays "007", "NA" stays "NA"); other formats keep their types, as plain Python values.
    columns: {field: column} renames the file's columns to the task's fields, e.g. {"text": "review"};
    a column it names must exist (for JSON: in every row)."""
    p = Path(path)
    reader = _TABLE_READERS.get("folder" if p.is_dir() else p.suffix.lower())
    if reader is None:
        raise NlpkitError(f"{path}: not a table: expected .csv, .tsv, .parquet, .arrow, .json, .jsonl "
                          "or a datasets save_to_disk folder")
    columns = check_mapping(columns)
    names, rows = reader(path)
    if names is not None:  # a header: a missing column is found before any row is read
        _check_columns(path, columns, names)
    for no, row in rows:
        yield no, map_columns(row, columns, path, f"row {no}")


def map_columns(row, columns, path, where):
    """`row` with data.columns ({field: column}) applied: each field takes its column's value (the
    column's own name goes); a column it names must be in the row. `where` ("row 3", a line number)
    names the row in the error. The one renaming every reader of tables and JSON records uses."""
    if not columns or not isinstance(row, dict):
        return row
    _check_columns(path, columns, row, f" {where}:" if isinstance(where, str) else f"{where}:")
    sources = set(columns.values())
    out = {k: v for k, v in row.items() if k not in sources}
    out.update((f, row[c]) for f, c in columns.items())
    return out


def check_mapping(columns):
    """data.columns as a plain {field: column} dict of strings ({} when None)."""
    if columns is None:
        return {}
    try:
        columns = dict(columns)
    except (TypeError, ValueError):
        columns = None
    if columns is None or not all(isinstance(x, str) for kv in columns.items() for x in kv):
        raise NlpkitError("columns must map field names to column names, e.g. {'text': 'review'}")
    return columns


def _check_columns(path, columns, present, where=""):
    for field_, column in columns.items():
        if column not in present:
            listed = ", ".join(repr(c) for c in present) or "none"
            raise NlpkitError(f"{path}:{where} no column {column!r} (for field {field_!r}); "
                              f"columns present: {listed}")


def _csv_table(path, delimiter=",", quoting=csv.QUOTE_MINIMAL):
    csv.field_size_limit(max(csv.field_size_limit(), MAX_LINE_BYTES))  # default 128 KiB: long texts
    reader = csv.reader((line + "\n" for _, line in iter_lines(path)), delimiter=delimiter, quoting=quoting)
    header = next(_csv_records(path, reader), None)
    if header is None:
        raise NlpkitError(f"{path}: empty, expected a header row")
    dup = sorted({c for c in header if header.count(c) > 1})
    if dup:
        raise DataError(path, reader.line_num, f"header names a column twice: {', '.join(map(repr, dup))}")
    return header, _csv_rows(path, reader, header)


def _csv_records(path, reader):
    """Non-blank records of a csv.reader; a malformed one names its line."""
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise DataError(path, reader.line_num, f"invalid CSV: {e}") from None
        if fields:
            yield fields


def _csv_rows(path, reader, header):
    for no, fields in enumerate(_csv_records(path, reader), 1):
        if len(fields) != len(header):
            raise DataError(path, reader.line_num, f"row {no}: expected {len(header)} fields (as the header), found {len(fields)}")
        yield no, dict(zip(header, fields))


def _tsv_table(path):
    return _csv_table(path, "\t", csv.QUOTE_NONE)


def _json_table(path):
    def rows():
        for no, (line, record) in enumerate(read_json_records(path), 1):
            if not isinstance(record, dict):
                raise DataError(path, line, f"row {no}: expected a JSON object, got {type(record).__name__}")
            yield no, record

    return None, rows()


def _parquet_table(path):
    import pyarrow.parquet as pq

    f = _arrow_do(path, "Parquet", lambda: pq.ParquetFile(str(path)))
    return f.schema_arrow.names, _numbered(path, "Parquet", (b.to_pylist() for b in f.iter_batches(1024)))


def _arrow_table(path):
    import pyarrow as pa

    def read():  # the IPC file format (Feather 2), else the stream format `datasets` writes
        try:
            return pa.ipc.open_file(pa.memory_map(str(path))).read_all()
        except pa.ArrowInvalid:
            return pa.ipc.open_stream(pa.memory_map(str(path))).read_all()

    table = _arrow_do(path, "Arrow", read)
    return table.column_names, _numbered(path, "Arrow", (b.to_pylist() for b in table.to_batches(1024)))


def _saved_table(path):
    import datasets

    ds = _arrow_do(path, "datasets save_to_disk", lambda: datasets.load_from_disk(str(path)))
    if isinstance(ds, datasets.DatasetDict):
        raise NlpkitError(f"{path}: holds the splits {', '.join(ds)}: give one, e.g. {Path(path) / next(iter(ds))}")
    batches = ([dict(zip(b, vals)) for vals in zip(*b.values())] for b in ds.with_format(None).iter(1024))
    return ds.column_names, _numbered(path, "datasets", batches)


def _arrow_do(path, what, action):
    import pyarrow as pa

    try:
        return action()
    except (pa.ArrowException, OSError, ValueError) as e:  # not that format, truncated, unreadable
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise NlpkitError(f"{path}: cannot read as {what}: {why}") from None


def _numbered(path, what, batches):
    """(row_number, row) over batches of rows; a read error midway is one line naming the file."""
    it, no = iter(batches), 0
    while (batch := _arrow_do(path, what, lambda: next(it, None))) is not None:
        for row in batch:
            no += 1
            yield no, row


_TABLE_READERS = {".csv": _csv_table, ".tsv": _tsv_table, ".json": _json_table, ".jsonl": _json_table,
                  ".parquet": _parquet_table, ".arrow": _arrow_table, "folder": _saved_table}


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to `path`; it replaces `path` only if the block succeeds.

    A write that fails for want of room or rights (disk full, `ulimit -f`, permission denied) is one
    NlpkitError naming `path` and the cause; `path` itself is left as it was."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as e:
        raise NlpkitError(f"{path}: cannot write: {_cause(e)}") from None
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except Exception as e:
        why = _write_failure(e, tmp)
        if why is None:
            raise
        raise NlpkitError(f"{path}: cannot write: {why}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _cause(e):
    return e.strerror or str(e) or type(e).__name__


def _write_failure(e, tmp):
    """Why writing `tmp` failed, or None when `e` is not a failed write (it then propagates as is).
    Writers report it differently: an OSError without a file name (open().write), an "(os error N)"
    in the text (safetensors), an SQLite result code (sqlite3), or no cause at all (torch.save): then
    the disk and the file size limit are asked."""
    if isinstance(e, OSError):
        return _cause(e) if e.filename in (None, tmp) else None
    code = re.search(r"\(os error (\d+)\)", str(e))
    if code:
        return os.strerror(int(code.group(1)))
    if isinstance(e, RuntimeError) and re.search(r"inline_container|PytorchStreamWriter", str(e)):
        return _full_or_too_large(tmp) or f"the write failed ({str(e).splitlines()[0]})"
    if getattr(e, "sqlite_errorcode", 0) & 0xFF in (_SQLITE_IOERR, _SQLITE_FULL):  # sqlite3 names no errno
        return _full_or_too_large(tmp) or str(e)
    return None


_SQLITE_IOERR, _SQLITE_FULL = 10, 13  # primary result codes (sqlite3.SQLITE_IOERR, ... from Python 3.11)


def _full_or_too_large(tmp):
    import errno
    import resource

    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and os.path.getsize(tmp) + (64 << 10) >= limit:
        return os.strerror(errno.EFBIG)
    st = os.statvfs(os.path.dirname(tmp) or ".")
    return os.strerror(errno.ENOSPC) if st.f_bavail * st.f_frsize < (1 << 20) else None


@contextlib.contextmanager
def atomic_open(path, mode="w", **open_kwargs):
    """A file object whose content replaces `path` only when the block completes."""
    if "b" not in mode:
        open_kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path) as tmp, open(tmp, mode, **open_kwargs) as f:
        yield f


def write_text(path, text):
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def write_json(path, obj):
    write_text(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def write_jsonl(path, records):
    with atomic_open(path) as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def pad(sequences, value=0, dtype=None, length=None):
    """Right-pad a list of lists to one tensor (long unless `dtype` says otherwise)."""
    import torch  # here, so readers and the word counter's workers do not pay for importing torch

    dtype = dtype or torch.long
    length = length or max((len(s) for s in sequences), default=0)
    out = torch.full((len(sequences), length), value, dtype=dtype)
    for i, s in enumerate(sequences):
        if len(s):
            out[i, : len(s)] = torch.as_tensor(s, dtype=dtype)
    return out


class LengthGroupedBatches:
    """Shuffled batches of similar lengths (less padding), reproducible from (seed, epoch).

    Sorting happens inside windows of 50 batches so batch composition still varies by epoch."""

    def __init__(self, lengths, batch_size, seed=0, shuffle=True, group=True, window=50):
        self.lengths, self.batch_size, self.seed = list(lengths), batch_size, seed
        self.shuffle, self.group, self.window, self.epoch = shuffle, group, window, 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __iter__(self):
        import torch

        n = len(self.lengths)
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1000003 + self.epoch)
            order = torch.randperm(n, generator=g).tolist()
        else:
            order = list(range(n))
        if self.group:
            span = self.batch_size * self.window
            order = [
                i for s in range(0, n, span) for i in sorted(order[s : s + span], key=lambda j: -self.lengths[j])
            ]
        batches = [order[s : s + self.batch_size] for s in range(0, n, self.batch_size)]
        if self.shuffle:
            perm = torch.randperm(len(batches), generator=g).tolist()
            batches = [batches[i] for i in perm]
        return iter(batches)

    def __len__(self):
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size

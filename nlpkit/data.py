"""Readers with file:line errors, atomic writers, padding and length-grouped batching."""
import contextlib
import json
import os
import tempfile
from pathlib import Path

from .errors import DataError, NlpkitError


def check_file(path):
    p = Path(path)
    if not p.exists():
        raise NlpkitError(f"{path}: no such file")
    if p.is_dir():
        raise NlpkitError(f"{path}: is a folder, expected a file")
    return p


def iter_lines(path):
    """Yield (line_number, line without newline) of a UTF-8 text file; bad bytes name the line."""
    p = check_file(path)
    with open(p, "rb") as f:
        for no, raw in enumerate(f, 1):
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


def read_json_records(path):
    """A JSON file holding a list of objects, or JSONL: (line_number, object) pairs.

    For a JSON list the line number is where the object starts."""
    p = check_file(path)
    head = p.open("rb").read(64).lstrip()
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:].lstrip()
    if not head.startswith(b"["):
        yield from read_json_lines(path)
        return
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = p.read_bytes()[: e.start].count(b"\n") + 1
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


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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

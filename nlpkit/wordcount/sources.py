"""Input side: expanding PATH arguments into files, and cutting files into chunks of whole lines.

A plain file is cut into byte ranges that workers read themselves (nothing passes through the parent);
a chunk owns every line that *starts* inside its range, so no line is ever split and the ranges cover
each line exactly once. Compressed files and stdin cannot be seeked, so the parent streams them and
hands out chunks of whole lines as bytes.
"""
import bz2
import glob
import gzip
import lzma
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import NlpkitError

OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
STDIN = "-"


@dataclass(frozen=True)
class Source:
    path: str  # absolute path, or "-" for stdin
    size: int = 0  # bytes on disk (compressed size for compressed files)
    mtime_ns: int = 0

    @property
    def compressed(self):
        return Path(self.path).suffix.lower() in OPENERS

    @property
    def seekable(self):
        return self.path != STDIN and not self.compressed


def _files_under(folder):
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out += [os.path.join(dirpath, f) for f in sorted(filenames) if not f.startswith(".")]
    return out


def expand(paths, exclude=()):
    """PATH arguments -> (sources, skipped). A folder is walked recursively (hidden entries skipped),
    a path that does not exist is tried as a glob; one that matches nothing is an error (a typo should
    not silently count nothing). Unreadable files go to `skipped` as (path, reason)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    exclude = {os.path.abspath(p) for p in exclude}
    names, seen = [], set()
    for p in paths:
        p = os.fspath(p)
        if p == STDIN:
            found = [STDIN]
        elif os.path.isdir(p):
            found = _files_under(p)
        elif os.path.exists(p) or os.path.islink(p):
            found = [p]
        else:
            found = []
            for m in sorted(glob.glob(p, recursive=True)):
                found += _files_under(m) if os.path.isdir(m) else [m]
            if not found:
                raise NlpkitError(f"{p}: no such file or folder, and no file matches it as a glob")
        for f in found:
            key = f if f == STDIN else os.path.abspath(f)
            if key not in seen and not any(key == e or key.startswith(e + os.sep) for e in exclude):
                seen.add(key)
                names.append(key)
    sources, skipped = [], []
    for name in names:
        if name == STDIN:
            sources.append(Source(STDIN))
            continue
        try:
            st = os.stat(name)
            if not os.path.isfile(name):
                raise OSError("not a regular file")
            with open(name, "rb"):
                pass
        except OSError as e:
            skipped.append((name, _reason(e)))
            continue
        sources.append(Source(name, st.st_size, st.st_mtime_ns))
    return sources, skipped


def _reason(e):
    return e.strerror or str(e) or type(e).__name__


def read_range(path, start, end):
    """The whole lines of `path` that start at a byte offset in [start, end)."""
    with open(path, "rb") as f:
        if start:
            f.seek(start - 1)
            f.readline()  # the line holding byte start-1 started earlier: the previous chunk owns it
        pos = f.tell()
        if pos >= end:
            return b""
        data = f.read(end - pos)
        if data and not data.endswith(b"\n"):
            data += f.readline()  # the last line started before `end`: finish it
        return data


def ranges(source, chunk_bytes):
    """Byte-range chunk specs ("range", path, start, end) covering a plain file."""
    return [("range", source.path, s, min(s + chunk_bytes, source.size)) for s in range(0, source.size, chunk_bytes)]


def open_stream(source):
    if source.path == STDIN:
        return sys.stdin.buffer
    return OPENERS[Path(source.path).suffix.lower()](source.path, "rb")


def stream_chunks(fileobj, chunk_bytes):
    """Chunks of whole lines (bytes) read from a stream, at most one line longer than chunk_bytes."""
    while True:
        data = fileobj.read(chunk_bytes)
        if not data:
            return
        if not data.endswith(b"\n"):
            data += fileobj.readline()
        yield data

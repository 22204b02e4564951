"""Where nlpkit keeps derived files it can rebuild (encoded datasets, SQLite copies of tables files...).

The root is the NLPKIT_CACHE environment variable when set, else ~/.cache/nlpkit. This module is the only
place that names it: everything else asks `cache_dir(kind)` or `cache_file(kind, key, suffix)`, so one
variable moves (or isolates, as the tests do) every cache at once. Deleting the root is always safe.
"""
import hashlib
import os
import re
import tempfile
from pathlib import Path

from .errors import NlpkitError

_PLAIN_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def cache_root():
    return Path(os.environ.get("NLPKIT_CACHE") or Path.home() / ".cache" / "nlpkit")


def cache_dir(kind):
    """The folder for one kind of derived file (e.g. "encoded"), created on demand."""
    path = cache_root() / kind
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.TemporaryFile(dir=path)  # unwritable shows here, not as a traceback mid-run
    except OSError as e:
        raise NlpkitError(f"cache folder {path}: {e.strerror or e} (NLPKIT_CACHE chooses a writable one)") from None
    probe.close()
    return path


def cache_file(kind, key, suffix=""):
    """Path of one derived file: cache_dir(kind) / key + suffix. A key that is not a plain file name
    (a path, a long or non-ASCII string) is replaced by its SHA-256 prefix, so any string can be a key."""
    key = str(key)
    if not _PLAIN_KEY.fullmatch(key):
        key = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:20]
    return cache_dir(kind) / f"{key}{suffix}"

"""The per-file partial counts that make a run resumable.

Each finished file's counts go to OUT.parts/<hash>.json (JSON, never pickle) as soon as it is done, so
Ctrl-C or a crash loses only the files in progress. `--resume` reloads the parts whose file is unchanged
(same path, size and mtime) and whose settings match; the parts folder is removed once OUT is written.
"""
import hashlib
import json
import os
import shutil
from pathlib import Path

from ..data import atomic_open
from ..errors import NlpkitError

FORMAT = "nlpkit-wordcount-parts/1"


def write_json(path, obj, indent=None):
    # backslashreplace: a file name that is not valid UTF-8 still round-trips through JSON
    with atomic_open(path, newline="\n", errors="backslashreplace") as f:
        json.dump(obj, f, ensure_ascii=False, indent=indent)
        f.write("\n")


def parts_dir(output):
    return Path(os.fspath(output) + ".parts")


def _manifest(path):
    """The manifest of a parts folder we wrote, or None."""
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return old if isinstance(old, dict) and old.get("format") == FORMAT else None


class PartStore:
    def __init__(self, output, settings, resume):
        self.dir = parts_dir(output)
        self.settings = settings
        manifest = self.dir / "manifest.json"
        if self.dir.exists():
            old = _manifest(manifest)
            if old is None:  # never rmtree a folder we did not make
                raise NlpkitError(
                    f"{self.dir} exists but is not a wordcount parts folder; move it away or choose another -o")
            if not resume:
                shutil.rmtree(self.dir)  # a fresh run: stale parts must not leak into it
            elif old.get("settings") != settings:
                changed = sorted(k for k in set(settings) | set(old.get("settings", {}))
                                 if settings.get(k) != old.get("settings", {}).get(k))
                raise NlpkitError(
                    f"--resume: the partial counts in {self.dir} were made with other settings "
                    f"({', '.join(changed)}); run without --resume to start over"
                )
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json(manifest, {"format": FORMAT, "settings": settings})

    def _path(self, source):
        return self.dir / (hashlib.sha1(source.path.encode("utf-8", "surrogatepass")).hexdigest()[:20] + ".json")

    def load(self, source):
        """(counts dict, stats) saved for this unchanged file, or None."""
        try:
            part = json.loads(self._path(source).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if [part.get("path"), part.get("size"), part.get("mtime_ns")] != [source.path, source.size, source.mtime_ns]:
            return None
        return part["counts"], part["stats"]

    def save(self, source, counts, stats):
        write_json(self._path(source), {
            "path": source.path, "size": source.size, "mtime_ns": source.mtime_ns,
            "stats": stats, "counts": counts,
        })

    def finish(self):
        shutil.rmtree(self.dir, ignore_errors=True)

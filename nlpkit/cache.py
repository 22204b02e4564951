"""Where nlpkit keeps derived files (encoded datasets): $NLPKIT_CACHE or ~/.cache/nlpkit."""
import os
from pathlib import Path


def cache_dir(name):
    root = Path(os.environ.get("NLPKIT_CACHE") or Path.home() / ".cache" / "nlpkit")
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    return path

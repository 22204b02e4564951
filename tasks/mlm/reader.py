"""Plain-text corpora read as a stream: one document (or paragraph) a line; files, folders, globs and
.gz / .bz2 / .xz files (nlpkit.wordcount.sources expands and opens them; nlpkit.data's line reader names
the file and line of bad UTF-8 or an over-long line). Blank lines are skipped.

`Corpus` yields packed records {"lines": [...]}: consecutive lines whose characters, plus one [SEP]
after each, fit a budget (max_length - 1 for the [CLS]). A WordPiece tokenizer never makes more tokens
than characters, so the packed sequence fits max_length whatever the vocabulary (latin text packs
looser than Chinese); a line longer than a block is cut into block-sized pieces. One record is in
memory at a time, so a corpus larger than memory streams through the trainer to its Arrow cache.
"""
import json
from pathlib import Path

from nlpkit.data import iter_lines, read_lines
from nlpkit.errors import NlpkitError
from nlpkit.wordcount.sources import OPENERS, STDIN, expand


def corpus_files(paths):
    """(path, size, mtime_ns) of every file the corpus argument names (a path, or a list of them)."""
    sources, skipped = expand(paths)
    if skipped:
        raise NlpkitError(f"{skipped[0][0]}: cannot read: {skipped[0][1]}")
    if any(s.path == STDIN for s in sources):
        raise NlpkitError("mlm reads corpus files, not stdin (-): give a file, folder or glob")
    if not sources:
        raise NlpkitError(f"{paths}: no files in it")
    return [(s.path, s.size, s.mtime_ns) for s in sources]


def file_lines(path):
    """(line number, line) of one corpus file, decompressing .gz / .bz2 / .xz."""
    opener = OPENERS.get(Path(path).suffix.lower())
    if opener is None:
        yield from iter_lines(path)
        return
    try:
        with opener(path, "rb") as f:
            yield from read_lines(f, path)
    except (OSError, EOFError) as e:  # a truncated or corrupt archive: one line naming it
        raise NlpkitError(f"{path}: cannot decompress: {e}") from None


def pack(lines, budget):
    """Records {"lines": [...]} of consecutive lines costing len(line) + 1 each, at most `budget` a record."""
    block, used = [], 0
    for line in lines:
        for start in range(0, len(line), budget - 1):
            piece = line[start : start + budget - 1]
            if block and used + len(piece) + 1 > budget:
                yield {"lines": block}
                block, used = [], 0
            block.append(piece)
            used += len(piece) + 1
    if block:
        yield {"lines": block}


class Corpus:
    """The packed records of a corpus, read anew from disk on every pass.

    str(corpus) names the files (with sizes and modification times) and the budget: the trainer's
    encoding cache is keyed by it, so an edited file is encoded again."""

    def __init__(self, paths, max_length):
        self.files = corpus_files(paths)
        self.budget = max_length - 1

    def lines(self):
        for path, _, _ in self.files:
            for _, line in file_lines(path):
                if line.strip():
                    yield line.strip()

    def __iter__(self):
        return pack(self.lines(), self.budget)

    def __bool__(self):  # reads only up to the first non-blank line
        return next(self.lines(), None) is not None

    def __str__(self):
        return json.dumps({"files": self.files, "budget": self.budget}, ensure_ascii=False)

    __repr__ = __str__

"""Long inputs: overlapping token windows over a text, and the merge of what the windows found.

An input longer than a task's window (max_length tokens, [CLS]/[SEP] included) is split into windows
of at most that many tokens; neighbouring windows share `stride` tokens. A window ends, where it can,
right after a sentence end (。！？!?；, a line break) within the last part of its reach, never inside
a word piece or inside a span the caller asks to keep whole (a training entity). Windows carry their
tokens' character offsets into the whole text, so whatever a task finds maps back to the document
without arithmetic in the task.

Merging is by position, not by score: a span (an entity, a triple's subject-to-object extent) is
decided by the one window that holds it whole and where it lies farthest from a cut edge (the
document's own start and end are no edge; the earlier window on a tie). Every span is therefore
reported at most once, and by the window that saw the most context around it.

Tasks use it through the core's inference template (nlpkit.inference): a task's windows(record) splits a
record with encode_windows / split_text, and its merge(record, windows, outputs) calls merge_spans (or
weighted_mean, elementwise_max); the core batches every window of every record of a call together.
"""
from dataclasses import dataclass
from typing import Optional

from .config import at_least, opt
from .errors import NlpkitError
from .tokenizer import Encoding

#: characters after which a window prefers to end
SENTENCE_ENDS = frozenset("。！？!?；\n")
INF = float("inf")


@dataclass
class WindowConfig:
    stride: Optional[int] = opt(None, "long inputs are read in overlapping windows of the model's length: tokens two "
                                      "neighbouring windows share (null: a quarter of a window; also per call)",
                                at_least(0))
    train: bool = opt(False, "also split training texts longer than a window into windows (false: they are cut at "
                             "the window's length, as before)")


def check_stride(stride, budget, what="a window"):
    """A stride must leave each window new tokens to read, else the windows never advance."""
    if stride is not None and stride >= budget:
        raise NlpkitError(f"window.stride={stride}: expected < {budget}, the text tokens {what} holds")


@dataclass
class Piece:
    """Tokens [first, last) of a text: their ids, their character offsets in the whole text."""

    ids: list
    offsets: list
    first: bool  # the piece starts the text (no cut edge on its left)
    last: bool  # the piece ends the text

    @property
    def start(self):
        return self.offsets[0][0] if self.offsets else 0

    @property
    def end(self):
        return self.offsets[-1][1] if self.offsets else 0

    def holds(self, start, end):
        return self.start <= start and end <= self.end

    def margin(self, start, end):
        """Characters between [start, end) and the nearest cut edge of the piece (inf: none)."""
        left = INF if self.first else start - self.start
        right = INF if self.last else self.end - end
        return min(left, right)


@dataclass
class Window(Piece):
    """A piece ready for the model: its Encoding ([CLS] piece [SEP] (second [SEP])), offsets in the text."""

    encoding: Optional[Encoding] = None


# ---- splitting --------------------------------------------------------------------------------
def split_text(tokenizer, text, budget, stride=None, avoid=(), what="a window"):
    """Pieces of at most `budget` tokens covering `text`; one piece when it fits. `avoid`: (start, end)
    character spans no cut may fall inside (where a cut elsewhere is possible)."""
    ids, offsets = tokenizer._pieces(text)
    if len(ids) <= budget:  # fits: any stride will do
        return [Piece(ids, offsets, True, True)]
    stride = budget // 4 if stride is None else stride
    check_stride(stride, budget, what)
    quality = _cut_quality(tokenizer, text, ids, offsets, avoid)
    spans = plan(len(ids), budget, stride, quality)
    return [Piece(ids[a:b], offsets[a:b], a == 0, b == len(ids)) for a, b in spans]


def plan(n, budget, stride, quality):
    """[(first, last)) token ranges: each at most `budget` long, overlapping by at least `stride` tokens;
    each end and start at the best cut (quality[i]: cutting before token i; higher is better, the
    latest among equals) within `reach` tokens before its hard limit (so a window moves on by at least
    one token, and by about window - stride where sentence ends are frequent)."""
    if n <= budget:
        return [(0, n)]
    reach = max(0, (budget - stride - 1) // 2)  # an end and a start moved back by reach still advance
    ranges, start = [], 0
    while start + budget < n:
        hard = start + budget
        end = max(range(hard - reach, hard + 1), key=lambda i: (quality[i], i))
        ranges.append((start, end))
        # the next window shares at least `stride` tokens, and starts at a sentence where one is near
        start = max(range(max(start + 1, end - stride - reach), max(start + 1, end - stride) + 1),
                    key=lambda i: (quality[i], i))
    ranges.append((start, n))
    return ranges


def _cut_quality(tokenizer, text, ids, offsets, avoid):
    """Per token position i (cut before token i): 0 inside a word or an avoided span, 2 after a
    sentence end, else 1. Position 0 and n are never cut at."""
    blocked = bytearray(len(text) + 1)
    for s, e in avoid:
        blocked[s + 1 : e] = b"\x01" * max(0, e - s - 1)
    quality = [0] * (len(ids) + 1)
    for i in range(1, len(ids)):
        if blocked[offsets[i][0]] or tokenizer.id_to_token(ids[i]).startswith("##"):
            continue
        between = text[offsets[i - 1][0] : offsets[i][0]]
        quality[i] = 2 if any(ch in SENTENCE_ENDS for ch in between) else 1
    return quality


def encode_windows(tokenizer, text, max_length, stride=None, second=None, avoid=()):
    """Windows of `text` (and `second`: [CLS] text [SEP] second [SEP]) of at most `max_length` tokens
    (Window.start/end/first/last describe `text`)."""
    if second is None:
        return [_window(tokenizer, p) for p in split_text(tokenizer, text, max_length - 2, stride, avoid)]
    return [_window(tokenizer, a, b) for a, b in split_pair(tokenizer, text, second, max_length, stride)]


def split_pair(tokenizer, text, second, max_length, stride=None):
    """[(piece of text, piece of second)] for `[CLS] text [SEP] second [SEP]` in `max_length` tokens. The
    shorter text stays whole when it takes at most half the room and the other is windowed in the
    rest; when both are longer each gets half, and every piece of one is paired with every piece of
    the other (two long texts: their windows' product)."""
    budget = max_length - 3
    n_a, n_b = len(tokenizer._pieces(text)[0]), len(tokenizer._pieces(second)[0])
    if n_a + n_b <= budget:
        a_room, b_room = max(n_a, 1), max(n_b, 1)
    elif n_b <= budget // 2:
        a_room, b_room = budget - n_b, max(n_b, 1)
    elif n_a <= budget // 2:
        a_room, b_room = max(n_a, 1), budget - n_a
    else:
        a_room, b_room = budget // 2, budget - budget // 2
    firsts = split_text(tokenizer, text, a_room, stride, what="half a pair's window")
    seconds = split_text(tokenizer, second, b_room, stride, what="half a pair's window")
    return [(a, b) for a in firsts for b in seconds]


def _window(tokenizer, piece, second=None):
    ids = [tokenizer.cls_id] + piece.ids + [tokenizer.sep_id]
    offsets = [(0, 0)] + list(piece.offsets) + [(0, 0)]
    seq = [None] + [0] * len(piece.ids) + [None]
    types = [0] * len(ids)
    if second is not None:
        ids += second.ids + [tokenizer.sep_id]
        offsets += list(second.offsets) + [(0, 0)]
        seq += [1] * len(second.ids) + [None]
        types += [1] * (len(second.ids) + 1)
    return Window(piece.ids, piece.offsets, piece.first, piece.last, Encoding(ids, types, offsets, seq))


def text_windows(tokenizer, text, max_length, stride=None, avoid=()):
    """(start, end) character ranges of the windows of `text` (one range when it fits): training
    records are cut to these, so each trains as an input the model can read whole."""
    return [(p.start, p.end) for p in split_text(tokenizer, text, max_length - 2, stride, avoid)]


# ---- merging ---------------------------------------------------------------------------------
def owner(windows, start, end):
    """Index of the window that decides on span [start, end): of those holding it whole, the one
    where it lies farthest from a cut edge (the earliest on a tie); None when none holds it."""
    best = None
    for k, w in enumerate(windows):
        if w.holds(start, end) and (best is None or w.margin(start, end) > best[0]):
            best = (w.margin(start, end), k)
    return None if best is None else best[1]


def merge_spans(windows, found, extent, exclusive=False):
    """found[k]: what window k found; extent(item) -> its (start, end) characters in the text.
    Keeps each item its owner window found (so an item two windows find is kept once); with
    `exclusive` (a tagging head: no two spans share a character) an item overlapping a kept one
    of another window with a larger margin is dropped as well."""
    kept = [(k, item) for k, items in enumerate(found) for item in items if owner(windows, *extent(item)) == k]
    if not exclusive or len(windows) == 1:
        return [item for _, item in kept]
    ranked = sorted(kept, key=lambda ki: -windows[ki[0]].margin(*extent(ki[1])))
    taken = []
    for k, item in ranked:
        s, e = extent(item)
        if not any(k2 != k and s < e2 and s2 < e for k2, (s2, e2) in taken):
            taken.append((k, (s, e)))
    chosen = {(k, span) for k, span in taken}
    return [item for k, item in kept if (k, extent(item)) in chosen]


def weighted_mean(rows, weights):
    """Mean of equal-length rows of numbers, row i counting weights[i] times."""
    total = sum(weights)
    return [sum(w * r[j] for r, w in zip(rows, weights)) / total for j in range(len(rows[0]))]


def elementwise_max(rows):
    return [max(column) for column in zip(*rows)]

"""String matching between a question and its table: where a condition value sits in the question
(training labels), which question characters mention a header or a cell value (input features the
heads see, so an unseen table is read rather than memorised), and snapping a predicted text value
to the closest value of its column."""
import re
import warnings
from difflib import SequenceMatcher

from .sql import NUMBER, cell_text, parse_number

#: per (question token, column) features: header mention, whole cell value, part of a cell value,
#: header mentioned just before (the "人口大于500" pattern: a value follows its column's name),
#: header mention naming this column only (景区 in 景区名称/景区等级 names neither for sure)
LINK_FEATURES = 5
NEAR = 6  # characters between a header mention and a value that still count as "just before"
#: characters of a question that are matched against its table (TableQA's are under 100; the model
#: reads max_question_length=64 tokens by default). The fuzzy search costs question x value length, so
#: a 1M-character question would take minutes: the rest is not matched, and a warning says so.
MAX_QUESTION_CHARS = 256
#: characters of a condition value the fuzzy search compares (a verbatim match may be of any length)
MAX_VALUE_CHARS = 32


def bounded(question):
    """The lower-cased question, cut to MAX_QUESTION_CHARS (with a warning when that cuts it)."""
    if len(question) > MAX_QUESTION_CHARS:
        warnings.warn(f"nl2sql: a question longer than {MAX_QUESTION_CHARS} characters is matched against its table "
                      f"on its first {MAX_QUESTION_CHARS} only (the model reads max_question_length tokens of it)")
    return question[:MAX_QUESTION_CHARS].lower()


def similarity(a, b):
    return SequenceMatcher(None, a, b, autojunk=False).ratio() if a and b else 0.0


def value_forms(value, kind):
    """Ways a condition value may be written in a question: as given, and for numbers without '.0'."""
    forms = [str(value).strip()]
    if kind == "real":
        number = parse_number(value)
        if number is not None:
            forms.append(cell_text(number))
    return [f for f in dict.fromkeys(forms) if f]


def locate(question, value, kind="text", taken=()):
    """(start, end) of a condition value in the question, avoiding spans already `taken` by other
    conditions: a number equal to it (for real columns), else the value verbatim, else the closest
    n-gram by character similarity. None when nothing shares a character with it."""
    q = bounded(question)
    free = lambda s, e: all(e <= a or s >= b for a, b in taken)  # noqa: E731
    if kind == "real":
        number = parse_number(value)
        for m in NUMBER.finditer(q):
            if number is not None and parse_number(m.group()) == number and free(*m.span()):
                return m.span()
    for f in value_forms(value, kind):
        f = f.lower()
        at = q.find(f)
        while at >= 0:
            if free(at, at + len(f)):
                return at, at + len(f)
            at = q.find(f, at + 1)
    best, span = 0.0, None
    for f in value_forms(value, kind):
        f = f.lower()[:MAX_VALUE_CHARS]
        for size in range(1, len(f) + 3):
            for start in range(0, len(q) - size + 1):
                if not free(start, start + size):
                    continue
                score = similarity(q[start:start + size], f)
                if score > best:
                    best, span = score, (start, start + size)
                    if best == 1.0:  # nothing scores higher (only an equal string scores 1)
                        return span
    return span


def snap(text, candidates):
    """The candidate closest to `text` (itself when it is one, or when nothing is similar)."""
    if text in candidates or not candidates:
        return text
    best, out = 0.0, text
    low = text.lower()
    for c in candidates:
        score = similarity(low, c.lower())
        if score > best:
            best, out = score, c
    return out


def char_features(question, header, types, values):
    """marks[j][k][c] = 1 when question character c has flag k (of LINK_FEATURES) against column j, as
    one bytearray per (column, flag), over the question's first MAX_QUESTION_CHARS characters.
    `values(j)` returns column j's distinct values."""
    q = bounded(question)
    n = len(q)
    marks = [[bytearray(n) for _ in range(LINK_FEATURES)] for _ in header]
    for j, (name, kind) in enumerate(zip(header, types)):
        name = name.lower()
        for start, end, _ in _substring_runs(q, name, {name}, 1):
            marks[j][0][start:end] = b"\x01" * (end - start)
            marks[j][3][end:end + NEAR] = b"\x01" * (min(n, end + NEAR) - end)
        if kind != "text":
            continue  # numbers are compared by size, not by spelling
        cells = [v.lower() for v in values(j) if v]
        for start, end, whole in _substring_runs(q, "\x00".join(cells), set(cells), 2):
            marks[j][2][start:end] = b"\x01" * (end - start)
            if whole:
                marks[j][1][start:end] = b"\x01" * (end - start)
    for c in range(n):
        named = [j for j in range(len(header)) if marks[j][0][c]]
        if len(named) == 1:
            marks[named[0]][4][c] = 1
    return marks


def header_coverage(question, header):
    """Per column, the share of its header's characters (units in brackets aside) that the question
    spells out: 语文成绩 is fully named in 语文成绩最高是多少, 数学成绩 only half (成绩)."""
    q = bounded(question)
    out = []
    for name in header:
        core = re.split(r"[(（]", name.lower(), maxsplit=1)[0].strip() or name.lower()
        covered = set()
        for start, end, _ in _substring_runs(q, core, {core}, 1):
            at = core.find(q[start:end])
            covered.update(range(at, at + end - start))
        out.append(round(len(covered) / len(core), 4) if core else 0.0)
    return out


def _substring_runs(q, haystack, wholes, whole_min):
    """Maximal spans of q of 2+ characters that occur in haystack, as (start, end, False), plus
    (start, end, True) for the longest span from each start that is an entire item of `wholes`
    (at least `whole_min` characters). The haystack separates items with NUL, which q never holds."""
    out, n = [], len(q)
    for start in range(n):
        end, whole_end = start, None
        while end < n and q[start:end + 1] in haystack:
            end += 1
            if q[start:end] in wholes:
                whole_end = end
        if whole_end is not None and whole_end - start >= whole_min:
            out.append((start, whole_end, True))
        if end - start >= 2:
            out.append((start, end, False))
    return out


def is_number_token(text):
    return any(ch.isdigit() for ch in text)

"""Progress bars for long loops: tqdm on a terminal; where stderr is a file or a pipe (a log, nohup, CI)
the same bar as a plain line every LOG_EVERY seconds (nothing for a loop done sooner), without the
carriage returns that redraw it."""
import sys

LOG_EVERY = 30.0  # seconds between two lines in a log


class _Lines:
    """A stream for tqdm that writes each redraw as one whole line instead of "\\r"-overwriting."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        line = text.replace("\r", "").rstrip()
        if line:
            self.stream.write(line + "\n")

    def flush(self):
        self.stream.flush()


def progress_bar(iterable=None, *, enabled=True, **kwargs):
    """tqdm(iterable, **kwargs) on stderr; disabled when `enabled` is false."""
    from tqdm.auto import tqdm

    stream = sys.stderr
    if enabled and not _is_terminal(stream):
        sized = kwargs.get("total", _length(iterable))
        kwargs.update(file=_Lines(stream), mininterval=LOG_EVERY, delay=LOG_EVERY, dynamic_ncols=False,
                      bar_format=_LOG_LINE if sized else _LOG_LINE_UNSIZED)
    else:
        kwargs.setdefault("file", stream)
    return tqdm(iterable, disable=not enabled, **kwargs)


_LOG_LINE = "{desc}: {percentage:3.0f}% {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
_LOG_LINE_UNSIZED = "{desc}: {n_fmt} [{elapsed}, {rate_fmt}{postfix}]"


def _length(iterable):
    try:
        return len(iterable)
    except TypeError:
        return None


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False

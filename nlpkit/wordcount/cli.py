"""`nlpkit wordcount PATH... [options]`: word frequencies as a TSV (word<TAB>count), summary on stderr."""
import contextlib
import logging
import sys

from ..errors import NlpkitError
from .counting import ENCODINGS
from .runner import run


def build_parser():
    from ..cli import Parser

    p = Parser(
        prog="nlpkit wordcount",
        description="Exact word frequencies over text corpora, counted in parallel. Output: word<TAB>count, "
        "count descending then word ascending.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="file, folder (recursive), glob, .gz/.bz2/.xz file, or - for stdin")
    p.add_argument("-o", "--output", default="-", help="output TSV, written atomically (default: stdout)")
    p.add_argument("-j", "--workers", type=int, default=None,
                   help="worker processes (default: the CPUs available, at most one per MiB of input); "
                   "LocalCluster size for --engine dask")
    p.add_argument("--min-count", type=int, default=1, metavar="N", help="drop words seen fewer than N times")
    p.add_argument("--top", type=int, default=None, metavar="K", help="write only the K most frequent words")
    p.add_argument("--tokenizer", default="jieba", metavar="jieba|rjieba|char|bert:DIR",
                   help="jieba (precise mode, default), rjieba (Rust jieba, extra nlpkit[rjieba]), char, "
                   "or bert:DIR (WordPiece of a local BERT checkpoint)")
    p.add_argument("--no-hmm", dest="hmm", action="store_false", help="jieba/rjieba without HMM new-word discovery")
    p.add_argument("--user-dict", metavar="F", help="jieba user dictionary (word [freq] [tag] per line)")
    p.add_argument("--stopwords", metavar="F", help="words to leave out, one per line (UTF-8)")
    p.add_argument("--keep-punct", action="store_true",
                   help="keep punctuation/symbol tokens (by default a token needs a letter or digit)")
    p.add_argument("--encoding", default="utf-8", choices=ENCODINGS,
                   help="input encoding; undecodable bytes are replaced and counted")
    p.add_argument("--engine", default="local", choices=("local", "dask"))
    p.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler, e.g. tcp://host:8786 (default: a LocalCluster)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from the partial counts kept in OUTPUT.parts/")
    p.add_argument("--stats", metavar="F", help="also write the summary as JSON to F")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                   help="no progress bar (it is shown only when stderr is a terminal anyway)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    return p


def summary_line(s):
    files = f"{s['files']:,} files"
    extra = [f"{s[k]:,} {label}" for k, label in (("files_resumed", "resumed"), ("files_skipped", "skipped")) if s[k]]
    if extra:
        files += f" ({', '.join(extra)})"
    line = (f"{files}, {s['lines']:,} lines, {s['bytes'] / 1e6:,.1f} MB, {s['tokens']:,} tokens, "
            f"{s['types']:,} types in {s['seconds']:.1f} s ({s['tokens_per_s'] or 0:,.0f} tokens/s)")
    if s["replaced_bytes"]:
        line += f"; {s['replaced_bytes']:,} undecodable bytes replaced"
    return line


def main(argv=None):
    try:
        args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    except NlpkitError as e:
        print(f"nlpkit: error: {e}", file=sys.stderr)
        return 2
    with _warnings_to_stderr():
        return _main(args)


@contextlib.contextmanager
def _warnings_to_stderr():
    """Skipped files on stderr, for this call only: a handler left behind would keep writing to the
    stderr of the first call (a closed stream when main() is called again, as in tests)."""
    log = logging.getLogger("nlpkit.wordcount")
    handler = None
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("nlpkit wordcount: %(message)s"))
        log.addHandler(handler)
    try:
        yield
    finally:
        if handler is not None:
            log.removeHandler(handler)


def _main(args):
    try:
        result = run(
            args.paths, output=args.output, workers=args.workers, min_count=args.min_count, top=args.top,
            tokenizer=args.tokenizer, hmm=args.hmm, user_dict=args.user_dict, stopwords=args.stopwords,
            keep_punct=args.keep_punct, encoding=args.encoding, engine=args.engine, scheduler=args.scheduler,
            resume=args.resume, stats=args.stats, progress=args.progress,
        )
    except NlpkitError as e:
        print(f"nlpkit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.output != "-":
            msg = f"finished files are kept in {args.output}.parts/: continue with the same command plus --resume"
        else:
            msg = "nothing kept (use -o FILE to make a run resumable)"
        print(f"nlpkit wordcount: interrupted; {msg}", file=sys.stderr)
        return 130
    if not args.quiet:
        print(f"nlpkit wordcount: {summary_line(result.stats)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Exact, multiprocess word frequencies over corpora (`nlpkit wordcount`).

    from nlpkit.wordcount import count
    vocab = count(["corpus/", "extra.txt.gz"], workers=4, min_count=5)   # collections.Counter

Engines: "local" (processes on this machine) and "dask" (a Dask cluster). See README.md next to this file.
"""
from .counting import Settings, count_text, is_word
from .runner import Result, run

__all__ = ["count", "run", "Result", "Settings", "count_text", "is_word"]


def count(paths, **options):
    """Word counts over PATHs, as a collections.Counter ordered by count (descending) then word.

    paths: a file, folder (recursive), glob, .gz/.bz2/.xz file or "-" (stdin), or a list of them.
    options (the CLI's, by name):
      output=None        also write the TSV here (atomically); partial counts are kept in OUTPUT.parts/
      workers=None       processes (default: the CPUs, at most one per MiB of input) or LocalCluster workers
      min_count=1, top=None
      tokenizer="jieba"  jieba | rjieba | char | bert:DIR
      hmm=True           jieba/rjieba HMM new-word discovery
      user_dict=None     jieba user dictionary file (or iterable of "word [freq] [tag]" lines)
      stopwords=None     file with one word per line (or an iterable of words)
      keep_punct=False   keep tokens without any letter or digit (punctuation, symbols)
      encoding="utf-8"   or "gb18030"
      engine="local"     or "dask"; scheduler="tcp://host:8786" (dask; default: a LocalCluster)
      resume=False       reuse partial counts next to `output` from an interrupted run
      stats=None         write the run summary as JSON here
      progress=False     progress bar on stderr (None: when stderr is a terminal)
      chunk_bytes=None   chunk size (default: up to 1 MiB, smaller for small corpora so all workers get work)
      on_file=None       callable(path, file_stats) run after each file is counted (and saved for --resume)
    """
    return run(paths, **options).counts

"""The hostile probe's environment errors, hangs and messages: a full disk, `ulimit -f`, permission
denied, an unusable NLPKIT_CACHE, a corrupt .xz; inputs long enough to hang a quadratic matcher; the
messages a newcomer reads (real task names, did-you-mean, one error prefix, progress in a log)."""
import errno
import lzma
import os
import resource
import subprocess
import sys
import warnings

import pytest

import nlpkit.cli as cli
from nlpkit.data import atomic_path, write_jsonl, write_text
from nlpkit.errors import NlpkitError

NLPKIT = [sys.executable, "-m", "nlpkit.cli"]


def _one_error_line(err):
    assert err.startswith("nlpkit: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


# ---- environment errors -------------------------------------------------------------------------
def test_a_full_disk_names_the_file_and_keeps_the_old_one(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")

    def rows():
        yield {"a": 1}
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # what write() raises: no file name

    with pytest.raises(NlpkitError, match=f"^{out}: cannot write: No space left on device$"):
        write_jsonl(out, rows())
    assert out.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def _sqlite_full():
    import sqlite3

    e = sqlite3.OperationalError("database or disk is full")
    e.sqlite_errorcode = 13  # SQLITE_FULL, as sqlite3 sets it
    return e


@pytest.mark.parametrize("failure, cause", [
    (RuntimeError("Error while serializing: I/O error: File too large (os error 27)"), "File too large"),  # safetensors
    (RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534"), "No space left on device"),
    (_sqlite_full(), "No space left on device"),  # nl2sql's SQLite copy of a tables file
])
def test_writers_without_an_errno_still_get_the_cause(tmp_path, monkeypatch, failure, cause):
    monkeypatch.setattr(os, "statvfs", lambda p: os.statvfs_result((4096, 4096, 10, 0, 0, 10, 0, 0, 0, 255)))
    with pytest.raises(NlpkitError, match=f"model.pt: cannot write: {cause}$"):
        with atomic_path(tmp_path / "model.pt"):
            raise failure
    with pytest.raises(ValueError):  # not a failed write: it stays what it is
        with atomic_path(tmp_path / "model.pt"):
            raise ValueError("a bug")


def test_permission_denied_names_the_file_not_a_temporary_one(tmp_path, monkeypatch):
    import tempfile

    def denied(prefix, suffix, dir):
        raise PermissionError(errno.EACCES, "Permission denied", os.path.join(dir, prefix + "x" + suffix))

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(NlpkitError, match=f"^{tmp_path / 'a.txt'}: cannot write: Permission denied$"):
        write_text(tmp_path / "a.txt", "x")


def test_any_os_error_reaching_the_cli_is_one_line(monkeypatch, capsys):
    def denied(args):
        raise PermissionError(errno.EACCES, "Permission denied", "/srv/data/train.tsv")

    monkeypatch.setitem(cli.COMMANDS, "tasks", denied)
    assert cli.main(["tasks"]) == 2
    assert capsys.readouterr().err == "nlpkit: error: /srv/data/train.tsv: Permission denied\n"


def test_a_full_cache_during_training_is_named(tmp_path, monkeypatch, capsys):
    from nlpkit.registry import get_task_class

    def full(self, cfg):  # datasets' Arrow writer: ENOSPC with no file name
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setenv("NLPKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(get_task_class("jose"), "fit", full)
    monkeypatch.setattr(cli, "_free_bytes", lambda path: 0 if path == tmp_path / "cache" else 1 << 40)
    assert cli.main(["train", "task=jose", f"output_dir={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err == (f"nlpkit: error: training stopped: No space left on device while writing the cache "
                   f"{tmp_path / 'cache'} (NLPKIT_CACHE)")


def test_ulimit_f_is_one_line_and_keeps_the_old_output(tmp_path):
    corpus, out = tmp_path / "corpus.txt", tmp_path / "counts.tsv"
    corpus.write_text("".join(f"词{i} 北京{i} word{i}\n" for i in range(20000)), encoding="utf-8")
    out.write_text("old\n")
    limit = 64 << 10  # the counts need more than this

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = subprocess.run([*NLPKIT, "wordcount", str(corpus), "-o", str(out), "-j", "1", "-q"], capture_output=True,
                          text=True, preexec_fn=small_files, timeout=300)
    assert done.returncode == 2
    assert "File too large" in _one_error_line(done.stderr) and str(out) in done.stderr
    assert out.read_text() == "old\n"


def test_an_nlpkit_cache_that_is_a_file_is_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "cache").write_text("not a folder")
    monkeypatch.setenv("NLPKIT_CACHE", str(tmp_path / "cache"))
    assert cli.main(["train", "task=jose", f"output_dir={tmp_path / 'run'}", "progress=false"]) == 2
    err = capsys.readouterr().err.split("\n  progress=false\n")[1]  # after the run's settings
    assert f"cache folder {tmp_path / 'cache'}" in _one_error_line(err) and "NLPKIT_CACHE" in err


def test_an_unwritable_cache_is_found_before_the_work(tmp_path, monkeypatch):
    import tempfile

    from nlpkit.cache import cache_dir

    def denied(dir):
        raise PermissionError(errno.EACCES, "Permission denied", dir)

    monkeypatch.setenv("NLPKIT_CACHE", str(tmp_path))
    monkeypatch.setattr(tempfile, "TemporaryFile", denied)
    with pytest.raises(NlpkitError, match=f"cache folder {tmp_path / 'encoded'}: Permission denied"):
        cache_dir("encoded")


def test_a_corrupt_xz_is_one_line_as_gz_and_bz2_are(tmp_path):
    from nlpkit.tasks.mlm.reader import file_lines

    data = lzma.compress("本文提出一种方法。\n".encode() * 200)
    (tmp_path / "bad.txt.xz").write_bytes(data[:30] + bytes(b ^ 0x5A for b in data[30:60]) + data[60:])
    (tmp_path / "junk.txt.xz").write_bytes(b"not xz at all")
    for name in ("bad.txt.xz", "junk.txt.xz"):
        with pytest.raises(NlpkitError, match=f"{name}: cannot"):
            list(file_lines(tmp_path / name))


# ---- hangs --------------------------------------------------------------------------------------
def test_jieba_never_runs_its_quadratic_viterbi(monkeypatch):
    import jieba.finalseg

    from nlpkit.segmentation import JiebaSegmenter

    seg = JiebaSegmenter()
    text = "的" * 3000 + "，我们在北京大学读书，厷厸厹厺" * 3
    expected = seg._tk.lcut(text)  # jieba itself (its Viterbi copies a path per character)

    def quadratic(*args, **kwargs):
        raise AssertionError("jieba's own Viterbi: minutes for a 1M-character line")

    monkeypatch.setattr(jieba.finalseg, "viterbi", quadratic)
    assert seg.cut(text) == expected
    assert len(seg.cut("的" * 200_000)) == 200_000


def test_nl2sql_matching_reads_a_bounded_prefix(monkeypatch):
    from nlpkit.tasks.nl2sql import matching

    calls = []
    plain = matching.similarity
    monkeypatch.setattr(matching, "similarity", lambda a, b: calls.append(1) or plain(a, b))
    question = "近一年收益率在4.7%以上的基金" + "有" * 20_000 + "稳健增长"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        span = matching.locate(question, "稳健增长混合A基金公司" * 10, "text")
        marks = matching.char_features(question, ["基金名称"], ["text"], lambda j: ["稳健增长混合A"])
    bound = (matching.MAX_VALUE_CHARS + 2) * matching.MAX_QUESTION_CHARS
    assert span is not None and span[1] <= matching.MAX_QUESTION_CHARS and 0 < len(calls) <= bound
    assert len(marks[0][0]) == matching.MAX_QUESTION_CHARS
    assert any("only" in str(w.message) and str(matching.MAX_QUESTION_CHARS) in str(w.message) for w in caught)
    # a question of usual length is matched whole, as before
    assert matching.locate("定价在48以下的书名有哪些", "48", "real") == (3, 5)


# ---- messages -----------------------------------------------------------------------------------
def test_unknown_key_names_the_real_task(capsys):
    assert cli.main(["config", "task=classify", "trainer.epoch=3"]) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert "did you mean trainer.epochs" in err and "see `nlpkit config task=classify`" in err


def test_a_misspelt_task_gets_a_did_you_mean(capsys):
    assert cli.main(["train", "task=clasify"]) == 2
    assert "unknown task 'clasify'; did you mean classify?" in _one_error_line(capsys.readouterr().err)


def test_config_with_a_missing_model_folder_says_so(tmp_path, capsys):
    assert cli.main(["config", "task=classify", f"model={tmp_path / 'missing'}"]) == 2
    assert f"model={tmp_path / 'missing'}: no such folder" in _one_error_line(capsys.readouterr().err)


def test_wordcount_errors_use_the_one_prefix(tmp_path, capsys):
    assert cli.main(["wordcount", str(tmp_path / "nothing*.txt")]) == 2
    _one_error_line(capsys.readouterr().err)
    assert cli.main(["wordcount", "--bogus", str(tmp_path)]) == 2
    assert "unrecognized arguments: --bogus" in _one_error_line(capsys.readouterr().err)


def test_resume_on_a_finished_run_says_only_that(tmp_path, capsys):
    run = tmp_path / "jose"
    assert cli.main(["train", "task=jose", f"output_dir={run}", "jose.epochs=1"]) == 0
    assert "run saved" in capsys.readouterr().err
    assert cli.main(["train", "task=jose", f"output_dir={run}", "jose.epochs=1", "resume=true"]) == 0
    err = capsys.readouterr().err
    assert "nothing to resume" in err and "run saved" not in err


def test_progress_in_a_log_is_plain_lines(monkeypatch, capsys):
    from nlpkit import progress

    monkeypatch.setattr(progress, "LOG_EVERY", 0.0)  # a line at every update, so the test sees several
    for _ in progress.progress_bar(range(5), desc="predict", mininterval=0):
        pass
    err = capsys.readouterr().err  # captured: not a terminal
    assert "\r" not in err and err.splitlines()[-1].startswith("predict: 100% 5/5")


def test_evaluate_labels_its_bars_evaluate(monkeypatch):
    import nlpkit.progress
    from nlpkit.task import Task

    labels = []
    monkeypatch.setattr(nlpkit.progress, "progress_bar", lambda it, desc, **kw: labels.append(desc) or it)
    task = Task({"progress": True})
    list(task.batches(list(range(10)), 2, "predict"))  # a task's predict(), called by evaluate() below
    with task.doing("evaluate"):
        list(task.batches(list(range(10)), 2, "predict"))
    assert labels == ["predict", "evaluate"] and task.activity is None

"""nlpkit wordcount: exactness against a plain loop for any -j, settings reaching workers, input kinds,
bad input, resume after a crash, and the CLI. The Dask engine is in test_wordcount_dask.py."""
import gzip
import io
import json
import os
import random
import sys
from collections import Counter

import pytest

from nlpkit.errors import NlpkitError
from nlpkit.segmentation import get_segmenter
from nlpkit.wordcount import Settings, count, run
from nlpkit.wordcount.cli import main
from nlpkit.wordcount.sources import read_range

WORDS = ("我们 今天 公司 发布 新的 产品 市场 经济 增长 百分之 记者 报道 北京 上海 研究 人员 发现 一种 方法 "
         "可以 提高 效率 学生 老师 学校 教育 改革 政府 表示 将 继续 推动 发展 科技 创新 网易 杭研 大厦 的 了 "
         "是 在 和 也 都 很 iPhone 5G 2024年 3.5% C++").split()
NAMES = "张伟强 王晓雯 李小福 欧阳娜娜 赵云飞 刘德华".split()
PUNCT = list("，。！？；：、") + ["……", " ", "\t"]


def make_text(seed, lines=60):
    rng = random.Random(seed)
    out = []
    for _ in range(lines):
        parts = []
        for _ in range(rng.randint(0, 40)):
            r = rng.random()
            parts.append(rng.choice(NAMES) if r < 0.08 else rng.choice(PUNCT) if r < 0.25 else rng.choice(WORDS))
        out.append("".join(parts))
    return "\n".join(out) + ("\n" if seed % 2 else "")  # some files end without a newline


@pytest.fixture
def corpus(tmp_path):
    d = tmp_path / "corpus"
    (d / "sub").mkdir(parents=True)
    for i in range(5):
        (d / ("sub" if i % 2 else "") / f"doc{i}.txt").write_text(make_text(i), encoding="utf-8")
    (d / "crlf.txt").write_bytes(make_text(7).replace("\n", "\r\n").encode())
    (d / "bom.txt").write_bytes(b"\xef\xbb\xbf" + make_text(8).encode())
    return d


def files_of(folder):
    return sorted(str(p) for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def plain_count(paths, **settings):
    """The single-process reference: line by line, token by token."""
    s = Settings.create(**settings)
    seg = get_segmenter(s.tokenizer, s.hmm, s.user_dict)
    c = Counter()
    for path in paths:
        opener = gzip.open if str(path).endswith(".gz") else open
        with opener(path, "rt", encoding=s.encoding, errors="replace", newline="") as f:
            for line in f:
                c.update(w for w in seg.cut(line.lstrip("\ufeff")) if s.keep(w))
    return c


def test_read_range_covers_every_line_once(tmp_path):
    lines = [b"", b"short", "很长的一行中文".encode() * 40, b"x\r", b"", b"tail-without-newline"]
    p = tmp_path / "f.txt"
    data = b"\n".join(lines)
    p.write_bytes(data)
    for chunk in (1, 2, 3, 7, 50, 1000):
        pieces = [read_range(p, s, min(s + chunk, len(data))) for s in range(0, len(data), chunk)]
        assert b"".join(pieces) == data, chunk
        assert all(not x or x.endswith(b"\n") or x.endswith(b"tail-without-newline") for x in pieces)


def test_counts_equal_plain_loop_for_any_workers(corpus):
    expected = plain_count(files_of(corpus))
    assert sum(expected.values()) > 1000
    one = run(corpus, workers=1, chunk_bytes=97)  # tiny chunks: many boundaries fall inside lines
    two = run([corpus / "*.txt", corpus / "sub"], workers=2, chunk_bytes=211)
    assert one.counts == expected
    assert two.counts == expected
    assert one.stats["tokens"] == two.stats["tokens"] == sum(expected.values())
    assert one.stats["lines"] == two.stats["lines"] == sum(
        len(open(f, "rb").read().splitlines()) for f in files_of(corpus))
    items = list(one.counts.items())
    assert items == sorted(items, key=lambda kv: (-kv[1], kv[0]))
    assert "，" not in one.counts and " " not in one.counts and "的" in one.counts


def test_user_dict_hmm_and_stopwords_reach_workers(corpus, tmp_path):
    ud = tmp_path / "user.dict"
    ud.write_text("杭研大厦 5 nz\n百分之三点五\n", encoding="utf-8")
    sw = tmp_path / "stop.txt"
    sw.write_text("的\n了\n是\n", encoding="utf-8")
    settings = dict(hmm=False, user_dict=str(ud), stopwords=str(sw))
    got = count(corpus, workers=2, chunk_bytes=300, **settings)
    assert got == plain_count(files_of(corpus), **settings)
    assert got["杭研大厦"] > 0 and not {"的", "了", "是"} & set(got)
    default = count(corpus, workers=1)
    assert "杭研大厦" not in default and default["的"] > 0
    # HMM on vs off really differs on this corpus (unknown names), so the flag was honoured
    assert count(corpus, workers=1, hmm=False) != default


def test_segmenters_pickle_as_settings():
    import pickle

    seg = get_segmenter("jieba", hmm=False, user_dict=["杭研大厦 5"])
    clone = pickle.loads(pickle.dumps(seg))
    assert clone is seg  # rebuilt from settings, cached per process
    assert len(pickle.dumps(seg)) < 500  # the dictionary is not shipped
    assert "杭研大厦" in seg.cut("网易杭研大厦")
    assert get_segmenter("jieba").cut("网易杭研大厦") != seg.cut("网易杭研大厦")  # no leak into other settings


def test_jieba_segmenter_is_jieba_precise_mode():
    import jieba

    text = "我爱北京天安门"
    assert get_segmenter("jieba").cut(text) == list(jieba.cut(text))


def fuzz_text(seed, n=4000):
    """Everything jieba treats differently: dictionary words, unknown names, rare and non-BMP characters,
    ASCII runs with jieba's joiners (+#&._%-), decimals, full-width forms, emoji, every kind of space."""
    pool = (WORDS + NAMES + PUNCT + list("鿖鿿𠀀𠀁㐀") + ["Wi-Fi", "a_b@x.com", "3.14%", "C#", "R&D", "x86_64",
            "ＡＢＣ１２", "😀", "\r\n", "\n", "\u3000", "\xa0", "\u2028", "-", ".", "__", "ｉＰｈｏｎｅ"])
    rng = random.Random(seed)
    return "".join(rng.choice(pool) if rng.random() < 0.7 else chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(n))


@pytest.mark.parametrize("hmm", [True, False])
def test_fast_jieba_gives_jiebas_tokens(hmm):
    """wordcount counts with FastJieba; it must reproduce jieba's precise mode token for token."""
    from nlpkit.wordcount.fastjieba import fast_jieba

    texts = [fuzz_text(seed) for seed in range(4)]
    real = os.path.join(os.path.dirname(__file__), "..", "data", "real", "peoples_daily", "text.txt")
    if os.path.exists(real):  # git-ignored: present on development machines
        with open(real, encoding="utf-8") as f:
            texts.append(f.read(150_000))
    for user_dict in ((), (("杭研大厦", 5, "nz"), ("欧阳娜", None, None), ("Wi-Fi", 3, None))):
        seg = get_segmenter("jieba", hmm, user_dict)
        fast = fast_jieba(seg)
        for text in texts:
            expected = seg.cut(text)
            assert fast.tokens(text) == expected
            assert fast.count(text) == Counter(w for w in expected if not w.isspace())


def test_fast_jieba_breaks_ties_like_jieba():
    """With a total of 1 every word scores log(1) = 0, so all segmentations tie: jieba keeps the longest."""
    import jieba

    from nlpkit.wordcount.fastjieba import FastJieba

    tk = jieba.Tokenizer()
    tk.FREQ, tk.total, tk.initialized = {"甲": 1, "乙": 1, "丙": 0, "甲乙": 1, "乙丙": 1, "甲乙丙": 1}, 1, True
    text = "甲乙丙甲乙乙丙丁甲丙乙甲"
    for hmm in (True, False):
        assert FastJieba(tk, hmm).tokens(text) == tk.lcut(text, HMM=hmm)


def test_word_lists_read_through_iter_lines(tmp_path):
    from nlpkit.segmentation import read_user_dict
    from nlpkit.wordcount.counting import read_stopwords

    (tmp_path / "stop.txt").write_bytes(b"\xef\xbb\xbf\xe7\x9a\x84\r\n \n\xe4\xba\x86\n")
    assert read_stopwords(tmp_path / "stop.txt") == {"的", "了"}
    (tmp_path / "user.dict").write_text("\ufeff杭研大厦 5 nz\n\n欧阳娜娜\n", encoding="utf-8")
    assert read_user_dict(tmp_path / "user.dict") == (("杭研大厦", 5, "nz"), ("欧阳娜娜", None, None))
    (tmp_path / "bad.txt").write_bytes("的\n".encode() + "了".encode("gbk") + b"\n")
    with pytest.raises(NlpkitError, match=r"bad.txt:2: not valid UTF-8"):
        read_stopwords(tmp_path / "bad.txt")
    (tmp_path / "stop.gz").write_bytes(gzip.compress("的\n".encode()))
    with pytest.raises(NlpkitError, match=r"stop.gz: unsupported format \(gzip\)"):
        count(tmp_path / "bad.txt", stopwords=str(tmp_path / "stop.gz"))
    with pytest.raises(NlpkitError, match=r"is a folder"):
        read_user_dict(tmp_path)


def test_rjieba_equals_jieba_without_hmm(corpus):
    pytest.importorskip("rjieba")
    files = files_of(corpus)
    assert count(corpus, tokenizer="rjieba", hmm=False, workers=1) == plain_count(files, hmm=False)
    ud = ["杭研大厦 5", "欧阳娜娜"]
    assert count(corpus, tokenizer="rjieba", hmm=False, user_dict=ud, workers=1) == \
        plain_count(files, hmm=False, user_dict=ud)
    # with HMM both discover new words, but the two HMMs differ on some non-Chinese runs (see README)
    rj = get_segmenter("rjieba").cut("iPhone-12 用户")
    assert rj == ["iPhone-12", " ", "用户"]


def test_char_and_bert_tokenizers(corpus, tmp_path):
    from nlpkit.tokenizer import Tokenizer

    files = files_of(corpus)
    chars = count(corpus, tokenizer="char", workers=1, chunk_bytes=200)
    assert chars == plain_count(files, tokenizer="char")
    assert all(len(w) == 1 for w in chars)
    Tokenizer.build([make_text(i) for i in range(3)], vocab_size=300).save(tmp_path / "ckpt")
    spec = f"bert:{tmp_path / 'ckpt'}"
    wp = count(corpus, tokenizer=spec, workers=1, chunk_bytes=200)
    assert wp == plain_count(files, tokenizer=spec)
    assert any(w.startswith("##") for w in wp) or "[UNK]" in wp
    with pytest.raises(NlpkitError, match="not a BERT checkpoint"):
        count(corpus, tokenizer=f"bert:{tmp_path}")
    with pytest.raises(NlpkitError, match="unknown tokenizer"):
        count(corpus, tokenizer="spacy")


def test_input_kinds_gz_glob_stdin_encoding(tmp_path, monkeypatch, capsys):
    text = make_text(3, lines=40)
    (tmp_path / "a.txt").write_text(text, encoding="utf-8")
    with gzip.open(tmp_path / "b.txt.gz", "wt", encoding="utf-8") as f:
        f.write(text)
    (tmp_path / "c.txt").write_bytes(text.encode("gb18030"))
    (tmp_path / ".hidden.txt").write_text("隐藏文件不计入", encoding="utf-8")
    one = plain_count([tmp_path / "a.txt"])
    assert count(tmp_path / "a.txt", workers=1) == one
    assert count(tmp_path / "b.txt.gz", workers=1, chunk_bytes=100) == one
    assert count(tmp_path / "c.txt", workers=1, encoding="gb18030") == one
    both = count([tmp_path / "*.txt*"], workers=1)  # glob: a.txt + b.txt.gz (+ c.txt as mojibake)
    assert all(both[w] >= 2 * n for w, n in one.items())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    assert main(["-", "-j", "1", "-q"]) == 0
    out = capsys.readouterr().out
    assert Counter({w: int(n) for w, n in (ln.split("\t") for ln in out.splitlines())}) == one
    with pytest.raises(NlpkitError, match="not supported"):
        count(tmp_path / "a.txt", encoding="latin-1")


def test_bad_bytes_replaced_and_unreadable_files_skipped(tmp_path, caplog):
    good = make_text(1, lines=30)
    (tmp_path / "good.txt").write_text(good, encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes("好的开始".encode() + b"\xff\xfe\xc3" + "然后结束\n".encode())
    (tmp_path / "broken.gz").write_bytes(gzip.compress(good.encode())[:-30])  # truncated stream
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "missing.txt")
    res = run(tmp_path, workers=1, chunk_bytes=64)
    assert res.stats["replaced_bytes"] == 3
    assert res.counts == plain_count([tmp_path / "good.txt", tmp_path / "bad.txt"])
    skipped = {os.path.basename(s["path"]) for s in res.stats["skipped"]}
    assert skipped == {"broken.gz", "dangling.txt"} and res.stats["files"] == 2
    assert "dangling.txt" in caplog.text and "broken.gz" in caplog.text
    with pytest.raises(NlpkitError, match="no such file"):
        count(tmp_path / "nope*.txt")


def test_every_input_skipped_keeps_the_output(tmp_path, capsys):
    out = tmp_path / "counts.tsv"
    out.write_bytes(b"good\t3\n")
    (tmp_path / "corrupt.gz").write_bytes(gzip.compress("好的开始\n".encode() * 50)[:-30])
    (tmp_path / "not-gzip.gz").write_bytes(b"plain text, not gzip\n")
    assert main([str(tmp_path / "corrupt.gz"), str(tmp_path / "not-gzip.gz"), "-o", str(out), "-j", "1"]) == 2
    err = capsys.readouterr().err
    assert "error: no readable input, nothing written" in err and "corrupt.gz" in err and "Traceback" not in err
    assert out.read_bytes() == b"good\t3\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.gz", "counts.tsv", "not-gzip.gz"]


def test_foreign_parts_folder_is_never_removed(corpus, tmp_path):
    out = tmp_path / "counts.tsv"
    for manifest in (None, "[1, 2]", '{"format": "something else"}'):
        folder = tmp_path / "counts.tsv.parts"
        folder.mkdir(exist_ok=True)
        (folder / "precious.txt").write_text("keep me", encoding="utf-8")
        if manifest is not None:
            (folder / "manifest.json").write_text(manifest, encoding="utf-8")
        with pytest.raises(NlpkitError, match="is not a wordcount parts folder"):
            run(corpus / "doc0.txt", output=out, workers=1)
        assert (folder / "precious.txt").read_text(encoding="utf-8") == "keep me"
    assert not out.exists()


def test_resume_after_crash_equals_uninterrupted(corpus, tmp_path):
    out = tmp_path / "out" / "counts.tsv"
    full = run(corpus, workers=1)
    out.parent.mkdir()
    out.write_text("previous result\n", encoding="utf-8")

    seen = []

    def crash_after_two(path, stats):
        seen.append(path)
        if len(seen) == 2:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        run(corpus, output=out, workers=2, chunk_bytes=500, on_file=crash_after_two)
    parts = out.parent / "counts.tsv.parts"
    assert len([p for p in parts.glob("*.json") if p.name != "manifest.json"]) == 2
    assert out.read_text(encoding="utf-8") == "previous result\n"  # atomic: old output untouched

    with pytest.raises(NlpkitError, match="other settings .*hmm"):
        run(corpus, output=out, workers=1, resume=True, hmm=False)
    os.utime(seen[0], ns=(1, 1))  # a file changed since it was counted is counted again
    done = []
    res = run(corpus, output=out, workers=1, resume=True, on_file=lambda p, s: done.append(p))
    assert res.stats["files_resumed"] == 1 and len(done) == res.stats["files"] - 1
    assert res.counts == full.counts
    assert {k: res.stats[k] for k in ("lines", "bytes", "tokens", "types")} == \
        {k: full.stats[k] for k in ("lines", "bytes", "tokens", "types")}
    assert not parts.exists()
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [ln.split("\t") for ln in lines] == [[w, str(n)] for w, n in full.counts.items()]


def test_cli_options_tsv_and_stats(corpus, tmp_path, capsys):
    from nlpkit.cli import main as nlpkit_main

    out, st = tmp_path / "o.tsv", tmp_path / "s.json"
    rc = nlpkit_main(["wordcount", str(corpus), "-o", str(out), "-j", "1", "--min-count", "3", "--top", "20",
                      "--stats", str(st), "--keep-punct", "--no-progress"])
    assert rc == 0
    rows = [ln.split("\t") for ln in out.read_text(encoding="utf-8").splitlines()]
    ref = plain_count(files_of(corpus), keep_punct=True)
    assert [(w, int(n)) for w, n in rows] == sorted(((w, n) for w, n in ref.items() if n >= 3),
                                                    key=lambda kv: (-kv[1], kv[0]))[:20]
    assert "，" in {w for w, _ in rows}
    stats = json.loads(st.read_text())
    assert stats["types_written"] == 20 and stats["tokens"] == sum(ref.values()) and stats["files"] == 7
    assert "tokens/s" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.txt")]) == 2
    assert main([str(corpus), "--resume"]) == 2
    assert "--resume needs -o" in capsys.readouterr().err


def test_console_script(corpus, tmp_path):
    import subprocess

    exe = os.path.join(os.path.dirname(sys.executable), "nlpkit")
    if not os.path.exists(exe):
        pytest.skip("console script not installed")
    r = subprocess.run([exe, "wordcount", str(corpus / "doc0.txt"), "-j", "1", "--top", "3"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 3 and "1 files" in r.stderr

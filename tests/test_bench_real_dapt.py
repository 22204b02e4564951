"""scripts/bench_real.py's mlm and sample rows: the held-out text is never in the DAPT corpus, nor are the
paragraphs the downstream tagger is scored on; a sample subset keeps the files named after it (nl2sql's
tables); reading's clean-answer check counts what a user would see."""
import json
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import bench_real  # noqa: E402

PARAGRAPHS = [f"第{i}段：人民日报报道了新闻{i}。" for i in range(50)]
DUIE = [f"《歌曲{i}》是歌手{i}演唱的歌曲" for i in range(40)]


def fake_data(root):
    ner = root / "peoples_daily" / "ner"
    ner.mkdir(parents=True)
    (root / "peoples_daily" / "text.txt").write_text("\n".join(PARAGRAPHS) + "\n", encoding="utf-8")
    for name, texts in (("dev.txt", PARAGRAPHS[:5]), ("test.txt", PARAGRAPHS[5:10])):
        (ner / name).write_text("".join("".join(f"{c} O\n" for c in t) + "\n" for t in texts), encoding="utf-8")
    (root / "duie").mkdir()
    (root / "duie" / "train.jsonl").write_text(
        "".join(json.dumps({"text": t, "spo_list": []}, ensure_ascii=False) + "\n" for t in DUIE), encoding="utf-8")
    return root


def lines(path):
    return Path(path).read_text(encoding="utf-8").splitlines()


def test_dapt_holds_out_a_seeded_slice_of_both_sources_and_never_trains_on_it(tmp_path):
    bench = bench_real.Bench(SimpleNamespace(data=str(fake_data(tmp_path / "data")), threads=1,
                                             workdir=str(tmp_path / "work")))
    s = {"train": None, "test": 6}
    corpus, held = map(lines, bench.dapt_corpus(s, tmp_path))
    assert len(held) == 12 and len(set(held) & set(DUIE)) == 6
    assert not set(corpus) & set(held)
    assert not set(corpus) & set(PARAGRAPHS[:10])  # the NER dev and test paragraphs
    assert sorted(corpus + held) == sorted(PARAGRAPHS[10:] + DUIE)
    again = tmp_path / "again"
    again.mkdir()
    assert lines(bench.dapt_corpus({"train": 5, "test": 6}, again)[1]) == held  # the same held-out text
    assert s["excluded_ner_paragraphs"] == 10 and s["corpus_lines"] == 68


def test_a_sample_subset_keeps_its_tables_and_reads_a_json_list(tmp_path):
    src = tmp_path / "sample"
    src.mkdir()
    (src / "train.json").write_text('[\n{"q": 1},\n{"q": 2},\n{"q": 3}\n]\n', encoding="utf-8")
    (src / "train.tables.json").write_text('{"id": "t"}\n', encoding="utf-8")
    (src / "dev.json").write_text('{"q": 9}\n', encoding="utf-8")
    out = bench_real.first_records(src / "train.json", 2, tmp_path / "out")
    assert bench_real.sample_records(out) == [{"q": 1}, {"q": 2}]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["train.json", "train.tables.json"]
    assert bench_real.first_records(src / "train.json", None, tmp_path / "x") == str(src / "train.json")


def test_reading_check_counts_answers_found_verbatim_in_their_passages(tmp_path):
    dev, rows = tmp_path / "dev.json", tmp_path / "rows.jsonl"
    passages = [{"passage": "北京是中国的首都。", "answer": "北京"}]
    dev.write_text(json.dumps([{"id": i, "question": "首都？", "passages": passages} for i in range(3)],
                              ensure_ascii=False), encoding="utf-8")
    rows.write_text("".join(json.dumps({"id": i, "answer": a}, ensure_ascii=False) + "\n"
                            for i, a in enumerate(["北京", "北 京", ""])), encoding="utf-8")
    out = bench_real.Bench.reading_checks(dev, rows)
    assert out == {"answers_in_passage": 0.5, "answers_empty": 1 / 3, "answers_not_in_passage": ["北 京"]}


def test_has_mlm_head_reads_the_architectures(tmp_path):
    for archs, expected in ((["AlbertForMaskedLM"], True), (["BertModel"], False),
                            (["ElectraForPreTraining"], False), (["BertForPreTraining"], True)):
        (tmp_path / "config.json").write_text(json.dumps({"architectures": archs}), encoding="utf-8")
        assert bench_real.has_mlm_head(tmp_path) is expected, archs

"""nlpkit.data beyond plain text: tables (CSV, TSV, Parquet, Arrow, JSON/JSONL, save_to_disk) with column
mapping; binary files refused by name; bounded line reads; OS errors as one line; the cache paths."""
import gzip
import json
import sqlite3
import sys
import zipfile

import pytest

from nlpkit.data import MAX_LINE_BYTES, is_table, iter_lines, read_json_records, read_table, sniff_unsupported
from nlpkit.errors import DataError, NlpkitError

ROWS = [{"id": 1, "review": "好吃,便宜", "stars": 5, "tags": ["味道"]},
        {"id": 2, "review": "一般", "stars": 3, "tags": []}]
MAPPING = {"text": "review", "label": "stars"}
PLAIN = (str, int, float, bool, list, dict, type(None))


def as_task_rows(rows):
    return [{"id": r["id"], "tags": r["tags"], "text": r["review"], "label": r["stars"]} for r in rows]


@pytest.fixture(scope="module")
def dataset():
    datasets = pytest.importorskip("datasets")
    datasets.disable_progress_bars()
    return datasets.Dataset.from_list(ROWS)


def test_csv_cells_stay_strings_and_rows_count_from_one(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text('id,review,stars\n007,"好吃,便宜\n还会再来",5\n\n2,NA,\n', encoding="utf-8-sig")
    rows = list(read_table(path, MAPPING))
    assert rows == [(1, {"id": "007", "text": "好吃,便宜\n还会再来", "label": "5"}),
                    (2, {"id": "2", "text": "NA", "label": ""})]
    assert list(read_table(path))[0][1] == {"id": "007", "review": "好吃,便宜\n还会再来", "stars": "5"}
    assert is_table(path)


def test_csv_errors_name_file_row_and_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n3\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.csv:3: row 2: expected 2 fields \(as the header\), found 1"):
        list(read_table(path))
    (tmp_path / "empty.csv").write_bytes(b"\n\n")
    with pytest.raises(NlpkitError, match="empty.csv: empty, expected a header row"):
        list(read_table(tmp_path / "empty.csv"))
    (tmp_path / "dup.csv").write_text("a,a\n1,2\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"dup.csv:1: header names a column twice: 'a'"):
        list(read_table(tmp_path / "dup.csv"))
    (tmp_path / "gbk.csv").write_bytes("a\n好\n".encode("gbk"))
    with pytest.raises(DataError, match=r"gbk.csv:2: not valid UTF-8"):
        list(read_table(tmp_path / "gbk.csv"))


def test_missing_mapped_column_is_one_clear_error(tmp_path, dataset):
    (tmp_path / "r.csv").write_text("id,body,stars\n1,x,5\n", encoding="utf-8")
    dataset.rename_column("review", "body").to_parquet(str(tmp_path / "r.parquet"))
    for name in ("r.csv", "r.parquet"):
        with pytest.raises(NlpkitError) as e:
            list(read_table(tmp_path / name, MAPPING))
        assert f"{tmp_path / name}: no column 'review' (for field 'text'); columns present: 'id', " in str(e.value)
    (tmp_path / "r.jsonl").write_text('{"review": "x", "stars": 1}\n{"stars": 2}\n', encoding="utf-8")
    with pytest.raises(NlpkitError, match=r"r.jsonl: row 2: no column 'review' .*columns present: 'stars'$"):
        list(read_table(tmp_path / "r.jsonl", MAPPING))
    with pytest.raises(NlpkitError, match="columns must map field names"):
        list(read_table(tmp_path / "r.csv", ["review"]))


def test_tsv_with_header_only_when_asked(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text('text\tlabel\n"引号"不是 CSV 的引号\t正面\n', encoding="utf-8")
    assert not is_table(path)  # tasks keep their header-less TSV formats
    assert list(read_table(path, {"content": "text"})) == [(1, {"label": "正面", "content": '"引号"不是 CSV 的引号'})]


def test_parquet_keeps_types_as_plain_python(tmp_path, dataset):
    path = tmp_path / "reviews.parquet"
    dataset.to_parquet(str(path))
    rows = list(read_table(path, MAPPING))
    assert rows == list(enumerate(as_task_rows(ROWS), 1))
    assert all(type(v) in PLAIN for _, r in rows for v in r.values())
    assert is_table(path)
    (tmp_path / "fake.parquet").write_text("id,review\n", encoding="utf-8")
    with pytest.raises(NlpkitError, match=r"fake.parquet: cannot read as Parquet: "):
        list(read_table(tmp_path / "fake.parquet"))


def test_json_and_jsonl(tmp_path):
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n\n" for r in ROWS),
                                      encoding="utf-8")
    (tmp_path / "r.json").write_text(json.dumps(ROWS, ensure_ascii=False, indent=1), encoding="utf-8")
    for name in ("r.jsonl", "r.json"):
        assert list(read_table(tmp_path / name, MAPPING)) == list(enumerate(as_task_rows(ROWS), 1))
        assert not is_table(tmp_path / name)
    (tmp_path / "list.jsonl").write_text('{"a": 1}\n[1]\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"list.jsonl:2: row 2: expected a JSON object, got list"):
        list(read_table(tmp_path / "list.jsonl"))


def test_save_to_disk_folder_and_arrow_files(tmp_path, dataset):
    import datasets
    import pyarrow.feather

    dataset.save_to_disk(str(tmp_path / "saved"))
    assert is_table(tmp_path / "saved") and not is_table(tmp_path)
    expected = list(enumerate(as_task_rows(ROWS), 1))
    assert list(read_table(tmp_path / "saved", MAPPING)) == expected
    shard = next((tmp_path / "saved").glob("*.arrow"))  # the stream format `datasets` writes
    assert list(read_table(shard, MAPPING)) == expected
    pyarrow.feather.write_feather(dataset.data.table, str(tmp_path / "f.arrow"))  # the IPC file format
    assert list(read_table(tmp_path / "f.arrow", MAPPING)) == expected
    datasets.DatasetDict(train=dataset, test=dataset).save_to_disk(str(tmp_path / "splits"))
    with pytest.raises(NlpkitError, match=r"splits: holds the splits train, test: give one, e.g. .*splits/train"):
        list(read_table(tmp_path / "splits"))
    assert list(read_table(tmp_path / "splits" / "test"))[1][1]["review"] == "一般"
    with pytest.raises(NlpkitError, match=r"not a table: expected \.csv"):
        list(read_table(tmp_path / "notes.txt"))


def _binaries(tmp_path, dataset):
    files = {"Parquet": "t.parquet", "gzip": "t.txt.gz", "zip": "t.zip", "Excel .xlsx": "t.xlsx",
             "Arrow": "t.arrow", "SQLite": "t.db", "UTF-16 text": "t16.txt"}
    dataset.to_parquet(str(tmp_path / files["Parquet"]))
    (tmp_path / files["gzip"]).write_bytes(gzip.compress("你好\n".encode()))
    with zipfile.ZipFile(tmp_path / files["zip"], "w") as z:
        z.writestr("a.txt", "你好\n")
    with zipfile.ZipFile(tmp_path / files["Excel .xlsx"], "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
    import pyarrow.feather

    pyarrow.feather.write_feather(dataset.data.table, str(tmp_path / files["Arrow"]))
    sqlite3.connect(tmp_path / files["SQLite"]).execute("CREATE TABLE t (x)").connection.commit()
    (tmp_path / files["UTF-16 text"]).write_text("你好\n", encoding="utf-16")
    return files


def test_binary_files_are_refused_by_name(tmp_path, dataset):
    for kind, name in _binaries(tmp_path, dataset).items():
        path = tmp_path / name
        with pytest.raises(NlpkitError) as e:
            list(iter_lines(path))
        assert str(e.value).startswith(f"{path}: unsupported format ({kind}); expected UTF-8 text"), str(e.value)
        with pytest.raises(NlpkitError, match=r"unsupported format"):
            sniff_unsupported(path)
        with pytest.raises(NlpkitError, match=r"unsupported format"):
            list(read_json_records(path))
    (tmp_path / "ok.txt").write_text("PK is fine inside text\n", encoding="utf-8")
    sniff_unsupported(tmp_path / "ok.txt")


def test_lines_keep_bom_crlf_and_utf8_behaviour(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"\xef\xbb\xbffirst\r\n\xe4\xbd\xa0\n\nlast")
    assert list(iter_lines(path)) == [(1, "first"), (2, "你"), (3, ""), (4, "last")]
    path.write_bytes(b"ok\nbad \xff here\n")
    with pytest.raises(DataError, match=r"t.txt:2: not valid UTF-8 \(invalid start byte at byte 4\)"):
        list(iter_lines(path))


def test_line_length_is_capped(tmp_path):
    path = tmp_path / "long.txt"
    path.write_bytes(b"x" * 10 + b"\n" + b"y" * 10 + b"\n" + b"z" * 11 + b"\n")
    lines = iter_lines(path, max_line_bytes=10)
    assert next(lines) == (1, "x" * 10) and next(lines) == (2, "y" * 10)
    with pytest.raises(DataError, match=r"long.txt:3: line longer than 10 bytes"):
        next(lines)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux device files")
def test_endless_file_without_newline_is_an_error_not_memory_error():
    with pytest.raises(DataError, match=rf"/dev/zero:1: line longer than {MAX_LINE_BYTES:,} bytes"):
        list(iter_lines("/dev/zero"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")
def test_os_errors_are_one_line(tmp_path):
    with pytest.raises(NlpkitError, match=r"^/proc/self/mem: cannot read: Input/output error$"):
        list(iter_lines("/proc/self/mem"))  # an OSError on read, even for root
    with pytest.raises(NlpkitError, match=r"is a folder, expected a file"):
        list(iter_lines(tmp_path))
    with pytest.raises(NlpkitError, match=r"nope.txt: no such file"):
        list(iter_lines(tmp_path / "nope.txt"))


def test_cache_paths_follow_nlpkit_cache(tmp_path, monkeypatch):
    from nlpkit.cache import cache_dir, cache_file

    monkeypatch.setenv("NLPKIT_CACHE", str(tmp_path / "c"))
    assert cache_dir("encoded") == tmp_path / "c" / "encoded" and (tmp_path / "c" / "encoded").is_dir()
    assert cache_file("encoded", "seq2seq-ab12", ".arrow") == tmp_path / "c" / "encoded" / "seq2seq-ab12.arrow"
    hashed = cache_file("nl2sql", "/data/train.tables.json", ".sqlite")
    assert hashed.parent == tmp_path / "c" / "nl2sql" and len(hashed.stem) == 20 and hashed.suffix == ".sqlite"
    assert hashed == cache_file("nl2sql", "/data/train.tables.json", ".sqlite")
    assert cache_file("nl2sql", "/data/dev.tables.json", ".sqlite") != hashed


def test_a_task_trains_from_csv_parquet_and_a_datasets_folder_with_column_mapping(tmp_path):
    """seq2seq's src/tgt come from other column names in a CSV, a Parquet file and a save_to_disk folder."""
    import datasets

    from nlpkit.config import build_config
    from nlpkit.registry import get_task_class

    pairs = [("摘要一：本文研究电池寿命。", "电池寿命研究"), ("摘要二：本文提出图神经网络方法。", "图神经网络方法")]
    table = datasets.Dataset.from_dict({"abstract": [a for a, _ in pairs], "headline": [t for _, t in pairs]})
    table.to_csv(str(tmp_path / "t.csv"), index=False)
    table.to_parquet(str(tmp_path / "t.parquet"))
    table.save_to_disk(str(tmp_path / "saved"))
    task_cls = get_task_class("seq2seq")
    task = task_cls(build_config(task_cls, ["data.columns.src=abstract", "data.columns.tgt=headline"]))
    for path in ("t.csv", "t.parquet", "saved"):
        assert task.read_data(str(tmp_path / path)) == [{"src": a, "tgt": t} for a, t in pairs]
    unmapped = task_cls(build_config(task_cls, []))
    with pytest.raises(NlpkitError, match="expected fields"):
        unmapped.read_data(str(tmp_path / "t.csv"))
    with pytest.raises(NlpkitError, match="headlin"):
        task_cls(build_config(task_cls, ["data.columns.tgt=headlin"])).read_data(str(tmp_path / "t.parquet"))


def test_cond_lm_reads_a_csv_with_mapped_columns(tmp_path):
    from nlpkit.config import build_config
    from nlpkit.registry import get_task_class

    (tmp_path / "r.csv").write_text("review,stars\n房间很干净,1\n服务太差,0\n", encoding="utf-8")
    task_cls = get_task_class("cond_lm")
    task = task_cls(build_config(task_cls, ["data.columns.text=review", "data.columns.label=stars"]))
    records = task.read_data(str(tmp_path / "r.csv"))
    assert [(r["text"], r["label"]) for r in records] == [("房间很干净", "正面"), ("服务太差", "负面")]


# ---- one column mapping for every task that reads tables ------------------------------------------
#: per task: its records in its own field names (canonical), and the same fields under other names
TABLE_TASKS = {
    "classify": ({"text": "房间很干净", "label": "positive"}, {"text": "review", "label": "stars"}),
    "ner": ({"text": "他在上海工作", "entities": [{"start": 2, "end": 4, "type": "LOC"}]},
            {"text": "sentence", "entities": "spans"}),
    "cond_lm": ({"text": "房间很干净", "label": "1"}, {"text": "review", "label": "stars"}),
    "seq2seq": ({"src": "本文研究电池寿命。", "tgt": "电池寿命研究"}, {"src": "abstract", "tgt": "headline"}),
}


def _write(path, rows):
    """rows as a CSV (lists as JSON text), or JSON lines."""
    import csv as csv_module

    if path.suffix == ".csv":
        with open(path, "w", encoding="utf-8", newline="") as f:
            writer = csv_module.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({k: json.dumps(v, ensure_ascii=False) if isinstance(v, list) else v
                              for k, v in r.items()} for r in rows)
    else:
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
@pytest.mark.parametrize("name", sorted(TABLE_TASKS))
def test_every_table_task_maps_columns_the_same_way(tmp_path, name, suffix):
    """The same rows under other column (or key) names read as the task's own names do, through one
    mapping; a mapped column missing from the file is one line naming it, whatever the task."""
    from nlpkit.config import build_config
    from nlpkit.registry import get_task_class

    canonical, mapping = TABLE_TASKS[name]
    other = [{mapping[k]: v for k, v in canonical.items()}, {mapping[k]: v for k, v in canonical.items()}]
    task_cls = get_task_class(name)
    plain = task_cls(build_config(task_cls, [])).read_data(_write(tmp_path / f"own{suffix}", [canonical] * 2))
    mapped_task = task_cls(build_config(task_cls, [f"data.columns.{k}={v}" for k, v in mapping.items()]))
    mapped = mapped_task.read_data(_write(tmp_path / f"other{suffix}", other))
    strip = [{k: v for k, v in r.items() if k != "where"} for r in mapped]  # cond_lm notes the file:line
    assert strip == [{k: v for k, v in r.items() if k != "where"} for r in plain] and len(mapped) == 2
    field = next(iter(mapping))
    wrong = task_cls(build_config(task_cls, [f"data.columns.{field}=nosuch"]))
    with pytest.raises(NlpkitError) as e:
        wrong.read_data(str(tmp_path / f"other{suffix}"))
    assert f"no column 'nosuch' (for field '{field}')" in str(e.value) and "\n" not in str(e.value)


def test_classify_tsv_header_goes_through_the_same_mapping(tmp_path):
    from nlpkit.config import build_config
    from nlpkit.registry import get_task_class

    (tmp_path / "h.tsv").write_text("stars\treview\npositive\t房间很干净\n", encoding="utf-8")
    task_cls = get_task_class("classify")
    task = task_cls(build_config(task_cls, ["data.columns.text=review", "data.columns.label=stars"]))
    assert task.read_data(str(tmp_path / "h.tsv")) == [{"text": "房间很干净", "label": "positive"}]


def test_json_is_told_apart_by_one_bounded_sniff(tmp_path):
    from nlpkit.data import is_json, json_start

    cases = {"list.txt": b'\xef\xbb\xbf \n [{"a": 1}]', "lines.txt": b'\n{"a": 1}\n{"a": 2}\n',
             "plain.txt": b"text\tlabel\n", "empty.txt": b"", "named.jsonl": b"not json yet"}
    for name, raw in cases.items():
        (tmp_path / name).write_bytes(raw)
    assert [json_start(tmp_path / n) for n in cases] == ["[", "{", None, None, None]
    assert [is_json(tmp_path / n) for n in cases] == [True, True, False, False, True]
    # whitespace padding past the first 64 KiB says nothing: not JSON (the reader then names the format)
    (tmp_path / "padded.txt").write_bytes(b" " * (65 << 10) + b"{}")
    (tmp_path / "data.parquet").write_bytes(b"PAR1" + b"\0" * 16)
    assert json_start(tmp_path / "padded.txt") is None and not is_json(tmp_path / "data.parquet")

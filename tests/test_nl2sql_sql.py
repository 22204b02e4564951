"""nl2sql without a model: config, reading TableQA files (and their errors), the SQLite layer and its
cache, per-call options, matching, metrics."""
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from nlpkit.cache import cache_root
from nlpkit.cli import main
from nlpkit.config import build_config
from nlpkit.errors import DataError, NlpkitError
from nlpkit.pipelines import Pipeline
from nlpkit.registry import get_task_class
from nlpkit.tasks.nl2sql.matching import locate, snap
from nlpkit.tasks.nl2sql.metrics import components
from nlpkit.tasks.nl2sql.reader import database_from_dicts, open_database, read_tables, sqlite_copy
from nlpkit.tasks.nl2sql.sql import SQLError, file_digest, render

EVIL = "'; DROP TABLE t1; --"
TABLES = [
    {"id": "t1", "name": "Table_t1", "title": "城市", "header": ["城市", "省份", "人口(万)"], "types": ["text", "text", "real"],
     "rows": [["杭州", "浙江省", 1237.6], ["宁波", "浙江省", 969.7], ["南京", "江苏省", 954.7], [EVIL, "未知", 1]]},
    {"id": "t2", "header": ['名称"); DROP TABLE t1; --', "价格"], "types": ["text", "real"],
     "rows": [["甲", 3], ["乙", 5]]},
]
QUESTIONS = [
    {"table_id": "t1", "question": "浙江省人口超过1000万的城市", "sql": {"sel": [0], "agg": [0], "cond_conn_op": 1,
                                                                       "conds": [[1, 2, "浙江省"], [2, 0, "1000"]]}},
    {"table_id": "t2", "question": "价格最高是多少", "sql": {"sel": [1], "agg": [2], "cond_conn_op": 0, "conds": []}},
]


def write_lines(path, items):
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in items), encoding="utf-8")


@pytest.fixture
def task():
    cls = get_task_class("nl2sql")
    return cls(build_config(cls, []))


@pytest.fixture
def data(tmp_path):
    write_lines(tmp_path / "train.tables.json", TABLES)
    write_lines(tmp_path / "train.json", QUESTIONS)
    return tmp_path


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- config -------------------------------------------------------------------------------------
def test_config_keys_and_profiles(tmp_path, capsys):
    cls = get_task_class("nl2sql")
    tiny = build_config(cls, [])
    assert (tiny.max_question_length, tiny.max_header_length, tiny.max_length) == (64, 12, 512)
    pretrained = build_config(cls, [f"model={tmp_path}"])
    assert pretrained.max_length == 160 and pretrained.trainer.lr == 5e-5 and pretrained.trainer.epochs == 15
    for old in ("maxlen=100", "max_question_len=20", "max_header_len=4"):
        with pytest.raises(NlpkitError, match="unknown config key"):
            build_config(cls, [old])
    with pytest.raises(NlpkitError, match=r"word_dropout=1\.5: expected a number in \[0, 1\)"):
        build_config(cls, ["word_dropout=1.5"])
    assert main(["train", "task=nl2sql", "--help"]) == 0
    shown = capsys.readouterr().out
    for key in ("tables", "max_question_length", "max_header_length", "max_length", "snap_values", "word_dropout"):
        assert f"\n{key} " in shown, key


# ---- reading ------------------------------------------------------------------------------------
def test_read_keeps_its_sqlite_copy_in_the_cache_not_next_to_the_data(task, data):
    before = sorted(p.name for p in data.iterdir())
    records = task.read(data / "train.json")
    assert [r["table_id"] for r in records] == ["t1", "t2"]
    assert records[0]["sql"]["conds"] == [[1, 2, "浙江省"], [2, 0, "1000"]]
    assert sorted(p.name for p in data.iterdir()) == before  # nothing written next to the user's files
    copy = sqlite_copy(file_digest(data / "train.tables.json"))
    assert copy.exists() and copy.parent == cache_root() / "nl2sql"
    stamp = copy.stat().st_mtime_ns
    type(task)(task.cfg).read(data / "train.json")  # a fresh task reuses the copy...
    assert copy.stat().st_mtime_ns == stamp
    write_lines(data / "train.tables.json", TABLES[:1] + [{**TABLES[1], "rows": [["丙", 9]]}])
    db = open_database(data / "train.tables.json")  # ...until the tables file changes: another digest
    assert db.run({"sel": [0], "agg": [0], "conds": []}, "t2") == [("丙",)]
    assert db.path != str(copy) and copy.exists()


def test_a_users_database_named_like_the_old_cache_is_never_touched(task, data):
    own = data / "train.tables.sqlite"  # where older versions wrote (and replaced) their copy
    conn = sqlite3.connect(own)
    conn.execute("CREATE TABLE mine (x TEXT)")
    conn.execute("INSERT INTO mine VALUES ('keep me')")
    conn.commit()
    conn.close()
    before = sha(own)
    assert len(task.read(data / "train.json")) == 2
    assert sha(own) == before
    (data / "other").mkdir()
    (data / "other" / "t.json").write_bytes((data / "train.tables.json").read_bytes())
    assert open_database(data / "other" / "t.json").path == open_database(data / "train.tables.json").path


def test_shared_tables_file_and_explicit_path(task, tmp_path):
    write_lines(tmp_path / "tables.json", TABLES)
    write_lines(tmp_path / "dev.json", QUESTIONS)
    assert len(task.read(tmp_path / "dev.json")) == 2
    other = tmp_path / "elsewhere"
    other.mkdir()
    write_lines(other / "q.json", QUESTIONS)
    with pytest.raises(NlpkitError, match="no tables file found"):
        task.read(other / "q.json")
    cls = type(task)
    explicit = cls(build_config(cls, [f"tables={tmp_path / 'tables.json'}"]))
    assert len(explicit.read(other / "q.json")) == 2


def test_missing_table_id_names_file_and_line(task, data):
    write_lines(data / "train.json", QUESTIONS + [{"table_id": "nope", "question": "随便问问", "sql": QUESTIONS[1]["sql"]}])
    with pytest.raises(DataError, match=r"train\.json:3: field 'table_id': table_id 'nope' is not in .*train\.tables\.json"):
        task.read(data / "train.json")


def test_condition_column_out_of_range_names_file_and_line(task, data):
    bad = {**QUESTIONS[0], "sql": {**QUESTIONS[0]["sql"], "conds": [[3, 2, "杭州"]]}}
    write_lines(data / "train.json", [bad])
    with pytest.raises(DataError, match=r"train\.json:1: field 'sql\.conds': column 3 out of range: table 't1' has 3"):
        task.read(data / "train.json")


def test_short_row_names_file_and_line(tmp_path):
    bad = {**TABLES[1], "rows": [["甲", 3], ["乙"]]}
    write_lines(tmp_path / "x.tables.json", [TABLES[0], bad])
    message = r"x\.tables\.json:2: field 'rows': row 1 has 1 cells, shorter than the header's 2"
    with pytest.raises(DataError, match=message):
        read_tables(tmp_path / "x.tables.json")


def test_other_bad_input(task, data):
    bad = {**QUESTIONS[0], "sql": {**QUESTIONS[0]["sql"], "conds": [[2, 0, "很多"]]}}
    write_lines(data / "train.json", [bad])
    with pytest.raises(DataError, match=r"train\.json:1: field 'sql\.conds'.*not a number, but column 2"):
        task.read(data / "train.json")
    write_lines(data / "train.json", [{**QUESTIONS[0], "sql": {**QUESTIONS[0]["sql"], "agg": [9]}}])
    with pytest.raises(DataError, match=r"train\.json:1: field 'sql\.agg'"):
        task.read(data / "train.json")
    write_lines(data / "train.tables.json", [{**TABLES[0], "types": ["text", "number", "real"]}])
    with pytest.raises(DataError, match=r"train\.tables\.json:1: field 'types'"):
        task.read(data / "train.json")


def test_wikisql_style_files(task, tmp_path):
    write_lines(tmp_path / "dev.tables.jsonl", [{**TABLES[0], "page_title": "城市"}])
    # WikiSQL: integer sel/agg, no connector, its own codes (agg 5 = AVG, op 1 = '>', op 0 = '=')
    write_lines(tmp_path / "dev.jsonl", [{"phase": 1, "table_id": "t1", "question": "浙江省城市的平均人口",
                                          "sql": {"sel": 2, "agg": 5, "conds": [[1, 0, "浙江省"], [2, 1, 900]]}}])
    [r] = task.read(tmp_path / "dev.jsonl")
    assert r["sql"] == {"sel": [2], "agg": [1], "cond_conn_op": 1, "conds": [[1, 2, "浙江省"], [2, 0, "900"]]}


def test_existing_sqlite_database(tmp_path):
    path = tmp_path / "shop.db"
    conn = sqlite3.connect(path)
    conn.execute('CREATE TABLE orders (city TEXT, "amount (元)" REAL)')
    conn.executemany("INSERT INTO orders VALUES (?, ?)", [("杭州", 10.5), ("宁波", 3), ("杭州", 4)])
    conn.commit()
    conn.close()
    write_lines(tmp_path / "q.json", [{"table_id": "orders", "question": "杭州的订单金额总共多少",
                                       "sql": {"sel": [1], "agg": [5], "cond_conn_op": 0, "conds": [[0, 2, "杭州"]]}}])
    cls = get_task_class("nl2sql")
    task = cls(build_config(cls, [f"tables={path}"]))
    [r] = task.read(tmp_path / "q.json")
    db = task.tables.database(r["tables"])
    assert db.tables["orders"].types == ["text", "real"]
    assert db.run(r["sql"], "orders") == [(14.5,)]


# ---- SQL --------------------------------------------------------------------------------------
def test_render_quotes_identifiers_and_binds_values():
    db = database_from_dicts(TABLES)
    sql, params = render({"sel": [0, 2], "agg": [0, 1], "cond_conn_op": 2, "conds": [[1, 2, "浙江省"], [2, 1, "1,000"]]},
                         db.table("t1"))
    assert sql == 'SELECT "城市", AVG("人口(万)") FROM "t1" WHERE "省份" = ? OR "人口(万)" < ?'
    assert params == ["浙江省", 1000.0]
    sql, _ = render({"sel": [0], "agg": [4], "conds": []}, db.table("t2"))
    assert sql == 'SELECT COUNT("名称""); DROP TABLE t1; --") FROM "t2"'
    assert db.execute(sql) == [(2,)]
    for bad in ({"sel": [5], "agg": [0]}, {"sel": [0], "agg": [7]}, {"sel": [0], "agg": [0], "conds": [[0, 9, "x"]]},
                {"sel": [0], "agg": [0], "conds": [[2, 0, "不是数"]]}, {"sel": [], "agg": []}):
        with pytest.raises(SQLError):
            render(bad, db.table("t1"))


def test_injection_value_comes_back_as_data(data):
    db = open_database(data / "train.tables.json")
    query = {"sel": [0, 1], "agg": [0, 0], "cond_conn_op": 0, "conds": [[0, 2, EVIL]]}
    assert db.run(query, "t1") == [(EVIL, "未知")]
    assert db.run({"sel": [0], "agg": [4], "conds": []}, "t1") == [(4,)]  # the table is still whole


WRITES = [
    "DROP TABLE t1",
    "DELETE FROM t1",
    "UPDATE t1 SET \"城市\" = 'x'",
    "INSERT INTO t1 VALUES ('a', 'b', 1)",
    "CREATE TABLE evil (a)",
    "ALTER TABLE t1 RENAME TO t9",
    "PRAGMA query_only = OFF",
    "ATTACH DATABASE ':memory:' AS other",
    "SELECT 1; DROP TABLE t1",
    "VACUUM",
]


@pytest.mark.parametrize("in_memory", [False, True])
def test_no_query_can_change_the_database(data, in_memory):
    db = database_from_dicts(TABLES) if in_memory else open_database(data / "train.tables.json")
    before = None if in_memory else sha(Path(db.path))
    for statement in WRITES:
        with pytest.raises(SQLError):
            db.execute(statement)
    # structured queries only ever read, whatever their values hold
    for value in [EVIL, "x\" OR 1=1 --", "杭州'); DELETE FROM t1; --"]:
        db.run({"sel": [0], "agg": [0], "cond_conn_op": 2, "conds": [[0, 2, value], [1, 3, value]]}, "t1")
    assert db.run({"sel": [0], "agg": [4], "conds": []}, "t1") == [(4,)]
    assert db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='t1'") == [("t1",)]
    if before is not None:
        assert sha(Path(db.path)) == before


# ---- matching and metrics ---------------------------------------------------------------------
def test_value_location_and_snapping():
    q = "北大和华科的在校生人数分别是多少"
    assert q[slice(*locate(q, "北京大学"))] == "北大"  # not verbatim: the closest n-gram
    assert q[slice(*locate(q, "华中科技大学", taken=[(0, 2)]))] == "华科"
    q2 = "年龄大于25且场均得分大于25"
    first = locate(q2, "25", "real")
    assert q2[slice(*first)] == "25" and locate(q2, "25.0", "real", taken=[first])[0] > first[0]
    values = ["北京大学", "北京师范大学", "华中科技大学", "华南师范大学"]
    assert snap("北大", values) == "北京大学" and snap("华科", values) == "华中科技大学"
    assert snap("北师大", values) == "北京师范大学"


def test_logic_form_ignores_order_and_number_spelling():
    table = database_from_dicts(TABLES).table("t1")
    gold = {"sel": [0, 2], "agg": [0, 1], "cond_conn_op": 1, "conds": [[1, 2, "浙江省"], [2, 0, "1000"]]}
    pred = {"sel": [2, 0], "agg": [1, 0], "cond_conn_op": 1, "conds": [[2, 0, "1000.0"], [1, 2, "浙江省"]]}
    assert all(components(pred, gold, table).values())
    wrong = {**pred, "cond_conn_op": 2}
    parts = components(wrong, gold, table)
    assert not parts["logic_form"] and not parts["conn"] and parts["cond_val"]


# ---- per-call options -------------------------------------------------------------------------
def test_unknown_call_option_names_the_valid_ones(task):
    ask = Pipeline(task, model=None)  # options are checked before the model is used
    with pytest.raises(NlpkitError, match=r"unknown option 'beam_size' for task nl2sql; .*valid options: "
                                          r"snap_values, tables, table, batch_size, stream"):
        ask("价格最高是多少", table=TABLES[1], beam_size=4)
    with pytest.raises(NlpkitError, match="snap_values=maybe: expected true or false"):
        ask("价格最高是多少", table=TABLES[1], snap_values="maybe")

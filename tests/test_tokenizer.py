import pytest

from nlpkit.tokenizer import Tokenizer


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.build(["我爱北京天安门，天安门上太阳升。", "Hello world, running quickly!", "ＡＢＣ全角字符"])


def test_offsets_cover_original_text(tok):
    text = "我爱 北京ＡＢＣ，hello  火星 xyz"
    enc = tok.encode(text)
    pieces = [text[s:e] for (s, e), q in zip(enc.offsets, enc.sequence_ids) if q == 0]
    # every non-space character of the text is covered exactly once, in order
    assert "".join(pieces) == text.replace(" ", "")
    tokens = [tok.id_to_token(i) for i in enc.input_ids]
    assert "[UNK]" in tokens  # 火/星/x were never seen, yet they keep their spans
    unk_spans = [text[s:e] for (s, e), t in zip(enc.offsets, tokens) if t == "[UNK]"]
    assert "火" in unk_spans and "星" in unk_spans
    assert text[slice(*enc.offsets[tokens.index("ａｂｃ")])] == "ＡＢＣ"  # full-width kept in the span


def test_every_cjk_character_is_a_token(tok):
    assert tok.tokenize("北京天安门") == ["北", "京", "天", "安", "门"]


def test_pair_truncates_longer_side_first(tok):
    enc = tok.encode("我爱北京天安门天安门上太阳升", "太阳升", maxlen=10)
    assert len(enc) == 10
    assert enc.sequence_ids.count(0) == 4 and enc.sequence_ids.count(1) == 3
    enc = tok.encode("太阳", "我爱北京天安门天安门上太阳升", maxlen=10)
    assert enc.sequence_ids.count(0) == 2 and enc.sequence_ids.count(1) == 5
    assert enc.token_type_ids == [0] * 4 + [1] * 6


def test_decode_joins_chinese_without_spaces(tok):
    ids = tok.encode("我爱北京 hello world").input_ids
    assert tok.decode(ids) == "我爱北京hello world"


def test_save_and_load_round_trip(tok, tmp_path):
    tok.save(tmp_path)
    assert (tmp_path / "vocab.txt").exists() and (tmp_path / "tokenizer.json").exists()
    again = Tokenizer.from_dir(tmp_path)
    text = "我爱北京，hello"
    assert again.encode(text).input_ids == tok.encode(text).input_ids
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(str(tmp_path)).encode(text) == tok.encode(text).input_ids


BUILD = """
import sys
from nlpkit.tokenizer import Tokenizer
texts = ["我爱北京天安门，天安门上太阳升。", "Hello world, running quickly! ran runner", "ＡＢＣ全角字符", "ab ba abab baba"] * 3
Tokenizer.build(texts, vocab_size=90).save(sys.argv[1])
"""


def test_build_is_byte_identical_in_any_process(tmp_path):
    """Same texts, two processes with different hash seeds: the same saved files, byte for byte (#14)."""
    import os
    import subprocess
    import sys

    procs = []
    for seed in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        procs.append(subprocess.Popen([sys.executable, "-c", BUILD, str(tmp_path / seed)], env=env,
                                      stderr=subprocess.PIPE, text=True))
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    files = sorted(f.name for f in (tmp_path / "0").iterdir())
    assert {"vocab.txt", "tokenizer.json"} <= set(files)
    assert files == sorted(f.name for f in (tmp_path / "12345").iterdir())
    for name in files:
        assert (tmp_path / "0" / name).read_bytes() == (tmp_path / "12345" / name).read_bytes(), name


def test_vocab_ties_broken_by_code_point():
    from nlpkit.tokenizer import _wordpiece_vocab

    # "ab" and "ba" are equally frequent: the pair of lower ids merges first, whatever the input order
    for words in ({"ab": 2, "ba": 2}, {"ba": 2, "ab": 2}):
        vocab = _wordpiece_vocab(words, vocab_size=100)
        assert vocab[5:] == ["a", "b", "##a", "##b", "ab", "ba"]
    assert len(_wordpiece_vocab({"ab": 2, "ba": 2}, vocab_size=10)) == 10  # stops at vocab_size
    assert _wordpiece_vocab({"ab": 1, "ba": 2}, vocab_size=100, min_frequency=2)[-1] == "ba"

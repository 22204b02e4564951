"""The real 21,128-token bert-base-chinese vocabulary (issue 24, item 3), through the cached
albert-tiny-chinese checkpoint that `python scripts/real_models.py` unpacks (skipped when it is absent).

The real vocabulary lowercases, splits Latin words and numbers into ## pieces, holds full-width digits,
maps characters it lacks to [UNK] and has tokens no text produces ([unused1], <S>, U+2028). Checked:
every span is an exact substring of the input; decoding has no ## and no spaces between Chinese
characters; a broken vocabulary or checkpoint folder is one error; a tiny fine-tuning end to end."""
import json
import re
import shutil
import unicodedata

import pytest
import torch

from nlpkit.cache import cache_root
from nlpkit.cli import main
from nlpkit.errors import NlpkitError
from nlpkit.model import load_backbone
from nlpkit.tokenizer import Tokenizer
from tasks.ner.decoding import align, char_entity

# read at collection, before the suite points NLPKIT_CACHE at a temporary folder
ALBERT = cache_root() / "models" / "albert-tiny-chinese"
M3E = cache_root() / "models" / "m3e-small"
pytestmark = pytest.mark.skipif(not (ALBERT / "pytorch_model.bin").exists(),
                                reason=f"no {ALBERT}: run `python scripts/real_models.py` (fetches it, pinned and hashed)")

HOSTILE = [
    "Apple发布了iPhone 15 Pro Max，售价7999元。",
    "ＡＢＣ公司在２０２３年成立，CEO是Tim Cook😂👍",
    "臺灣的張學友在香港開演唱會，門票NT$1,280",
    "𠮷野家和龘靐齉爨都不在词表里",
    "  前后有空格   中间\t制表符\u3000全角空格  ",
    "Café naïve İstanbul ﬁnance Straße",
    "COVID-19疫情期间，WHO发布了v2.0.1版指南（第3版）",
    "超长单词" + "x" * 150 + "之后还有字",
    "🇨🇳国旗🏳️‍🌈和👨‍👩‍👧家庭",
    "零宽\u200b空格和\ufeff字节序标记",
]
CJK = "\u4e00-\u9fff\u3400-\u4dbf"


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.from_dir(ALBERT)


def _covered(text, char):
    """Characters a token must cover: all but whitespace and the controls/format marks BERT drops."""
    return not (char.isspace() or unicodedata.category(char) in ("Cc", "Cf"))


def test_the_vocabulary_is_the_real_one(tok):
    assert len(tok) == 21128 and tok.unk_id == 100 and tok.id_to_token(101) == "[CLS]"
    assert tok.tokenize("iPhone15") == ["iphone", "##15"]  # Latin and digits in ## pieces, lowercased
    assert tok.tokenize("龘") == ["[UNK]"]


@pytest.mark.parametrize("text", HOSTILE)
def test_every_token_is_a_substring_of_the_input(tok, text):
    enc = tok.encode(text)
    normalize = tok.hf.backend_tokenizer.normalizer.normalize_str
    covered, end = set(), 0
    for token_id, (start, stop), seq in zip(enc.input_ids, enc.offsets, enc.sequence_ids):
        if seq is None:
            continue
        piece = text[start:stop]
        assert start >= end and piece and not piece.isspace(), (text, start, stop)
        token = tok.id_to_token(token_id)
        if token_id != tok.unk_id:  # the token is what the vocabulary makes of exactly these characters
            assert normalize(piece).strip() == token.removeprefix("##"), (piece, token)
        covered.update(range(start, stop))
        end = stop
    lost = [c for i, c in enumerate(text) if _covered(text, c) and i not in covered]
    assert not lost, lost


def test_pair_offsets_point_into_their_own_text(tok):
    a, b = HOSTILE[0], HOSTILE[1]
    enc = tok.encode(a, b)
    for (start, stop), seq in zip(enc.offsets, enc.sequence_ids):
        if seq is not None:
            assert (a, b)[seq][start:stop].strip()


@pytest.mark.parametrize("text, entity", [
    ("Apple发布了iPhone 15 Pro Max，售价7999元。", "iPhone 15 Pro Max"),
    ("ＡＢＣ公司在２０２３年成立，CEO是Tim Cook😂👍", "ＡＢＣ公司"),
    ("ＡＢＣ公司在２０２３年成立，CEO是Tim Cook😂👍", "Tim Cook"),
    ("臺灣的張學友在香港開演唱會，門票NT$1,280", "張學友"),
    ("𠮷野家和龘靐齉爨都不在词表里", "𠮷野家"),
    ("COVID-19疫情期间，WHO发布了v2.0.1版指南（第3版）", "v2.0.1"),
    ("Café naïve İstanbul ﬁnance Straße", "İstanbul"),
])
def test_entity_spans_map_back_exactly(tok, text, entity):
    """Gold entity -> token span -> characters: the same characters, case and width kept."""
    start = text.index(entity)
    gold = {"start": start, "end": start + len(entity), "type": "X"}
    enc = tok.encode(text)
    spans, left_out = align(enc, len(text), [gold])
    assert left_out == 0 and len(spans) == 1
    first, last, kind = spans[0]
    assert char_entity(text, enc.offsets, first, last, kind) == {"text": entity, **gold}


def test_decoding_has_no_pieces_or_spaces_between_chinese(tok):
    for text in HOSTILE:
        decoded = tok.decode(tok.token_ids(text))
        assert "##" not in decoded and not re.search(f"[{CJK}] [{CJK}]", decoded), decoded
    assert tok.decode(tok.token_ids("售价7999元，iPhone15发布")) == "售价7999元，iphone15发布"
    assert tok.decode(tok.token_ids("ＡＢＣ公司２０２３年")) == "ａｂｃ公司２０２３年"  # the vocabulary lowercases


def test_decoding_any_generated_ids(tok):
    """A model may emit any id: continuation pieces, [unused] and other never-typed tokens, specials."""
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):
        decoded = tok.decode(torch.randint(0, len(tok), (40,), generator=gen).tolist())
        assert "##" not in decoded and not re.search(f"[{CJK}] [{CJK}]", decoded), decoded
        assert not re.search(r"\[unused\d+\]|<S>|<T>|\[(PAD|CLS|SEP|MASK)\]", decoded), decoded
    unused = [tok.token_to_id(t) for t in ("[unused1]", "<S>", "<T>", "[PAD]", "[MASK]")]
    assert tok.decode([tok.token_to_id("我")] + unused + [tok.token_to_id("们")]) == "我们"


def test_generated_unk_copies_what_the_source_holds(tok):
    """[UNK] in generated text becomes the source's characters the vocabulary lacks, by context."""
    src = "𠮷野家和龘靐齉爨都不在词表里"
    assert tok.decode(tok.token_ids(src)) == "[UNK]野家和[UNK][UNK][UNK][UNK]都不在词表里"
    assert tok.decode(tok.token_ids(src), source=src) == src
    assert tok.decode(tok.token_ids("我们和龘靐"), source=src) == "我们和龘靐"  # after 和: the one after 和
    assert tok.decode(tok.token_ids("龘"), source="没有生僻字") == "[UNK]"  # nothing to copy: said so


def test_seq2seq_output_copies_unknown_characters(tok, monkeypatch):
    """The title generator's text (and stream) for a hypothesis that copies the source's tokens."""
    from types import SimpleNamespace

    import nlpkit.generation
    from nlpkit.config import build_config
    from nlpkit.registry import get_task_class

    Seq2Seq = get_task_class("seq2seq")
    task = Seq2Seq(build_config(Seq2Seq, [f"model={ALBERT}"]))
    task.tokenizer = tok
    src = "張學友和𠮷野家的龘字"
    copy = tok.token_ids(src)
    monkeypatch.setattr(nlpkit.generation, "generate",
                        lambda *a, **k: [[SimpleNamespace(ids=copy, score=-1.0)]])
    monkeypatch.setattr(nlpkit.generation, "stream", lambda *a, **k: iter(copy))
    assert task.predict(None, [{"src": src}])[0]["text"] == src
    assert "".join(task.stream(None, {"src": src})) == src


# ---- broken folders: one error each --------------------------------------------------------------
def _copy(tmp_path, *skip):
    folder = tmp_path / "ckpt"
    shutil.copytree(ALBERT, folder, ignore=shutil.ignore_patterns(*skip))
    return folder


def _load(folder):
    return load_backbone(str(folder), Tokenizer.from_dir(folder))


def _one_line_error(folder, *words):
    with pytest.raises(NlpkitError) as err:
        _load(folder)
    message = str(err.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_empty_vocab_or_one_without_unk(tmp_path):
    folder = _copy(tmp_path)
    (folder / "vocab.txt").write_text("", encoding="utf-8")
    _one_line_error(folder, "vocab.txt is empty")
    tokens = (ALBERT / "vocab.txt").read_text(encoding="utf-8").split("\n")
    (folder / "vocab.txt").write_text("\n".join(t for t in tokens if t != "[UNK]"), encoding="utf-8")
    _one_line_error(folder, "vocab.txt has no [UNK]")


def test_vocab_of_another_size_than_the_embeddings(tmp_path):
    folder = _copy(tmp_path)
    tokens = (ALBERT / "vocab.txt").read_text(encoding="utf-8").removesuffix("\n").split("\n")
    (folder / "vocab.txt").write_text("\n".join(tokens[:20000]) + "\n", encoding="utf-8")
    _one_line_error(folder, "20000 tokens", "21128 rows")


def test_config_that_disagrees_with_the_weights(tmp_path):
    folder = _copy(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "vocab_size": 21000}))
    _one_line_error(folder, "embeddings.word_embeddings.weight", "21128x128", "21000x128", "config.json")


def test_weights_of_another_model(tmp_path):
    """Tensors under names the architecture does not have: refused, not trained from scratch unsaid."""
    folder = _copy(tmp_path)
    state = torch.load(folder / "pytorch_model.bin", weights_only=True, map_location="cpu")
    torch.save({"model." + k: v for k, v in state.items()}, folder / "pytorch_model.bin")
    _one_line_error(folder, "none of the weights' tensors", "AlbertModel")


def test_a_folder_with_tokenizer_json_only(tmp_path, tok):
    """m3e-small ships tokenizer.json and no vocab.txt: read as the same WordPiece vocabulary."""
    folder = _copy(tmp_path, "vocab.txt")
    tok.hf.backend_tokenizer.save(str(folder / "tokenizer.json"))
    alone = Tokenizer.from_dir(folder)
    assert alone.vocab == tok.vocab and alone.tokenize(HOSTILE[0]) == tok.tokenize(HOSTILE[0])
    assert _load(folder)[0].config.vocab_size == 21128
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", encoding="utf-8")
    with pytest.raises(NlpkitError, match="vocab.txt .5 tokens. and tokenizer.json .21128. differ"):
        Tokenizer.from_dir(folder)
    (folder / "vocab.txt").unlink()
    data = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    data["model"]["type"] = "BPE"
    (folder / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(NlpkitError, match="a BPE tokenizer; nlpkit reads BERT WordPiece tokenizers only"):
        Tokenizer.from_dir(folder)


@pytest.mark.skipif(not (M3E / "tokenizer.json").exists(), reason="no m3e-small in the cache")
def test_m3e_small_without_mlm_head_is_one_line(capfd):
    """A sentence encoder: pooler left out silently, the MLM head a generating task needs is new."""
    load_backbone(str(M3E), Tokenizer.from_dir(M3E), lm_head=True)
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith("newly initialised, learnt in fine-tuning (not in the checkpoint): "
                                             "MLM head (6 tensors)"), err


@pytest.mark.skipif(not (M3E / "tokenizer.json").exists(), reason="no m3e-small in the cache")
def test_m3e_small_has_the_same_vocabulary(tok):
    """Token for token, but for U+2028 (id 343) and ##U+2028 (13502), which transformers' vocab.txt reader
    strips to "" and "##" (harmless: BERT's normaliser turns U+2028 in a text into a space first)."""
    m3e = Tokenizer.from_dir(M3E)
    assert len(m3e) == len(tok) and m3e.tokenize(HOSTILE[3]) == tok.tokenize(HOSTILE[3])
    assert m3e.tokenize("NT$") == ["[UNK]", "$"]  # its tokenizer.json keeps case: capitals are [UNK]
    differ = [i for i in range(len(tok)) if m3e.id_to_token(i) != tok.id_to_token(i)]
    assert differ == [343, 13502] and [tok.id_to_token(i) for i in differ] == ["", "##"]


def test_loading_says_one_line_about_what_is_new(capfd):
    tok = Tokenizer.from_dir(ALBERT)
    load_backbone(str(ALBERT), tok)  # no pooler, factorised embeddings, the MLM head left out
    load_backbone(str(ALBERT), tok, lm_head=True)
    assert capfd.readouterr().err == ""


# ---- end to end ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_ner_from_the_real_checkpoint_predicts_substrings(tmp_path, capfd):
    train = tmp_path / "train.jsonl"
    rows = [{"text": t, "entities": [{"start": t.index(e), "end": t.index(e) + len(e), "type": "ENT"}]}
            for t, e in [("Apple发布了iPhone 15", "iPhone 15"), ("張學友在香港開演唱會", "張學友"),
                         ("ＡＢＣ公司在２０２３年成立", "ＡＢＣ公司"), ("WHO发布了v2.0.1版指南", "WHO")]]
    train.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    run = tmp_path / "run"
    assert main(["train", "task=ner", f"model={ALBERT}", f"data.train={train}", f"data.dev={train}",
                 f"output_dir={run}", "head=global_pointer", "trainer.max_steps=2", "trainer.progress=false",
                 "trainer.batch_size=4"]) == 0
    err = capfd.readouterr().err
    assert "LOAD REPORT" not in err and "Loading weights" not in err
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in HOSTILE), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["predict", f"model={run}", f"input={inputs}", f"output={out}"]) == 0
    results = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in results] == HOSTILE
    found = 0
    for r in results:
        for e in r["entities"]:
            assert e["text"] == r["text"][e["start"]:e["end"]] and e["text"].strip() == e["text"], e
            found += 1
    assert found  # an untrained GlobalPointer scores many spans: the property was exercised


@pytest.mark.parametrize("break_it", ["empty_vocab", "short_vocab", "config"])
def test_train_from_a_broken_checkpoint_is_one_line_and_writes_nothing(tmp_path, capfd, break_it):
    folder = _copy(tmp_path)
    if break_it == "empty_vocab":
        (folder / "vocab.txt").write_text("", encoding="utf-8")
    elif break_it == "short_vocab":
        (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n我\n", encoding="utf-8")
    else:
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "embedding_size": 64}))
    run = tmp_path / "run"
    assert main(["train", "task=classify", f"model={folder}", f"output_dir={run}", "trainer.max_steps=1"]) == 2
    err = capfd.readouterr().err.strip().splitlines()  # the run's settings, then the error
    assert err[-1].startswith("nlpkit: error: ") and not any("Traceback" in e or "error" in e for e in err[:-1]), err
    print(err[-1])
    assert not run.exists()


@pytest.mark.slow
def test_fill_mask_never_answers_a_token_no_text_has(tmp_path, tok):
    """The real vocabulary's [unused1]..[unused99], <S>, <T> are not text: never a fill-mask candidate."""
    never = [tok.token_to_id(t) for t in ("[unused1]", "[unused99]", "<S>", "<T>", "[PAD]", "[MASK]")]
    assert set(never) <= tok.special_ids and tok.token_to_id("<") not in tok.special_ids
    train = tmp_path / "text.txt"
    train.write_text("".join(t + "\n" for t in HOSTILE), encoding="utf-8")
    run = tmp_path / "run"
    assert main(["train", "task=mlm", f"model={ALBERT}", f"data.train={train}", f"data.dev={train}",
                 f"output_dir={run}", "trainer.max_steps=1", "trainer.progress=false"]) == 0
    inputs = tmp_path / "masked.txt"
    inputs.write_text("[MASK]\n中国的首都是[MASK]京。\nApple发布了[MASK]Phone\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["predict", f"model={run}", f"input={inputs}", f"output={out}", "top_k=2000"]) == 0
    for line in out.read_text(encoding="utf-8").splitlines():
        tokens = {c["token_str"] for c in json.loads(line)["predictions"] if c["score"] > 0}
        assert len(tokens) > 1000 and not tokens & {tok.id_to_token(i) for i in tok.special_ids}, line[:200]

"""The benchmark's peers see exactly what nlpkit sees (issue 23): their tokenizers give nlpkit's ids, and
the input check of scripts/bench_peers stops a row whose peer would not. Fast: no training."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from bench_peers import hf_classify, hf_ner  # noqa: E402
from bench_peers.common import (InputMismatch, PositionCounter, check_inputs, read_tsv,  # noqa: E402
                                reference_encodings, spans_from_bio)
from nlpkit.tokenizer import Tokenizer  # noqa: E402

TEXTS = ["酒店位置很好，服务也不错，下次还会再来。", "Hello World! 2024年销量增长了35%，iPhone卖得最好。",
         "房间太小了😞，隔音差，WiFi 时断时续。", "ＡＢＣ全角字母和１２３全角数字", "早餐一般般" * 40]
MAXLEN = 64
PAIRS = [("花呗怎么还款", "花呗如何还钱？"), ("iPhone 12多少钱", "苹果12的价格是多少"), ("今天天气", "明天会下雨吗" * 20)]
ALBERT, M3E = (Path.home() / ".cache" / "nlpkit" / "models" / name for name in ("albert-tiny-chinese", "m3e-small"))
# People's Daily lines (char BIO, as data/real/peoples_daily/ner), plus what a real vocabulary splits or
# lacks: full-width digits that are one token ("１０"), Latin pieces, a space inside an entity, an emoji
PEOPLES_DAILY = [
    ("擂台赛的下一站比赛将于１月１０日在呼和浩特市举行。", [(17, 22, "LOC")]),
    ("英冻结贝·布托存款", [(0, 1, "LOC"), (3, 7, "PER")]),
    ("以上这一幕，正是宜兴市检察院近年来加强预防犯罪教育系列活动之一。", [(8, 11, "LOC"), (8, 14, "ORG")][:1]),
    ("新华社北京１２月３１日电（记者 李 斌）iPhone在中国卖得很好😀", [(0, 3, "ORG"), (3, 5, "LOC"), (16, 19, "PER"),
                                                     (28, 30, "LOC")]),
]


@pytest.fixture(scope="module")
def vocab(tmp_path_factory):
    """nlpkit's vocabulary built from the texts (as a tiny run builds it), written as vocab.txt."""
    folder = tmp_path_factory.mktemp("vocab")
    tok = Tokenizer.build(TEXTS[:3] + ["早餐一般"], vocab_size=300)  # the full-width text is mostly [UNK]
    tok.save(folder)
    return folder


def reference(vocab, labels=("0", "1")):
    tok = Tokenizer.from_dir(vocab)
    return {"check": {"texts": TEXTS, "ids": [tok.encode(t, maxlen=MAXLEN).input_ids for t in TEXTS],
                      "labels": list(labels), "source": "test"}}


def test_classify_peer_tokenizer_has_the_vocabulary_and_nlpkits_ids(vocab, tmp_path):
    peer = hf_classify.peer_tokenizer(vocab / "vocab.txt", tmp_path / "peer")
    n_vocab = len((vocab / "vocab.txt").read_text(encoding="utf-8").splitlines())
    assert len(peer) == n_vocab
    ours = reference(vocab)["check"]["ids"]
    theirs = [peer(t, truncation=True, max_length=MAXLEN)["input_ids"] for t in TEXTS]
    assert theirs == ours
    assert len(ours[-1]) == MAXLEN  # the long text was truncated the same way on both sides
    unk = Tokenizer.from_dir(vocab).unk_id
    assert sum(i == unk for ids in ours for i in ids) < sum(map(len, ours)) / 4  # not a vocabulary of [UNK]s
    check_inputs(reference(vocab), lambda t: peer(t, truncation=True, max_length=MAXLEN)["input_ids"], ["1", "0"])


def test_the_input_check_stops_the_old_broken_peer(vocab):
    """transformers 5 ignores BertTokenizerFast(vocab_file=...): every character became [UNK]. The check
    names the first text whose ids differ."""
    from transformers import BertTokenizerFast

    broken = BertTokenizerFast(vocab_file=str(vocab / "vocab.txt"), do_lower_case=True)
    with pytest.raises(InputMismatch, match="training text 1 '酒店位置"):
        check_inputs(reference(vocab), lambda t: broken(t, truncation=True, max_length=MAXLEN)["input_ids"],
                     ["0", "1"])


def test_the_input_check_compares_label_sets(vocab, tmp_path):
    peer = hf_classify.peer_tokenizer(vocab / "vocab.txt", tmp_path / "peer")
    with pytest.raises(InputMismatch, match="label sets differ"):
        check_inputs(reference(vocab, labels=("neg", "pos")),
                     lambda t: peer(t, truncation=True, max_length=MAXLEN)["input_ids"], ["0", "1"])


def test_bert4torch_peers_tokenize_as_nlpkit(vocab):
    """The bert4torch rows feed encode(text, maxlen) (CasRel, CLN LM) or tokens_to_ids(tokenize(text,
    maxlen)) (NER) to their models: both must be nlpkit's ids."""
    pytest.importorskip("bert4torch")
    from bert4torch.tokenizers import Tokenizer as B4TTokenizer

    b4t = B4TTokenizer(str(vocab / "vocab.txt"), do_lower_case=True)
    check_inputs(reference(vocab), lambda t: b4t.encode(t, maxlen=MAXLEN)[0], ["0", "1"])
    check_inputs(reference(vocab), lambda t: b4t.tokens_to_ids(b4t.tokenize(t, maxlen=MAXLEN)), ["0", "1"])


@pytest.mark.parametrize("folder", [ALBERT, M3E], ids=["albert-tiny", "m3e-small"])
def test_bert4torch_peers_on_a_checkpoint_tokenize_as_nlpkit(folder):
    """With init, the bert4torch rows read the folder's vocab.txt with its tokenizer's case rule
    (albert-tiny lower-cases, m3e-small keeps case: a capital is [UNK] in its vocabulary): nlpkit's ids,
    English, full-width letters and emoji included."""
    pytest.importorskip("bert4torch")
    if not (folder / "vocab.txt").exists():
        pytest.skip(f"{folder} is not cached (scripts/real_models.py)")
    from bench_peers import checkpoints
    from bert4torch.tokenizers import Tokenizer as B4TTokenizer

    lower = checkpoints.do_lower_case(folder)
    assert lower == (folder == ALBERT)
    b4t = B4TTokenizer(str(folder / "vocab.txt"), do_lower_case=lower)
    texts = TEXTS + [t for t, _ in PEOPLES_DAILY]
    ref = {"check": {**reference_encodings(Tokenizer.from_dir(folder), texts, MAXLEN), "labels": []}}
    check_inputs(ref, lambda t: b4t.encode(t, maxlen=MAXLEN)[0], [])
    check_inputs(ref, lambda t: b4t.tokens_to_ids(b4t.tokenize(t, maxlen=MAXLEN)), [])


def test_position_counter_counts_padded_positions_while_counting():
    import torch

    def collate(rows):
        width = max(len(r) for r in rows)
        return [torch.tensor([r + [0] * (width - len(r)) for r in rows]), torch.zeros(len(rows))], None

    counter = PositionCounter(collate)
    counter([[1, 2, 3], [4]])  # 2 x 3 positions, padding included
    counter([[5, 6]])
    counter.counting = False
    counter([[1] * 50])
    assert counter.positions == 6 + 2
    mapping = PositionCounter(lambda rows: {"labels": torch.zeros(9, 9), "input_ids": torch.zeros(len(rows), 7)})
    mapping([1, 2])
    assert mapping.positions == 14


def pair_peer(tokenizer):
    """hf_classify's call for a pair (run_glue: tokenizer(s1, s2, truncation=True, max_length))."""
    return lambda t: tokenizer(*t, truncation=True, max_length=MAXLEN)


def test_read_tsv_tells_pairs_from_single_texts(tmp_path):
    (tmp_path / "p.tsv").write_text("花呗怎么还款\t花呗如何还钱\t1\n\n今天\t明天\t0\n", encoding="utf-8")
    assert read_tsv(tmp_path / "p.tsv") == [(("花呗怎么还款", "花呗如何还钱"), "1"), (("今天", "明天"), "0")]
    (tmp_path / "s.tsv").write_text("很好\t1\n", encoding="utf-8")
    assert read_tsv(tmp_path / "s.tsv") == [("很好", "1")]
    (tmp_path / "mixed.tsv").write_text("a\tb\t1\nc\t0\n", encoding="utf-8")
    with pytest.raises(ValueError, match="mixed.tsv:2: 2 tab-separated fields, expected 3"):
        read_tsv(tmp_path / "mixed.tsv")


def test_pair_check_compares_token_ids_and_token_type_ids(vocab, tmp_path):
    peer = hf_classify.peer_tokenizer(vocab / "vocab.txt", tmp_path / "peer")
    spec = {"check": {**reference_encodings(Tokenizer.from_dir(vocab), PAIRS, MAXLEN), "labels": ["0", "1"]}}
    assert spec["check"]["texts"][0] == list(PAIRS[0]) and any(spec["check"]["type_ids"][0])
    assert len(spec["check"]["ids"][2]) == MAXLEN  # the long pair was truncated the same way on both sides
    assert check_inputs(spec, pair_peer(peer), ["0", "1"])["type_ids_checked"]
    with pytest.raises(InputMismatch, match="token ids differ .* text 1"):  # the pair read as one text
        check_inputs(spec, lambda t: peer(t[0] + t[1], truncation=True, max_length=MAXLEN), ["0", "1"])
    with pytest.raises(InputMismatch, match="token type ids differ .* text 1"):  # right ids, segments lost
        check_inputs(spec, lambda t: peer(*t, truncation=True, max_length=MAXLEN)["input_ids"], ["0", "1"])
    swapped = lambda t: {**peer(*t, truncation=True, max_length=MAXLEN),  # noqa: E731
                         "token_type_ids": [0] * len(peer(*t, truncation=True, max_length=MAXLEN)["input_ids"])}
    with pytest.raises(InputMismatch, match="token type ids differ"):
        check_inputs(spec, swapped, ["0", "1"])


@pytest.mark.parametrize("folder", [ALBERT, M3E], ids=["albert-tiny", "m3e-small"])
def test_checkpoint_tokenizer_gives_nlpkits_pair_encodings(folder):
    """hf_classify with init loads the folder's own tokenizer; nlpkit's run on the same checkpoint must
    encode pairs (and single texts) to the same ids and type ids."""
    if not (folder / "vocab.txt").exists():
        pytest.skip(f"{folder} is not cached (scripts/real_models.py)")
    from transformers import AutoTokenizer

    peer = AutoTokenizer.from_pretrained(str(folder))
    texts = PAIRS + TEXTS
    spec = {"check": {**reference_encodings(Tokenizer.from_dir(folder), texts, MAXLEN), "labels": []}}
    check_inputs(spec, lambda t: peer(*((t,) if isinstance(t, str) else t), truncation=True, max_length=MAXLEN), [])


def ner_tokenizers(vocab, tmp_path):
    """(name, nlpkit tokenizer, the hf_ner peer's tokenizer): the tiny vocabulary, and the cached checkpoint."""
    yield "tiny", Tokenizer.from_dir(vocab), hf_classify.peer_tokenizer(vocab / "vocab.txt", tmp_path / "peer")
    if (ALBERT / "vocab.txt").exists():
        from transformers import AutoTokenizer

        yield "albert", Tokenizer.from_dir(ALBERT), AutoTokenizer.from_pretrained(str(ALBERT))


def test_hf_ner_words_give_nlpkits_ids_and_spans_round_trip(vocab, tmp_path):
    """hf_ner feeds the words the tokenizer cuts the text into (is_split_into_words): nlpkit's ids; each
    word's tag maps back to exact character spans, through full-width numbers, Latin pieces, a space
    and an emoji."""
    texts = [t for t, _ in PEOPLES_DAILY]
    for name, ours, peer in ner_tokenizers(vocab, tmp_path):
        spec = {"check": {**reference_encodings(ours, texts, MAXLEN), "labels": []}}

        def words_ids(text):
            words = [text[a:b] for a, b in hf_ner.word_ranges(peer, text)]
            return peer(words, is_split_into_words=True, truncation=True, max_length=MAXLEN)["input_ids"]
        check_inputs(spec, words_ids, [])
        for text, gold in PEOPLES_DAILY:
            ranges = hf_ner.word_ranges(peer, text)
            assert " " not in [text[a:b] for a, b in ranges]  # the space belongs to no word
            back = hf_ner.char_spans(hf_ner.word_tags(text, gold, ranges), ranges)
            assert [tuple(s) for s in back] == gold, name
            assert [text[a:b] for a, b, _ in back] == [text[a:b] for a, b, _ in gold]


def test_hf_ner_labels_sit_on_first_sub_tokens(vocab, tmp_path):
    """run_ner's alignment: a word's label on its first sub-token, -100 on the rest and the specials; the
    prediction read back from first sub-tokens is the word's tag."""
    peer = hf_classify.peer_tokenizer(vocab / "vocab.txt", tmp_path / "peer")
    text = "World2024在李斌家"
    ranges = hf_ner.word_ranges(peer, text)
    assert [text[a:b] for a, b in ranges] == ["World2024", "在", "李", "斌", "家"]
    enc = peer([text[a:b] for a, b in ranges], is_split_into_words=True)
    pieces = peer.convert_ids_to_tokens(enc["input_ids"])
    assert pieces[1:5] == ["world", "##2", "##0", "##24"]  # one word, four sub-tokens
    tags = hf_ner.word_tags(text, [(10, 12, "PER")], ranges)
    assert tags == ["O", "O", "B-PER", "I-PER", "O"]
    ids = {"O": 0, "B-PER": 1, "I-PER": 2}
    labels = hf_ner.align_labels(enc.word_ids(), [ids[t] for t in tags])
    first = [i for i, (w, p) in enumerate(zip(enc.word_ids(), [None] + enc.word_ids())) if w is not None and w != p]
    assert [i for i, y in enumerate(labels) if y != -100] == first
    assert labels[0] == labels[-1] == -100 and labels[2:5] == [-100] * 3
    inverse = {v: k for k, v in ids.items()}
    assert hf_ner.first_token_tags(enc.word_ids(), [inverse.get(y, "I-PER") for y in labels]) == tags
    assert hf_ner.char_spans(tags, ranges) == [[10, 12, "PER"]]
    assert spans_from_bio(["I-PER", "I-PER", "O"]) == [(0, 2, "PER")]  # as run_ner's seqeval reads it


# ---- bert4torch on a checkpoint ----------------------------------------------------------------
@pytest.mark.parametrize("folder", [ALBERT, M3E], ids=["albert-tiny", "m3e-small"])
def test_bert4torch_loads_the_checkpoint_as_transformers_does(folder, tmp_path):
    """Hidden states (and ALBERT's masked-LM probabilities) within 1e-4 of transformers'; the runner's
    own model (the NER example's, without segment embeddings) holds exactly those weights."""
    pytest.importorskip("bert4torch")
    if not (folder / "config.json").exists():
        pytest.skip(f"{folder} is not cached (scripts/real_models.py)")
    from bench_peers import checkpoints

    model, report = checkpoints.b4t_build(folder, tmp_path, segment_vocab_size=0)  # runs b4t_load_check
    assert report["maxdiff_hidden"] <= 1e-4
    assert ("maxdiff_mlm" in report) == (folder == ALBERT) and report.get("maxdiff_mlm", 0) <= 1e-4
    assert not any("segment" in name for name, _ in model.named_parameters())


def test_bert4torch_refuses_a_load_that_is_not_the_checkpoint(tmp_path, monkeypatch):
    """Without "bias": true bert4torch 0.6.0 leaves the feed-forward biases out: its outputs then differ
    and the runner refuses instead of training a partly random model; so does a folder that is not one."""
    pytest.importorskip("bert4torch")
    if not (ALBERT / "config.json").exists():
        pytest.skip(f"{ALBERT} is not cached (scripts/real_models.py)")
    from bench_peers import checkpoints

    real = checkpoints.b4t_config

    def without_bias(path, workdir):
        config_path, cfg = real(path, workdir)
        written = json.loads(Path(config_path).read_text(encoding="utf-8"))
        Path(config_path).write_text(json.dumps({k: v for k, v in written.items() if k != "bias"}), encoding="utf-8")
        return config_path, cfg

    monkeypatch.setattr(checkpoints, "b4t_config", without_bias)
    with pytest.raises(checkpoints.InitRefused, match="does not load this checkpoint faithfully"):
        checkpoints.b4t_build(ALBERT, tmp_path)
    with pytest.raises(checkpoints.InitRefused, match="not a checkpoint folder"):
        checkpoints.folder(tmp_path)


# ---- seq2seq: the scorer and the UniLM peer's inputs ---------------------------------------------
def test_generation_scorer_by_hand():
    """Character ROUGE-L F1 and sentence BLEU-4 (NLTK's method1 smoothing), worked out by hand."""
    import math

    from bench_peers import scoring

    assert scoring.rouge_l("今天天气好", "今天天气很好") == pytest.approx(10 / 11)  # LCS 5: P 1, R 5/6
    assert scoring.rouge_l("今天 天气", "今天天气") == 1.0  # whitespace is not scored
    assert scoring.rouge_l("", "今天") == scoring.bleu4("", "今天") == 0.0
    assert scoring.bleu4("今天天气很好", "今天天气很好") == pytest.approx(1.0)
    # precisions 5/5, 3/4, 2/3, 1/2; 5 characters against 6: brevity exp(1 - 6/5)
    assert scoring.bleu4("今天天气好", "今天天气很好") == pytest.approx(math.exp(-0.2) * 0.25 ** 0.25)
    # no 3- or 4-gram in a 2-character output: 0.1 / 1 each; brevity exp(1 - 4/2)
    assert scoring.bleu4("今天", "今天天气") == pytest.approx(math.exp(-1) * 0.01 ** 0.25)
    assert scoring.bleu4("明后", "今天天气") == 0.0  # no matching character
    scores = scoring.generation_scores(["今天天气很好", "", "花呗怎么还款"], ["今天天气很好", "你好", "怎么还花呗"],
                                       ["今天天气很好吗", "你好吗", "花呗怎么 还款"])
    assert scores["gen_empty"] == pytest.approx(1 / 3) and scores["copies_source"] == pytest.approx(1 / 3)
    assert scores["rouge_l"] == pytest.approx((1 + 0 + 2 * 3 / 11) / 3)  # LCS(花呗怎么还款, 怎么还花呗) = 怎么还


def test_generation_scorer_agrees_with_nlpkits_own():
    """The bench's scorer is its own code; on random character strings it gives what `nlpkit evaluate`
    reports (nlpkit.metrics), so nlpkit_evaluate_rouge_l is a real cross-check of the same definition."""
    import random

    from bench_peers import scoring
    from nlpkit.metrics import text_generation_scores

    rng = random.Random(0)
    preds = ["".join(rng.choice("今天天气很好吗我们去") for _ in range(rng.randint(0, 10))) for _ in range(300)]
    refs = ["".join(rng.choice("今天天气很好吗我们去") for _ in range(rng.randint(1, 10))) for _ in range(300)]
    ours, theirs = scoring.generation_scores(preds, refs), text_generation_scores(preds, refs)
    assert ours["rouge_l"] == pytest.approx(theirs["rouge-l"], abs=1e-12)
    assert ours["bleu"] == pytest.approx(theirs["bleu"], abs=1e-12)
    assert 0.1 < ours["rouge_l"] < 0.9  # neither side degenerate


S2S_PAIRS = [("花呗怎么还款", "花呗如何还钱？"), ("今天天气很好我们去公园玩吧" * 3, "天气好去公园"),
             ("iPhone多少钱", "苹果手机的价格是多少，iPhone多少钱一台" * 2)]


def seq2seq_task(vocab, max_length, max_target_length):
    """nlpkit's seq2seq task on the vocabulary, as a run with these lengths encodes its training pairs."""
    from nlpkit.config import build_config
    from nlpkit.registry import get_task_class

    cls = get_task_class("seq2seq")
    task = cls(build_config(cls, [f"max_length={max_length}", f"max_target_length={max_target_length}",
                                  f"decode.max_new_tokens={max_target_length}"]))
    task.tokenizer = Tokenizer.from_dir(vocab)
    return task


def test_unilm_peer_feeds_nlpkits_seq2seq_encodings_and_the_check_refuses_the_examples_cut(vocab):
    """The UniLM peer cuts as nlpkit's seq2seq does (target to max_target_length, source to what is left):
    nlpkit's ids and segment ids on pairs cut on either side. The example's own encode(src, tgt, maxlen)
    cuts the longer side first, the same cut for a long source but not for a target longer than
    max_target_length: the input check stops it there, and a peer that feeds the right ids without the
    target's segment ids is stopped too."""
    pytest.importorskip("bert4torch")
    from bench_peers.unilm_seq2seq import encode_pair
    from bert4torch.tokenizers import Tokenizer as B4TTokenizer

    task = seq2seq_task(vocab, 24, 8)
    encoded = [task.encode({"src": a, "tgt": b}) for a, b in S2S_PAIRS]
    assert len(encoded[1]["input_ids"]) == 24 and sum(encoded[2]["token_type_ids"]) == 8 + 1  # both cuts happen
    spec = {"check": {"texts": [list(p) for p in S2S_PAIRS], "ids": [e["input_ids"] for e in encoded],
                      "types": [e["token_type_ids"] for e in encoded], "labels": []}}
    b4t = B4TTokenizer(str(vocab / "vocab.txt"), do_lower_case=True)

    def peer(pair):
        ids, segments = encode_pair(b4t, *pair, 24, 8)
        return {"input_ids": ids, "token_type_ids": segments}
    assert check_inputs(spec, peer, [])["type_ids_checked"]

    def example(pair):
        ids, segments = b4t.encode(*pair, maxlen=24)
        return {"input_ids": ids, "token_type_ids": segments}
    with pytest.raises(InputMismatch, match="token ids differ from nlpkit's on training text 3"):
        check_inputs(spec, example, [])
    with pytest.raises(InputMismatch, match="token type ids differ from nlpkit's on training text 1"):
        check_inputs(spec, lambda pair: {"input_ids": peer(pair)["input_ids"]}, [])


def test_bert4torch_build_allows_only_the_named_new_layers(tmp_path):
    """On m3e-small (a bare BertModel: no MLM head), the UniLM and CLN LM peers' MLM head and conditional
    LayerNorm dense layers are new and listed; every other weight is the checkpoint's. Without naming
    them new, the build is refused rather than training a partly random model as if it were loaded."""
    pytest.importorskip("bert4torch")
    if not (M3E / "config.json").exists():
        pytest.skip(f"{M3E} is not cached (scripts/real_models.py)")
    from bench_peers import checkpoints

    _, report = checkpoints.b4t_build(M3E, tmp_path, new=("dense1", "dense2", "mlm"), with_mlm=True,
                                      application="lm", conditional_size=16, tie_word_embeddings=True)
    assert report["new"] and all(("dense1" in n or "dense2" in n or "mlm" in n) for n in report["new"])
    assert {"mlmDense.weight", "mlmBias", "embeddings.layerNorm.dense1.weight"} <= set(report["new"])
    with pytest.raises(checkpoints.InitRefused, match="bert4torch's mlm\\w* is not the checkpoint's verified weight"):
        checkpoints.b4t_build(M3E, tmp_path, new=("dense1", "dense2"), with_mlm=True, application="unilm",
                              tie_word_embeddings=True)

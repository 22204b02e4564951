"""The benchmark's peers see exactly what nlpkit sees (issue 23): their tokenizers give nlpkit's ids, and
the input check of scripts/bench_peers stops a row whose peer would not. Fast: no training."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from bench_peers import hf_classify  # noqa: E402
from bench_peers.common import InputMismatch, PositionCounter, check_inputs  # noqa: E402
from nlpkit.tokenizer import Tokenizer  # noqa: E402

TEXTS = ["酒店位置很好，服务也不错，下次还会再来。", "Hello World! 2024年销量增长了35%，iPhone卖得最好。",
         "房间太小了😞，隔音差，WiFi 时断时续。", "ＡＢＣ全角字母和１２３全角数字", "早餐一般般" * 40]
MAXLEN = 64


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

"""jose: the Riemannian update equals the paper's rule term by term; a model trained on the bundled
topical sample puts same-topic documents and words together; files, resume and bad input."""
import collections
import json
import math

import numpy as np
import pytest
import torch

from nlpkit.config import build_config
from nlpkit.errors import DataError, NlpkitError
from nlpkit.registry import get_task_class
from nlpkit.tasks.jose import JoseModel, load
from nlpkit.tasks.jose import task as jose_task
from nlpkit.tasks.jose.segment import Splitter
from nlpkit.tasks.jose.evaluate import knn_accuracy, nmi, spearman, spherical_kmeans
from nlpkit.tasks.jose.train import JoseTrainer, hinge_updates

TASK = get_task_class("jose")


def fit(tmp_path, *overrides, name="run"):
    cfg = build_config(TASK, [f"output_dir={tmp_path / name}", "trainer.progress=false", *overrides])
    return TASK(cfg).fit(cfg)


# ---- the update rule ----------------------------------------------------------------------------
def reference_steps(G, K, valid, neg_is_u, margin, alpha):
    """The paper's Riemannian SGD, one hinge term at a time: for each active term and each of its
    parameters x with Euclidean gradient e, step -(1 + cos(x, e)) (I - x x^T) e; sum, retract."""
    B, R, D = G.shape
    E = G / G.norm(dim=2, keepdim=True)
    out = E.clone()
    for b in range(B):
        step = torch.zeros(R, D, dtype=G.dtype)
        u = E[b, 0]
        for k in range(K):
            n = E[b, 1 + k]
            for j in range(R - 1 - K):
                t = E[b, 1 + K + j]
                if not valid[b, j] or neg_is_u[b, k] or margin - u @ t + n @ t <= 0:
                    continue
                for row, x, e in ((0, u, -t), (1 + k, n, t), (1 + K + j, t, n - u)):
                    proj = e - (x @ e) * x
                    step[row] -= (1 + (x @ e) / e.norm()) * proj
        out[b] = E[b] + alpha * step
    return out / out.norm(dim=2, keepdim=True)


def test_update_equals_the_papers_rule_term_by_term():
    g = torch.Generator().manual_seed(0)
    B, K, T, D = 6, 2, 5, 8
    G = torch.randn(B, 1 + K + T, D, generator=g, dtype=torch.float64)
    G[:, 1 + K :] = 0.6 * G[:, 1 + K :] + 0.8 * G[:, :1]  # some hinges inactive, some active
    G *= torch.rand(B, 1 + K + T, 1, generator=g, dtype=torch.float64) + 0.5  # rows of any norm
    valid = torch.rand(B, T, generator=g) < 0.7
    neg_is_u = torch.zeros(B, K, dtype=torch.bool)
    neg_is_u[0, 1] = True
    delta, loss = hinge_updates(G, K, valid, neg_is_u, 0.15, 0.05)
    got = G + delta
    got = got / got.norm(dim=2, keepdim=True)
    want = reference_steps(G, K, valid, neg_is_u, 0.15, 0.05)
    assert torch.allclose(got, want, atol=1e-10)
    assert loss > 0
    # frozen words (infer_vector): only the targets move
    delta, _ = hinge_updates(G, K, valid, neg_is_u, 0.15, 0.05, update_words=False)
    assert delta[:, : 1 + K].abs().max() == 0 and delta[:, 1 + K :].abs().max() > 0


# ---- a model trained on the bundled sample ------------------------------------------------------
@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = fit(tmp_path_factory.mktemp("jose"), "corpus.min_count=3")
    return out, load(out)


def topic_words(model, min_count=10):
    """Vocabulary words that occur in documents of a single topic of the sample."""
    lines = open(TASK.sample_path("train"), encoding="utf-8").read().splitlines()
    labels = open(TASK.sample_path("dev"), encoding="utf-8").read().splitlines()
    seen, split = collections.defaultdict(collections.Counter), Splitter()
    for text, label in zip(lines, labels):
        for w in split(text):
            seen[w][label] += 1
    return {w: next(iter(c)) for w, c in seen.items() if len(c) == 1 and w in model and sum(c.values()) >= min_count}


def test_same_topic_documents_and_words_end_up_together(sample_run):
    out, model = sample_run
    metrics = json.load(open(f"{out}/metrics.json"))
    assert metrics["knn_accuracy"] >= 0.9 and metrics["nmi"] >= 0.7, metrics
    assert metrics["documents"] == 200 and metrics["documents_without_vector"] == 0
    words = topic_words(model)
    assert len(set(words.values())) == 4 and len(words) > 100
    # each topic word's nearest topic word belongs to the same topic ...
    same = [words[max((x for x in words if x != w), key=lambda x: model.similarity(w, x))] == t
            for w, t in words.items()]
    assert sum(same) / len(same) >= 0.9
    # ... and most of its 5 nearest neighbours in the whole vocabulary are words of its topic
    p5 = [sum(words.get(x) == t for x, _ in model.most_similar(w, 5)) / 5 for w, t in words.items()]
    assert sum(p5) / len(p5) >= 0.5


def test_infer_vector_lands_near_its_topic(sample_run):
    _, model = sample_run
    labels = open(TASK.sample_path("dev"), encoding="utf-8").read().splitlines()
    unseen = {
        "体育": "球队的教练和球员在比赛结束后一起庆祝冠军。",
        "财经": "投资者担心利率上升，股票和基金的价格都下跌了。",
        "科技": "这家公司的工程师用人工智能算法优化手机芯片。",
        "美食": "厨师用大火炒菜，又煮了一锅面条和饺子。",
    }
    vectors = model.infer_vectors(list(unseen.values()))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    for topic, v in zip(unseen, vectors):
        nearest = [labels[k] for k, _ in model.most_similar_docs(v, 5)]
        assert collections.Counter(nearest).most_common(1)[0][0] == topic, (topic, nearest)
    assert model.tokenize("qqq zzz") == [] and not model.infer_vector("qqq zzz").any()  # no known word


def test_run_files_roundtrip_and_unit_norms(sample_run):
    out, model = sample_run
    for m in (model, TASK(build_config(TASK)).load_run(out)):
        for name in ("words", "contexts", "docs"):
            norms = getattr(m, name).norm(dim=1)
            assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)
    from gensim.models import KeyedVectors

    kv = KeyedVectors.load_word2vec_format(f"{out}/words.txt")
    assert kv.index_to_key == model.vocab.words
    assert np.allclose(kv.vectors, model.words.numpy(), atol=1e-5)
    docs = KeyedVectors.load_word2vec_format(f"{out}/docs.txt")
    assert docs.index_to_key[:3] == ["0", "1", "2"]
    assert np.allclose(docs["7"], model.doc_vector(7), atol=1e-5)
    assert math.isclose(model.similarity("球员", "教练"), float(kv["球员"] @ kv["教练"]), abs_tol=1e-4)
    assert TASK(build_config(TASK)).pipeline(model) is model


def test_cli_evaluate_and_predict(sample_run, tmp_path, capsys):
    from nlpkit.cli import main

    out, model = sample_run
    assert main(["evaluate", f"model={out}"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["knn_accuracy"] >= 0.9
    # word similarity: pairs of topic words, gold 1 within a topic and 0 across topics
    words = sorted(topic_words(model).items())
    rng = np.random.default_rng(0)
    lines = ["# word1 word2 score", "未知词 股票 3"]
    for i, j in rng.integers(len(words), size=(300, 2)):
        if i != j:
            lines.append(f"{words[i][0]} {words[j][0]} {int(words[i][1] == words[j][1])}")
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["evaluate", f"model={out}", f"data={pairs}"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["pairs"] == len(lines) - 2 and scores["pairs_skipped"] == 1 and scores["spearman"] > 0.4
    inputs = tmp_path / "in.txt"
    inputs.write_text("厨师煮了一锅面条\n", encoding="utf-8")
    assert main(["predict", f"model={out}", f"input={inputs}"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert len(pred["vector"]) == 100 and len(pred["similar_docs"]) == 5


# ---- robustness, resume, errors -------------------------------------------------------------------
def test_empty_and_emptied_lines_have_no_vector(tmp_path):
    corpus = tmp_path / "c.txt"
    lines = ["a b c d a b c d", "", "rare1 rare2", "a", "c d c d a b", "   ", "b a d c b"] * 3
    lines[2] = "zzz"  # one line with a word below min_count only
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = fit(tmp_path, f"data.train={corpus}", "corpus.segmented=true", "corpus.min_count=2", "jose.dim=8",
              "jose.epochs=2")
    model = load(out)
    metrics = json.load(open(f"{out}/metrics.json"))
    empty = [i for i, line in enumerate(lines) if not [w for w in line.split() if w in model]]
    assert metrics["lines"] == len(lines) and metrics["documents_without_vector"] == len(empty) > 0
    assert sorted(set(range(len(lines))) - set(model.doc_keys.tolist())) == empty
    with pytest.raises(KeyError, match="no vector"):
        model.doc_vector(empty[0])
    assert model.doc_vector(3).shape == (8,)  # the one-word document trained too
    assert "zzz" not in model and "rare1" in model  # rare1 occurs 3 times (min_count 2)


def test_resume_after_interruption_matches_an_uninterrupted_run(tmp_path, monkeypatch):
    args = ["corpus.min_count=3", "jose.epochs=3", "jose.threads=1", "jose.dim=16", "jose.save_text=false"]
    whole = load(fit(tmp_path, *args, name="whole"))

    real = jose_task._save_resume

    def interrupt_after_first_epoch(trainer, path, epoch):
        real(trainer, path, epoch)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(jose_task, "_save_resume", interrupt_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        fit(tmp_path, *args, name="cut")
    assert (tmp_path / "cut" / "resume.safetensors").exists()
    monkeypatch.setattr(jose_task, "_save_resume", real)
    resumed = load(fit(tmp_path, *args, "resume=true", name="cut"))
    assert torch.allclose(whole.words, resumed.words, atol=1e-4)
    assert torch.allclose(whole.docs, resumed.docs, atol=1e-4)
    assert not (tmp_path / "cut" / "resume.safetensors").exists()


def test_bad_input_is_named(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(NlpkitError, match="empty"):
        fit(tmp_path, f"data.train={empty}")
    bad = tmp_path / "bad.txt"
    bad.write_bytes("好 好 好\n".encode() * 6 + b"\xff\xfe broken\n")
    with pytest.raises(DataError, match=r"bad.txt:7: not valid UTF-8"):
        fit(tmp_path, f"data.train={bad}", "corpus.segmented=true", "corpus.min_count=1")
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("a b 1\na b high\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"pairs.txt:2: score 'high'"):
        jose_task.read_word_pairs(pairs)
    with pytest.raises(NlpkitError, match="not a JoSE model folder"):
        JoseModel.load(tmp_path)
    with pytest.raises(ValueError):
        JoseTrainer([3, 2], 1, negative=0)


# ---- evaluation helpers ---------------------------------------------------------------------------
def test_evaluation_helpers():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1)
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(0.9486832980505139)  # ties: average ranks
    assert nmi([0, 0, 1, 1], ["b", "b", "a", "a"]) == pytest.approx(1)
    assert nmi([0, 1, 0, 1], [0, 0, 1, 1]) == pytest.approx(0)
    g = torch.Generator().manual_seed(0)
    centres = torch.nn.functional.normalize(torch.randn(3, 20, generator=g), dim=1)
    labels = [i % 3 for i in range(60)]
    X = torch.nn.functional.normalize(centres[labels] + 0.2 * torch.randn(60, 20, generator=g), dim=1)
    assert knn_accuracy(X, labels, k=3) == 1.0
    assert nmi(spherical_kmeans(X, 3), labels) == pytest.approx(1)


def test_parallel_segmentation_matches_in_process(monkeypatch):
    from nlpkit.tasks.jose import corpus

    path = TASK.sample_path("train")
    serial = list(corpus.iter_documents(path, Splitter(), workers=1))
    monkeypatch.setattr(corpus, "PARALLEL_BYTES", 4096)  # the sample counts as big: 2 worker processes
    monkeypatch.setattr(corpus, "SEGMENT_BATCH", 17)
    assert list(corpus.iter_documents(path, Splitter(), workers=2)) == serial
    assert len(serial) == 200 and all(serial)

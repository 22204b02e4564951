"""jose: the compiled loops take the paper's Riemannian steps, term by term; a model trained on the bundled
topical sample puts same-topic documents and words together; files, the run lifecycle (checks before
training, no leftovers, resume, finished runs), the typed config and bad input."""
import collections
import json
import math
import os

import numpy as np
import pytest
import torch

from nlpkit.cache import cache_root
from nlpkit.checkpoint import CONFIG_FILE, LOCK_FILE, METRICS_FILE, load_run, run_status
from nlpkit.config import build_config
from nlpkit.errors import DataError, NlpkitError
from nlpkit.registry import get_task_class
from nlpkit.tasks.jose import JoseModel, load
from nlpkit.tasks.jose import kernel
from nlpkit.tasks.jose import task as jose_task
from nlpkit.tasks.jose.segment import Splitter
from nlpkit.tasks.jose.metrics import knn_accuracy, nmi, spearman, spherical_kmeans
from nlpkit.tasks.jose.train import JoseTrainer

TASK = get_task_class("jose")


def fit(tmp_path, *overrides, name="run"):
    cfg = build_config(TASK, [f"output_dir={tmp_path / name}", "progress=false", *overrides])
    return TASK(cfg).fit(cfg)


# ---- the update rule ----------------------------------------------------------------------------
def paper_steps(E, K, margin):
    """The paper's Riemannian SGD for one block of unit rows E = [u, u'_1..u'_K, t_1..t_T], one hinge
    term at a time: for each active term max(0, m - cos(u, t) + cos(u'_k, t)) and each of its
    parameters x with Euclidean gradient e, the step -(1 + cos(x, e)) (I - x x^T) e. Returns the
    summed step of every row (a negative equal to u is no term)."""
    step = torch.zeros_like(E)
    u = E[0]
    for k in range(1, K + 1):
        n = E[k]
        for j in range(K + 1, len(E)):
            t = E[j]
            if torch.equal(n, u) or margin - u @ t + n @ t <= 0:
                continue
            for row, x, e in ((0, u, -t), (k, n, t), (j, t, n - u)):
                step[row] -= (1 + (x @ e) / e.norm()) * (e - (x @ e) * x)
    return step


def unit_table(n, dim, seed, pull=()):
    """Random unit rows; rows (a, b) in `pull` are moved towards row b, so some hinges are active and
    some are not."""
    g = torch.Generator().manual_seed(seed)
    table = torch.nn.functional.normalize(torch.randn(n, dim, generator=g, dtype=torch.float64), dim=1)
    for a, b in pull:
        table[a] = torch.nn.functional.normalize(0.6 * table[a] + 0.8 * table[b], dim=0)
    return table


def test_training_loop_takes_the_papers_steps():
    """kernel.train_span on positions 1 and 2 of a 4-word document: each position steps its context
    block [u, u'_1, u'_2, contexts] and then its document block [u, u'_3, u'_4, d], the steps of a block
    all taken from its values before any of them moves."""
    V, K, alpha, margin = 12, 2, 0.05, 0.15
    tokens, radius = np.array([0, 1, 2, 3]), np.array([1, 2])
    negatives = np.array([[4, 5, 6, 7], [8, 9, 10, 2]])  # position 2's document block draws the word itself
    table = unit_table(2 * V + 1, 16, 3, pull=[(V + w, w) for w in range(V)])
    want = table.clone()
    for p, r in ((1, 1), (2, 2)):
        ctx = [V + int(tokens[j]) for j in range(max(p - r, 0), min(p + r + 1, 4)) if j != p]
        neg = negatives[p - 1].tolist()
        for targets, negs in ((ctx, neg[:K]), ([2 * V], neg[K:])):
            rows = [int(tokens[p]), *negs, *targets]
            new = torch.nn.functional.normalize(want[rows] + alpha * paper_steps(want[rows], K, margin), dim=1)
            for slot in reversed(range(len(rows))):  # a negative equal to u: u's own step wins
                want[rows[slot]] = new[slot]
    got = table.float().numpy()
    loss, terms = kernel.train_span(got, tokens, np.zeros(4, np.int64), 1, 3, radius, negatives, V, margin, alpha)
    assert terms == (2 + 1) * K + (3 + 1) * K and loss > 0
    assert np.abs(got - want.float().numpy()).max() < 2e-6
    assert np.abs(got - table.float().numpy()).max() > 1e-3


def test_document_fit_takes_the_papers_steps_with_words_frozen():
    """kernel.fit_docs (infer_vector, the documents' refit): each document takes the summed steps of
    all its words' hinges, each weighted, from the same document vector; words do not move."""
    V, K, alpha, margin = 10, 2, 0.05, 0.15
    table = unit_table(V + 2, 16, 4, pull=[(V, 0), (V + 1, 5)])
    tokens, offsets = np.array([0, 1, 2, 3, 5, 6]), np.array([0, 4, 6])
    weights = np.array([1.0, 0.5, 1.0, 0.25, 1.0, 0.8], np.float32)
    negatives = np.array([[7, 8], [9, 1], [4, 5], [6, 7], [8, 9], [2, 3]])
    want = table.clone()
    for d in range(2):
        step = sum(weights[i] * paper_steps(table[[tokens[i], *negatives[i], V + d]], K, margin)[-1]
                   for i in range(offsets[d], offsets[d + 1]))
        want[V + d] = torch.nn.functional.normalize(table[V + d] + alpha * step, dim=0)
    got = table.float().numpy()
    assert kernel.fit_docs(got, tokens, offsets, V, weights, negatives, margin, alpha) > 0
    assert np.abs(got - want.float().numpy()).max() < 2e-6
    assert np.abs(got[V:] - table[V:].float().numpy()).max() > 1e-3 and np.array_equal(got[:V], table[:V].float())


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
    metrics = json.load(open(f"{out}/{METRICS_FILE}"))
    assert metrics["knn_accuracy"] >= 0.9 and metrics["nmi"] >= 0.9, metrics
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


def test_predict_input_errors_name_file_line_and_field(sample_run, tmp_path, capsys):
    from nlpkit.cli import main

    out, _ = sample_run
    for name, lines, says in (
            ("number.jsonl", ['{"text": "厨师煮了面条"}', '{"text": 123}'], "2: field 'text': expected str, got int"),
            ("seq2seq.jsonl", ['{"src": "厨师煮了面条", "tgt": "美食"}'], "1: field 'text': missing"),
            ("list.jsonl", ['{"text": "a"}', '["a"]'], "2: expected a JSON object, got list")):
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        assert main(["predict", f"model={out}", f"input={path}"]) == 2
        err = capsys.readouterr().err
        assert err == f"nlpkit: error: {path}:{says}\n", err


def test_pipeline_validates_per_call_options(sample_run):
    import nlpkit

    out, model = sample_run
    p = nlpkit.pipeline("jose", model=out, topn=2)
    one = p("厨师煮了一锅面条")
    assert len(one["vector"]) == 100 and len(one["similar_docs"]) == 2
    assert [len(r["similar_docs"]) for r in p(["厨师煮了一锅面条", {"text": "球员赢得了比赛"}], topn=4)] == [4, 4]
    assert p("厨师煮了一锅面条", topn=0)["similar_docs"] == []
    with pytest.raises(NlpkitError, match=r"unknown option 'num_beams' for task jose; .*options: infer_epochs, topn"):
        p("厨师煮了一锅面条", num_beams=3)
    with pytest.raises(NlpkitError, match=r"topn=-1: expected an integer >= 0"):
        p("厨师煮了一锅面条", topn=-1)
    with pytest.raises(NlpkitError, match=r'jose embeds a text or a \{"text": "..."\} record'):
        p({"src": "厨师煮了一锅面条"})
    with pytest.raises(NlpkitError, match="unknown option 'k'"):
        nlpkit.pipeline("jose", model=out, k=3)
    # the JoseModel's lookups are the pipeline's too
    assert p.most_similar("球员", topn=3) == model.most_similar("球员", topn=3)
    assert "球员" in p


def test_evaluate_writes_each_record_with_its_prediction(sample_run, tmp_path, capsys):
    from nlpkit.cli import main

    out, _ = sample_run
    rows_path = tmp_path / "rows.jsonl"
    assert main(["evaluate", f"model={out}", f"output={rows_path}", "eval.knn_k=5"]) == 0
    scores = json.loads(capsys.readouterr().out)
    rows = [json.loads(line) for line in rows_path.read_text(encoding="utf-8").splitlines()]
    labels = open(TASK.sample_path("dev"), encoding="utf-8").read().splitlines()
    assert [r["label"] for r in rows] == labels and scores["labelled_documents"] == 200
    assert sum(r["pred"] == r["label"] for r in rows) / len(rows) == scores["knn_accuracy"] >= 0.9
    assert len({r["cluster"] for r in rows}) == 4


# ---- robustness, resume, errors -------------------------------------------------------------------
def test_empty_and_emptied_lines_have_no_vector(tmp_path):
    corpus = tmp_path / "c.txt"
    lines = ["a b c d a b c d", "", "rare1 rare2", "a", "c d c d a b", "   ", "b a d c b"] * 3
    lines[2] = "zzz"  # one line with a word below min_count only
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = fit(tmp_path, f"data.train={corpus}", "corpus.segmented=true", "corpus.min_count=2", "jose.dim=8",
              "jose.epochs=2")
    model = load(out)
    metrics = json.load(open(f"{out}/{METRICS_FILE}"))
    empty = [i for i, line in enumerate(lines) if not [w for w in line.split() if w in model]]
    assert metrics["lines"] == len(lines) and metrics["documents_without_vector"] == len(empty) > 0
    assert sorted(set(range(len(lines))) - set(model.doc_keys.tolist())) == empty
    with pytest.raises(KeyError, match="no vector"):
        model.doc_vector(empty[0])
    assert model.doc_vector(3).shape == (8,)  # the one-word document trained too
    assert "zzz" not in model and "rare1" in model  # rare1 occurs 3 times (min_count 2)


def test_resume_after_interruption_matches_an_uninterrupted_run(tmp_path, monkeypatch):
    """An interrupted run is marked unfinished and holds only its config and resume point (the
    temporary encoded corpus lives in the cache, which is left empty); resume=true retraces the
    uninterrupted run and leaves exactly the run's files."""
    args = ["corpus.min_count=3", "jose.epochs=3", "jose.threads=1", "jose.dim=16", "jose.save_text=false"]
    whole = load(fit(tmp_path, *args, name="whole"))
    real, seen = jose_task._save_resume, {}

    def interrupt_after_first_epoch(trainer, path, epoch):
        real(trainer, path, epoch)
        seen[epoch] = sorted(os.listdir(path.parent))
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(jose_task, "_save_resume", interrupt_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        fit(tmp_path, *args, name="cut")
    cut = tmp_path / "cut"
    during = sorted([CONFIG_FILE, jose_task.RESUME_FILE])
    held = sorted([*during, LOCK_FILE])  # the lock: held while it trains, gone with it
    assert seen[1] == held
    assert sorted(os.listdir(cut)) == during
    assert run_status(cut) == "unfinished"
    with pytest.raises(NlpkitError, match="unfinished run"):
        load_run(cut)
    resumed = load(fit(tmp_path, *args, "resume=true", name="cut"))
    assert seen[2] == seen[3] == held
    assert torch.allclose(whole.words, resumed.words, atol=1e-4)
    assert torch.allclose(whole.docs, resumed.docs, atol=1e-4)
    assert sorted(os.listdir(cut)) == sorted([CONFIG_FILE, METRICS_FILE, "jose.json", "vectors.safetensors", "vocab.tsv"])
    assert run_status(cut) == "finished"
    assert list((cache_root() / "jose").iterdir()) == []


# ---- the run lifecycle ----------------------------------------------------------------------------
def small_corpus(tmp_path, copies=3):
    corpus = tmp_path / "small.txt"
    corpus.write_text("a b c d a b c d\nc d c d a b\nb a d c b\n" * copies, encoding="utf-8")
    return corpus, [f"data.train={corpus}", "corpus.segmented=true", "corpus.min_count=2", "jose.dim=8",
                    "jose.epochs=2", "jose.threads=1"]


def test_labels_are_checked_before_training(tmp_path, monkeypatch):
    """A labels file that does not fit the corpus fails before anything trains or is written."""
    monkeypatch.setattr(jose_task, "JoseTrainer", None)  # training would fail on another error
    short = tmp_path / "labels.txt"
    short.write_text("体育\n财经\n科技\n", encoding="utf-8")
    with pytest.raises(NlpkitError, match=r"labels.txt: 3 lines but the training corpus has 200"):
        fit(tmp_path, f"eval.labels={short}")
    corpus, args = small_corpus(tmp_path)
    one = tmp_path / "one.txt"
    one.write_text("x\n" + "\n" * 8, encoding="utf-8")  # 9 lines, one label
    with pytest.raises(NlpkitError, match="fewer than 2 documents have both a vector and a label"):
        fit(tmp_path, *args, f"eval.labels={one}")
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("a b 1\na b high\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"pairs.txt:2: score 'high'"):
        fit(tmp_path, f"eval.word_pairs={pairs}")
    assert not (tmp_path / "run").exists()


def test_failed_runs_leave_no_folder(tmp_path, monkeypatch):
    """A run that fails before its first resume point removes the folders it made (parents too), and
    leaves a folder it did not make as it found it."""
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(NlpkitError, match="empty"):
        fit(tmp_path, f"data.train={empty}", name="a/run")
    corpus, args = small_corpus(tmp_path)
    with pytest.raises(NlpkitError, match="min_count=50"):
        fit(tmp_path, *args, "corpus.min_count=50", name="a/run")
    assert not (tmp_path / "a").exists()

    def interrupted(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(jose_task.JoseTrainer, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fit(tmp_path, *args, name="a/run")
    assert not (tmp_path / "a").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    with pytest.raises(KeyboardInterrupt):
        fit(tmp_path, *args, name="mine")
    assert os.listdir(mine) == []
    (mine / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(NlpkitError, match="holds notes.txt but is no nlpkit run"):  # never trains among them
        fit(tmp_path, *args, name="mine")
    assert os.listdir(mine) == ["notes.txt"]
    assert list((cache_root() / "jose").iterdir()) == []


def test_finished_runs_are_refused_unless_overwrite_or_resume(tmp_path, monkeypatch):
    corpus, args = small_corpus(tmp_path)
    out = fit(tmp_path, *args)
    before = (tmp_path / "run" / "vectors.safetensors").read_bytes()
    with pytest.raises(NlpkitError, match="holds a finished run; pass overwrite=true"):
        fit(tmp_path, *args)
    monkeypatch.setattr(jose_task, "JoseTrainer", None)
    assert fit(tmp_path, *args, "resume=true") == out  # finished: nothing to train
    assert (tmp_path / "run" / "vectors.safetensors").read_bytes() == before
    monkeypatch.undo()
    fit(tmp_path, *args, "overwrite=true", "jose.save_text=false", "seed=7")
    assert not (tmp_path / "run" / "words.txt").exists()  # the replaced run's files go
    assert (tmp_path / "run" / "vectors.safetensors").read_bytes() != before
    assert run_status(tmp_path / "run") == "finished"


def test_config_is_typed_and_refuses_what_jose_does_not_use(tmp_path, capsys):
    from nlpkit.cli import main

    out = tmp_path / "run"
    for arg, says in (("model=tiny", "unknown config key 'model'"),
                      ("trainer.max_steps=5", "unknown config key 'trainer.max_steps'"),
                      ("trainer.progress=false", "unknown config key 'trainer.progress'"),
                      ("data.dev=labels.txt", "data.dev does not apply to jose: give the documents' labels as "
                                              "eval.labels=FILE"),
                      ("jose.margin=0", "jose.margin=0.0: expected a number in (0, 2)"),
                      ("jose.epochs=0", "jose.epochs=0: expected an integer >= 1"),
                      ("corpus.tokenizer=jiba", "corpus.tokenizer=jiba: expected a string (jieba, rjieba, char or "
                                                "bert:DIR)")):
        assert main(["train", "task=jose", f"output_dir={out}", arg]) == 2, arg
        err = capsys.readouterr().err
        assert err.startswith("nlpkit: error: ") and says in err and err.count("\n") == 1, (arg, err)
    assert not out.exists()
    assert build_config(TASK, ["corpus.tokenizer=bert:some/dir"]).corpus.tokenizer == "bert:some/dir"
    assert main(["train", "task=jose", "--help"]) == 0
    help_text = capsys.readouterr().out
    for key in ("eval.labels", "eval.topn", "jose.margin", "corpus.min_count", "progress"):
        assert f"\n{key} " in help_text, key
    assert "trainer." not in help_text and "\nmodel " not in help_text


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

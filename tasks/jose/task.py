"""The jose task: JoSE spherical word and document embeddings. Not a BERT fine-tune: fit() trains and
writes the run directory through the shared run lifecycle (nlpkit.checkpoint: plan_run, start_run,
finish_run), load_run() reads the JoseModel back, read() reads evaluation files (labels, word pairs)."""
import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch

from nlpkit.cache import cache_dir
from nlpkit.checkpoint import FINISHED, RESUME, clear_run, finish_run, plan_run, run_lock, start_run
from nlpkit.data import is_json, iter_lines, read_json_records, require
from nlpkit.errors import DataError, NlpkitError
from nlpkit.pipelines import Pipeline
from nlpkit.task import Task

from .config import JoseConfig
from .corpus import EncodedCorpus, Vocab, check_corpus, count_lines, count_words
from .metrics import cluster, knn_predict, nmi, word_cosines, word_similarity
from .model import SETTINGS, TEXT_FILES, VECTORS, VOCAB, JoseModel
from .segment import Splitter
from .train import JoseTrainer

RESUME_FILE = "resume.safetensors"


def read_labels(path):
    """One label per line, aligned with the corpus lines (an empty line: no label)."""
    return [line.strip() for _, line in iter_lines(path)]


def read_word_pairs(path):
    """Lines "word1 word2 score" (whitespace separated; '#' comments and blank lines skipped)."""
    pairs = []
    for no, line in iter_lines(path):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 3:
            raise DataError(path, no, f"expected 'word1 word2 score', got {len(parts)} fields")
        try:
            pairs.append((parts[0], parts[1], float(parts[2])))
        except ValueError:
            raise DataError(path, no, f"score '{parts[2]}' is not a number") from None
    return pairs


def _is_pairs_file(path):
    for _, line in iter_lines(path):
        if line.strip() and not line.lstrip().startswith("#"):
            parts = line.split()
            if len(parts) != 3:
                return False
            try:
                float(parts[2])
                return True
            except ValueError:
                return False
    return False


class JosePipeline(Pipeline):
    """A call embeds documents (predict's {"vector", "similar_docs"}; per call: topn, infer_epochs);
    the JoseModel's lookups (most_similar, similarity, doc_vector, infer_vector, ...) are the
    pipeline's too."""

    def __getattr__(self, name):
        model = self.__dict__.get("model")
        if model is None or name.startswith("_"):
            raise AttributeError(name)
        return getattr(model, name)

    def __contains__(self, word):
        return word in self.model


class JoseTask(Task):
    """JoSE spherical word + document embeddings (Riemannian SGD on the unit sphere)"""

    name = "jose"
    metric = "knn_accuracy"
    #: the corpus, and its labels: what `nlpkit evaluate` scores a run trained on the sample with
    sample = {"train": "sample/corpus.txt", "dev": "sample/labels.txt"}
    config_class = JoseConfig
    call_options = ("eval.topn", "eval.infer_epochs")
    #: jose's own run files (nlpkit.checkpoint removes them when a run is replaced)
    resume_may_change = ("progress", "corpus.workers")
    run_files = (VECTORS, VOCAB, SETTINGS, *TEXT_FILES.values(), RESUME_FILE)
    pipeline_class = JosePipeline

    # ---- evaluation files ------------------------------------------------------------------
    def read(self, path):
        """An evaluation file: word pairs ("w1 w2 score" lines) or document labels (one per line,
        aligned with the training corpus)."""
        if _is_pairs_file(path):
            return [{"w1": a, "w2": b, "score": s} for a, b, s in read_word_pairs(path)]
        return [{"line": i, "label": label} for i, label in enumerate(read_labels(path))]

    def document_vectors(self, model):
        return model.doc_keys.tolist(), model.docs.numpy()

    def eval_data(self):
        """The labels the run was scored with after training."""
        return self.cfg.eval.labels or super().eval_data()

    def eval_predictions(self, model, records, **options):
        """Word pairs: the model's cosine of each pair; labels: each corpus line's k-NN label and cluster."""
        if records and "w1" in records[0]:
            return word_cosines(model, [(r["w1"], r["w2"], r["score"]) for r in records])
        return label_predictions(model, [r["label"] for r in records], self.cfg.eval.knn_k)

    def score(self, records, predictions):
        """Spearman / Pearson of the word pairs' cosines, or k-NN accuracy and NMI of the labelled
        documents; rows: each pair with its cosine, or each line with its label, prediction and cluster."""
        if records and "w1" in records[0]:
            pairs = [(r["w1"], r["w2"], r["score"]) for r in records]
            return word_similarity(pairs, predictions), [{**r, "cosine": c} for r, c in zip(records, predictions)]
        labels = [r["label"] for r in records]
        return label_metrics(labels, predictions), [{"line": i, "label": label, **p}
                                                    for i, (label, p) in enumerate(zip(labels, predictions))]

    # ---- inference ---------------------------------------------------------------------------
    def read_inputs(self, path):
        """JSON(L) records with a "text" string, or plain text (one document per line)."""
        if not is_json(path):
            return [{"text": line} for _, line in iter_lines(path)]
        records = []
        for no, obj in read_json_records(path):
            require(obj, "text", path, no, allow_empty=True)
            records.append(obj)
        return records

    def as_record(self, item, **options):
        record = {"text": item} if isinstance(item, str) else item
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise NlpkitError(f'jose embeds a text or a {{"text": "..."}} record, got {str(item)[:80]!r}')
        return dict(record)

    def predict_batch(self, model, records, topn=None, infer_epochs=None):
        """Per text {"vector", "similar_docs": [{"doc", "cosine"}]} (no similar documents for a text without
        a known word)."""
        topn = self.cfg.eval.topn if topn is None else topn
        vectors = model.infer_vectors([r["text"] for r in records], epochs=infer_epochs or self.cfg.eval.infer_epochs)
        return [{"vector": [round(x, 6) for x in v.tolist()],
                 "similar_docs": [{"doc": k, "cosine": round(c, 4)} for k, c in model.most_similar_docs(v, topn)]
                 if v.any() else []}
                for v in vectors]

    def load_run(self, run_dir):
        return JoseModel.load(run_dir)

    # ---- training ----------------------------------------------------------------------------
    def fit(self, cfg):
        """Train and write the run directory; returns its path. Everything that can be checked (the
        run folder, the labels and word pairs) is checked before the corpus is segmented."""
        out = Path(cfg.output_dir or f"runs/{self.name}")
        with run_lock(out):  # a second training into `out` is refused while this one runs
            return self._fit(out, cfg)

    def _fit(self, out, cfg):
        say = (lambda msg: print(f"jose: {msg}", file=sys.stderr)) if cfg.progress else (lambda msg: None)
        plan = plan_run(out, cfg, self.resume_may_change)
        if plan == FINISHED:
            say(f"{out} holds the finished run already: nothing to resume")
            return str(out)
        if cfg.resume and plan != RESUME:
            say(f"nothing to resume in {out}, starting fresh")
        train_path = check_corpus(cfg.data.train or self.sample_path("train"))
        labels_path, labels, pairs = self._gold(cfg, train_path)
        c = cfg.corpus
        splitter = Splitter(c.segmented, c.tokenizer, cfg.jieba.hmm, cfg.jieba.user_dict)
        say(f"counting words in {train_path}")
        vocab = _vocabulary(train_path, splitter, c)
        # the encoded corpus is temporary: in the cache, so no run folder ever holds a stale one
        with tempfile.TemporaryDirectory(prefix="corpus-", dir=cache_dir(self.name)) as tmp:
            say(f"encoding the corpus ({len(vocab)} words in the vocabulary)")
            corpus = EncodedCorpus.encode(train_path, vocab, splitter, tmp, workers=c.workers)
            if corpus.n_docs == 0:
                raise NlpkitError(f"{train_path}: no document keeps a word of the vocabulary")
            if labels is not None:
                check_labels(labels, corpus.n_lines, corpus.keys.tolist(), labels_path)
            model, metrics = train_run(out, cfg, plan, vocab, corpus)
        if labels is not None:
            metrics.update(label_metrics(labels, label_predictions(model, labels, cfg.eval.knn_k)))
        if pairs is not None:
            metrics.update(word_similarity(pairs, word_cosines(model, pairs)))
        finish_run(out, metrics)
        (out / RESUME_FILE).unlink(missing_ok=True)
        say(f"metrics {json.dumps(metrics, ensure_ascii=False)}")
        return str(out)

    def _gold(self, cfg, train_path):
        """(labels path, labels, word pairs) scored after training, read and checked before it."""
        labels_path = cfg.eval.labels or (None if cfg.data.train else self.sample_path("dev"))
        labels = read_labels(labels_path) if labels_path else None
        if labels is not None:
            check_labels(labels, count_lines(train_path), None, labels_path)
        pairs = read_word_pairs(cfg.eval.word_pairs) if cfg.eval.word_pairs else None
        return labels_path, labels, pairs


def _vocabulary(train_path, splitter, c):
    counts = count_words(train_path, splitter, min_count=c.min_count, workers=c.workers,
                         stopwords=c.stopwords, keep_punct=c.keep_punct)
    vocab = Vocab.from_counts(counts, c.min_count)
    if not len(vocab):
        raise NlpkitError(f"{train_path}: no word occurs at least min_count={c.min_count} times "
                          "(lower corpus.min_count or give a larger corpus)")
    return vocab


def train_run(out, cfg, plan, vocab, corpus):
    """Train into `out` (created here, as the run starts) and save the model; (model, metrics). A run
    that fails before its first resume point leaves nothing behind: no folder if it made it."""
    j = cfg.jose
    made = _first_missing(out)
    start_run(out, cfg, fresh=plan != RESUME, run_files=JoseTask.run_files)
    try:
        trainer = JoseTrainer(vocab.counts, corpus.n_docs, dim=j.dim, window=j.window, negative=j.negative,
                              margin=j.margin, alpha=j.alpha, epochs=j.epochs, sample=j.sample,
                              batch_words=j.batch_words, threads=j.threads, seed=cfg.seed,
                              refit_epochs=j.refit_epochs)
        start_epoch = _resume(trainer, out / RESUME_FILE) if plan == RESUME else 0
        stats = trainer.train(corpus, progress=_progress_bar(cfg.progress, corpus.n_words * j.epochs),
                              start_epoch=start_epoch,
                              on_epoch_end=lambda epoch: _save_resume(trainer, out / RESUME_FILE, epoch))
    except BaseException:
        if plan != RESUME and not (out / RESUME_FILE).exists():
            if made:
                shutil.rmtree(made, ignore_errors=True)
            else:
                clear_run(out, JoseTask.run_files)
        raise
    c = cfg.corpus
    settings = {"segmented": bool(c.segmented), "tokenizer": c.tokenizer, "hmm": bool(cfg.jieba.hmm),
                "user_dict": cfg.jieba.user_dict, "min_count": c.min_count, "negative": j.negative,
                "margin": j.margin, "alpha": j.alpha, "sample": j.sample, "infer_epochs": cfg.eval.infer_epochs,
                "seed": cfg.seed, "lines": corpus.n_lines}
    keys = torch.from_numpy(corpus.keys.copy())
    model = JoseModel(vocab, trainer.words, trainer.contexts, trainer.docs, keys, settings)
    model.save(out, text=j.save_text)
    corpus.close()
    metrics = {"vocab_size": len(vocab), "lines": corpus.n_lines, "documents": corpus.n_docs,
               "documents_without_vector": corpus.n_lines - corpus.n_docs, "words": corpus.n_words,
               "epochs": j.epochs, **stats}
    return model, metrics


def _first_missing(path):
    """The outermost folder of `path` that does not exist yet (what creating it makes), or None."""
    missing = None
    for p in (path, *path.parents):
        if p.exists():
            return missing
        missing = p
    return missing


def _resume(trainer, path):
    """Load the state saved after the last finished epoch of an interrupted run; returns the number
    of epochs already done (0 when there is nothing to resume)."""
    if not path.exists():
        return 0
    from safetensors.torch import load_file

    state = load_file(str(path))
    if state["table"].shape != trainer.table.shape:
        raise NlpkitError(f"{path}: saved for another corpus or settings (table {tuple(state['table'].shape)}, "
                          f"now {tuple(trainer.table.shape)}); delete it or use another output_dir")
    trainer.table.copy_(state["table"])
    for g, s in zip(trainer.generators, state["generators"]):
        g.set_state(s.clone())
    return int(state["epoch"])


def _save_resume(trainer, path, epoch):
    """After each epoch: the vectors and random generators, so resume=true continues from here."""
    from safetensors.torch import save_file

    from nlpkit.data import atomic_path

    with atomic_path(path) as tmp:
        save_file({"table": trainer.table, "epoch": torch.tensor(epoch),
                   "generators": torch.stack([g.get_state() for g in trainer.generators])}, tmp)


def _progress_bar(enabled, total):
    if not enabled:
        return None
    from nlpkit.progress import progress_bar

    bar = progress_bar(total=total, unit="w", unit_scale=True, desc="train jose", mininterval=1.0)

    def update(done, total, loss):
        bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        bar.update(int(done) - bar.n)
        if int(done) >= total:
            bar.close()

    return update


def check_labels(labels, lines, doc_keys, path="the labels file"):
    """Labels fit a corpus of `lines` lines, and (doc_keys given: the lines with a document vector)
    at least 2 documents have a vector and a label."""
    if len(labels) != lines:
        raise NlpkitError(f"{path}: {len(labels)} lines but the training corpus has {lines}: "
                          "labels must be one per corpus line")
    if doc_keys is not None and sum(1 for key in doc_keys if key < len(labels) and labels[key]) < 2:
        raise NlpkitError(f"{path}: fewer than 2 documents have both a vector and a label")


def label_predictions(model, labels, k=3):
    """Per corpus line: {"pred": its k-NN label, "cluster": its spherical k-means cluster} among the
    documents that have a vector and a label (both None for a line left out)."""
    doc_keys = model.doc_keys.tolist()
    check_labels(labels, model.settings.get("lines", len(labels)), doc_keys)
    picked = [(row, key) for row, key in enumerate(doc_keys) if key < len(labels) and labels[key]]
    vectors, y = model.docs[[row for row, _ in picked]].numpy(), [labels[key] for _, key in picked]
    predicted, clusters = knn_predict(vectors, y, k=k), cluster(vectors, y)
    found = {key: {"pred": p, "cluster": int(c)} for (_, key), p, c in zip(picked, predicted, clusters)}
    return [found.get(i, {"pred": None, "cluster": None}) for i in range(len(labels))]


def label_metrics(labels, predictions):
    """k-NN accuracy and NMI of the lines label_predictions() scored."""
    scored = [(label, p) for label, p in zip(labels, predictions) if p["pred"] is not None]
    y = [label for label, _ in scored]
    return {"knn_accuracy": sum(p["pred"] == label for label, p in scored) / len(y),
            "nmi": nmi([p["cluster"] for _, p in scored], y), "labelled_documents": len(y)}

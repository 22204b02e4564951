"""The jose task: JoSE spherical word and document embeddings. Not a BERT fine-tune, so it overrides
the whole-run hooks: fit() trains and writes the run directory, load_run() reads it back, and the
pipeline is the JoseModel itself."""
import json
import os
import sys
import tempfile
from pathlib import Path

import torch

from nlpkit.data import iter_lines, read_jsonl, write_json, write_text
from nlpkit.errors import DataError, NlpkitError
from nlpkit.task import Task

from .corpus import EncodedCorpus, Vocab, check_corpus, count_words
from .segment import Splitter
from .evaluate import clustering_nmi, knn_accuracy, word_similarity
from .model import JoseModel
from .train import JoseTrainer

CONFIG_FILE, METRICS_FILE, RESUME_FILE = "nlpkit.yaml", "metrics.json", "resume.safetensors"


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


class JoseTask(Task):
    """JoSE spherical word + document embeddings (Riemannian SGD on the unit sphere)"""

    name = "jose"
    metric = "knn_accuracy"
    sample = {"train": "sample/corpus.txt", "dev": "sample/labels.txt"}

    # ---- evaluation files ------------------------------------------------------------------
    def read(self, path):
        """An evaluation file: word pairs ("w1 w2 score" lines) or document labels (one per line,
        aligned with the training corpus)."""
        if _is_pairs_file(path):
            return [{"w1": a, "w2": b, "score": s} for a, b, s in read_word_pairs(path)]
        return [{"line": i, "label": label} for i, label in enumerate(read_labels(path))]

    def evaluate(self, model, records, k=3, **options):
        if records and "w1" in records[0]:
            rho, used, skipped = word_similarity(model, [(r["w1"], r["w2"], r["score"]) for r in records])
            return {"spearman": rho, "pairs": used, "pairs_skipped": skipped}
        return evaluate_labels(model, [r["label"] for r in records], k=k)

    # ---- inference ---------------------------------------------------------------------------
    def read_inputs(self, path):
        """JSONL records with "text", or plain text (one document per line)."""
        with open(path, "rb") as f:
            head = f.read(1).lstrip(b"\xef\xbb\xbf")
        if head == b"{":
            return read_jsonl(path)
        return [{"text": line} for _, line in iter_lines(path)]

    def predict(self, model, records, topn=5, **options):
        vectors = model.infer_vectors([r["text"] for r in records])
        return [{"vector": [round(x, 6) for x in v.tolist()],
                 "similar_docs": [{"doc": k, "cosine": round(c, 4)} for k, c in model.most_similar_docs(v, topn)]
                 if v.any() else []}
                for v in vectors]

    def pipeline(self, model):
        return model

    def load_run(self, run_dir):
        return JoseModel.load(run_dir)

    # ---- training ----------------------------------------------------------------------------
    def fit(self, cfg):
        from omegaconf import OmegaConf

        train_path = check_corpus(cfg.data.train or self.sample_path("train"))
        labels_path = cfg.data.dev if (cfg.data.train or cfg.data.dev) else self.sample_path("dev")
        out = Path(cfg.output_dir or "runs/jose")
        out.mkdir(parents=True, exist_ok=True)
        c, j = cfg.corpus, cfg.jose
        say = (lambda msg: print(f"jose: {msg}", file=sys.stderr)) if cfg.trainer.progress else (lambda msg: None)

        splitter = Splitter(c.segmented, c.tokenizer, c.hmm, c.user_dict)
        say(f"counting words in {train_path}")
        counts = count_words(train_path, splitter, min_count=c.min_count, workers=c.workers,
                             stopwords=c.stopwords, keep_punct=c.keep_punct)
        vocab = Vocab.from_counts(counts, c.min_count)
        if not len(vocab):
            raise NlpkitError(f"{train_path}: no word occurs at least min_count={c.min_count} times "
                              "(lower corpus.min_count or give a larger corpus)")
        with tempfile.TemporaryDirectory(prefix=".jose-corpus-", dir=out) as tmp:
            say(f"encoding the corpus ({len(vocab)} words in the vocabulary)")
            corpus = EncodedCorpus.encode(train_path, vocab, splitter, tmp, workers=c.workers)
            if corpus.n_docs == 0:
                raise NlpkitError(f"{train_path}: no document keeps a word of the vocabulary")
            trainer = JoseTrainer(vocab.counts, corpus.n_docs, dim=j.dim, window=j.window, negative=j.negative,
                                  margin=j.margin, alpha=j.alpha, epochs=j.epochs, sample=j.sample,
                                  batch_words=j.batch_words, threads=j.threads, seed=cfg.seed,
                                  refit_epochs=j.refit_epochs)
            start_epoch = _resume(trainer, out / RESUME_FILE) if cfg.resume else 0
            stats = trainer.train(corpus, progress=_progress_bar(cfg.trainer.progress, corpus.n_words * j.epochs),
                                  start_epoch=start_epoch,
                                  on_epoch_end=lambda epoch: _save_resume(trainer, out / RESUME_FILE, epoch))
            keys, n_lines = corpus.keys.copy(), corpus.n_lines
            corpus.close()

        settings = {"segmented": bool(c.segmented), "tokenizer": c.tokenizer, "hmm": bool(c.hmm),
                    "user_dict": c.user_dict, "min_count": c.min_count, "negative": j.negative,
                    "margin": j.margin, "alpha": j.alpha, "sample": j.sample, "infer_epochs": cfg.eval.infer_epochs,
                    "seed": cfg.seed, "lines": n_lines}
        model = JoseModel(vocab, trainer.words, trainer.contexts, trainer.docs, torch.from_numpy(keys), settings)
        model.save(out, text=j.save_text)
        metrics = {"vocab_size": len(vocab), "lines": n_lines, "documents": int(len(keys)),
                   "documents_without_vector": n_lines - int(len(keys)), "words": corpus.n_words,
                   "epochs": j.epochs, **stats}
        if labels_path:
            metrics.update(evaluate_labels(model, read_labels(labels_path)))
        if cfg.eval.word_pairs:
            rho, used, skipped = word_similarity(model, read_word_pairs(cfg.eval.word_pairs))
            metrics.update({"spearman": rho, "pairs": used, "pairs_skipped": skipped})
        write_text(out / CONFIG_FILE, OmegaConf.to_yaml(cfg))
        write_json(out / METRICS_FILE, metrics)
        if (out / RESUME_FILE).exists():
            os.unlink(out / RESUME_FILE)
        say(f"metrics {json.dumps(metrics, ensure_ascii=False)}")
        return str(out)


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
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit="w", unit_scale=True, desc="train jose", mininterval=1.0)

    def update(done, total, loss):
        bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        bar.update(int(done) - bar.n)
        if int(done) >= total:
            bar.close()

    return update


def evaluate_labels(model, labels, k=3):
    """k-NN accuracy and spherical k-means NMI of the documents that have a vector and a label."""
    n = model.settings.get("lines")
    if n is not None and len(labels) != n:
        raise NlpkitError(f"the labels file has {len(labels)} lines but the training corpus had {n}: "
                          "labels must be one per corpus line")
    keys = [key for key in model.doc_keys.tolist() if key < len(labels) and labels[key]]
    if len(keys) < 2:
        raise NlpkitError("fewer than 2 documents have both a vector and a label")
    rows = [model._doc_row[key] for key in keys]
    vectors, y = model.docs[rows].numpy(), [labels[key] for key in keys]
    return {"knn_accuracy": knn_accuracy(vectors, y, k=k), "nmi": clustering_nmi(vectors, y),
            "labelled_documents": len(keys)}



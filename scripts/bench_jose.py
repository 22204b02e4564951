"""Benchmark nlpkit's JoSE trainer against gensim Doc2Vec (PV-DBOW with word training, dbow_words=1),
and optionally the original JoSE C program, on the same corpus in the same run.

The corpus is generated deterministically: pseudo-Chinese words (random 2-3 character strings), a
Zipfian general vocabulary shared by all documents, and per-topic vocabularies; each document
(one line, already segmented with spaces) mixes general words with words of its own topic and a
few of other topics. Every trainer sees the same file with the same dimension, window, negative
samples, min_count, subsampling and epochs, and its document vectors are scored by leave-one-out
k-NN (k=3, cosine) against the topics.

words/s = in-vocabulary corpus words x epochs / training seconds (vocabulary building excluded,
reported apart; nlpkit's time includes its document refit after the epochs, and excludes numba's
one-time compilation, reported as jit_s: it is cached on disk after the first run); CPU seconds are
user+sys of the trainer (useful when other work shares the CPU). infer s: embedding the first
--infer-docs documents as new ones with --infer-epochs passes (nlpkit's infer_vectors, one batch;
gensim's infer_vector, one document at a time), one thread each.
Usage: python scripts/bench_jose.py [--docs 10000] [--epochs 10] [--threads 2] [--jose-bin PATH]
The last line printed is one JSON object.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_corpus(path, labels_path, docs=10000, topics=10, general=5000, topic_words=400, mean_len=120,
                topic_rate=0.15, noise_rate=0.05, seed=0):
    rng = np.random.default_rng(seed)
    chars = np.array([chr(c) for c in range(0x4E00, 0x9FA6)])
    n_words = general + topics * topic_words
    words, seen = [], set()
    while len(words) < n_words:  # 2-character words, 30% 3-character ones
        for row, size in zip(rng.choice(chars, size=(n_words, 3)), 2 + (rng.random(n_words) < 0.3)):
            w = "".join(row[:size])
            if w not in seen:
                seen.add(w)
                words.append(w)
    vocab = np.array(words[:n_words])
    zg = 1 / np.arange(1, general + 1) ** 1.05
    zt = 1 / np.arange(1, topic_words + 1) ** 0.9
    lengths = np.clip(rng.lognormal(np.log(mean_len), 0.5, docs).astype(int), 5, 1000)
    topic = rng.integers(topics, size=docs)
    n = int(lengths.sum())
    kind = rng.random(n)
    own = np.repeat(topic, lengths)
    rank = rng.choice(topic_words, size=n, p=zt / zt.sum())
    ids = np.where(kind < topic_rate, general + own * topic_words + rank,
                   np.where(kind < topic_rate + noise_rate, general + rng.integers(topics, size=n) * topic_words + rank,
                            rng.choice(general, size=n, p=zg / zg.sum())))
    ends = np.cumsum(lengths)
    with open(path, "w", encoding="utf-8") as f:
        for s, e in zip(ends - lengths, ends):
            f.write(" ".join(vocab[ids[s:e]]) + "\n")
    with open(labels_path, "w", encoding="utf-8") as f:
        f.write("".join(f"topic{t}\n" for t in topic))
    return n


def cpu_now():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def first_lines(path, n):
    """The first n documents of the corpus, as word lists: the inputs of the infer_vector timing."""
    with open(path, encoding="utf-8") as f:
        return [line.split() for _, line in zip(range(n), f)]


def run_ours(args, path, labels, workdir):
    from nlpkit.tasks.jose.corpus import EncodedCorpus, Vocab, count_words
    from nlpkit.tasks.jose.segment import Splitter
    from nlpkit.tasks.jose.metrics import knn_accuracy
    from nlpkit.tasks.jose.kernel import compile_kernel
    from nlpkit.tasks.jose.train import JoseTrainer, infer_vectors

    t0 = time.perf_counter()
    compile_kernel()  # numba compiles once per install (then loads from its cache): not training time
    jit = time.perf_counter() - t0
    t0 = time.perf_counter()
    splitter = Splitter(segmented=True)
    vocab = Vocab.from_counts(count_words(path, splitter, min_count=args.min_count), args.min_count)
    corpus = EncodedCorpus.encode(path, vocab, splitter, workdir)
    prep = time.perf_counter() - t0
    trainer = JoseTrainer(vocab.counts, corpus.n_docs, dim=args.dim, window=args.window, negative=args.negative,
                          margin=args.margin, alpha=args.alpha, epochs=args.epochs, sample=args.sample,
                          batch_words=args.batch_words, threads=args.threads, seed=args.seed,
                          refit_epochs=args.refit_epochs)
    c0, t0 = cpu_now(), time.perf_counter()
    trainer.train(corpus)
    seconds, cpu = time.perf_counter() - t0, cpu_now() - c0
    vectors = trainer.docs.numpy()
    acc = knn_accuracy(vectors, [labels[k] for k in corpus.keys])
    words = corpus.n_words
    corpus.close()
    docs = [vocab.ids(d) for d in first_lines(path, args.infer_docs)]
    t0 = time.perf_counter()
    infer_vectors(trainer.words, docs, vocab.counts, negative=args.negative, margin=args.margin, alpha=args.alpha,
                  epochs=args.infer_epochs, sample=args.sample, seed=args.seed)
    return {"words": words, "vocab": len(vocab), "prep_s": prep, "jit_s": jit, "train_s": seconds, "cpu_s": cpu,
            "knn": acc, "infer_s": time.perf_counter() - t0}


def run_gensim(args, path, labels):
    from gensim.models.doc2vec import Doc2Vec

    from nlpkit.tasks.jose.metrics import knn_accuracy

    t0 = time.perf_counter()
    model = Doc2Vec(vector_size=args.dim, window=args.window, negative=args.negative, hs=0, min_count=args.min_count,
                    sample=args.sample, dm=0, dbow_words=1, workers=args.threads, epochs=args.epochs, seed=args.seed)
    model.build_vocab(corpus_file=path)
    prep = time.perf_counter() - t0
    c0, t0 = cpu_now(), time.perf_counter()
    model.train(corpus_file=path, total_examples=model.corpus_count, total_words=model.corpus_total_words,
                epochs=args.epochs)
    seconds, cpu = time.perf_counter() - t0, cpu_now() - c0
    vectors = np.stack([model.dv[i] for i in range(len(labels))])  # corpus_file mode: tag = line number
    docs = first_lines(path, args.infer_docs)
    t0 = time.perf_counter()
    for words in docs:
        model.infer_vector(words, epochs=args.infer_epochs)
    return {"prep_s": prep, "train_s": seconds, "cpu_s": cpu, "knn": knn_accuracy(vectors, labels),
            "infer_s": time.perf_counter() - t0}


def run_jose_c(args, path, labels, workdir):
    from nlpkit.tasks.jose.metrics import knn_accuracy

    docs_out = os.path.join(workdir, "jose_c_docs.txt")
    cmd = [args.jose_bin, "-train", path, "-word-output", os.path.join(workdir, "jose_c_words.txt"),
           "-doc-output", docs_out, "-size", str(args.dim), "-window", str(args.window), "-sample", str(args.sample),
           "-negative", str(args.negative), "-margin", str(args.margin), "-alpha", str(args.alpha),
           "-iter", str(args.epochs), "-min-count", str(args.min_count), "-threads", str(args.threads)]
    r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    vectors = {}
    with open(docs_out, encoding="utf-8") as f:
        next(f)
        for line in f:
            parts = line.split()
            vectors[int(parts[0])] = np.array(parts[1:], dtype=np.float32)
    keys = sorted(k for k in vectors if k < len(labels))
    acc = knn_accuracy(np.stack([vectors[k] for k in keys]), [labels[k] for k in keys])
    return {"train_s": seconds, "cpu_s": (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime), "knn": acc,
            "note": "time includes its vocabulary pass"}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--docs", type=int, default=10000)
    p.add_argument("--topics", type=int, default=10)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--negative", type=int, default=2)
    p.add_argument("--margin", type=float, default=0.15)
    p.add_argument("--alpha", type=float, default=0.04)
    p.add_argument("--sample", type=float, default=1e-3)
    p.add_argument("--min-count", type=int, default=5)
    p.add_argument("--threads", type=int, default=2, help="threads / workers for every trainer")
    p.add_argument("--batch-words", type=int, default=10000)
    p.add_argument("--refit-epochs", type=int, default=5, help="nlpkit's document refit passes (0: off)")
    p.add_argument("--infer-docs", type=int, default=2000, help="documents given to infer_vector (one thread)")
    p.add_argument("--infer-epochs", type=int, default=50, help="passes of infer_vector, for both")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--jose-bin", help="path to the original JoSE C program (built by you), to run it too")
    p.add_argument("--skip-gensim", action="store_true")
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_jose_") as tmp:
        path, labels_path = os.path.join(tmp, "corpus.txt"), os.path.join(tmp, "labels.txt")
        t0 = time.perf_counter()
        n = make_corpus(path, labels_path, docs=args.docs, topics=args.topics, seed=0)
        print(f"corpus: {args.docs} documents, {n} words, {args.topics} topics ({time.perf_counter() - t0:.1f}s to "
              f"generate); {args.epochs} epochs, dim {args.dim}, window {args.window}, negative {args.negative}, "
              f"{args.threads} threads", file=sys.stderr)
        labels = Path(labels_path).read_text(encoding="utf-8").split()
        results = {"nlpkit_jose": run_ours(args, path, labels, os.path.join(tmp, "enc"))}
        words = results["nlpkit_jose"]["words"] * args.epochs
        if not args.skip_gensim:
            results["gensim_doc2vec_dbow"] = run_gensim(args, path, labels)
        if args.jose_bin:
            results["jose_c"] = run_jose_c(args, path, labels, tmp)

    print(f"{'trainer':22s} {'words/s':>10s} {'train s':>8s} {'CPU s':>7s} {'vocab s':>8s} {'kNN acc':>8s} "
          f"{'infer s':>8s}")
    for name, r in results.items():
        r["words_per_s"] = words / r["train_s"]
        print(f"{name:22s} {r['words_per_s']:10.0f} {r['train_s']:8.1f} {r['cpu_s']:7.1f} "
              f"{r.get('prep_s', float('nan')):8.1f} {r['knn']:8.4f} {r.get('infer_s', float('nan')):8.1f}")
    ours = results["nlpkit_jose"]
    summary = {"words_per_s": round(ours["words_per_s"]), "knn_accuracy": round(ours["knn"], 4),
               "cpu_s": round(ours["cpu_s"], 2), "jit_s": round(ours["jit_s"], 2), "corpus_words": ours["words"],
               "docs": args.docs, "refit_epochs": args.refit_epochs,
               "infer_docs_per_s": round(args.infer_docs / ours["infer_s"]), "infer_epochs": args.infer_epochs,
               "epochs": args.epochs, "threads": args.threads, "cpu_count": os.cpu_count(),
               "load_avg_1min": round(os.getloadavg()[0], 2)}
    for key, name in (("gensim", "gensim_doc2vec_dbow"), ("jose_c", "jose_c")):
        if name in results:
            r = results[name]
            summary[f"{key}_words_per_s"] = round(r["words_per_s"])
            summary[f"{key}_knn_accuracy"] = round(r["knn"], 4)
            summary[f"{key}_cpu_s"] = round(r["cpu_s"], 2)
            summary[f"speedup_vs_{key}"] = round(ours["words_per_s"] / r["words_per_s"], 3)
            summary[f"cpu_ratio_vs_{key}"] = round(r["cpu_s"] / ours["cpu_s"], 3)
            if "infer_s" in r:
                summary[f"infer_speedup_vs_{key}"] = round(r["infer_s"] / ours["infer_s"], 3)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

"""JoSE on real documents: nlpkit's trainer vs gensim Doc2Vec (PV-DBOW with word training) and, when
given, the original JoSE C program, through scripts/bench_jose.py's runners (the same settings, timing
and leave-one-out k-NN scorer as that benchmark; only the corpus differs: real reviews, segmented
once by jieba, labelled by sentiment)."""
import argparse
import sys
from pathlib import Path

from .common import setup

SCRIPTS = Path(__file__).resolve().parent.parent


def run(spec):
    setup(spec)
    sys.path.insert(0, str(SCRIPTS))
    import bench_jose

    args = argparse.Namespace(
        epochs=spec["epochs"], dim=100, window=5, negative=2, margin=0.15, alpha=0.04, sample=1e-3,
        min_count=spec.get("min_count", 5), threads=spec["threads"], batch_words=10000, refit_epochs=5,
        infer_docs=spec.get("infer_docs", 200), infer_epochs=50, seed=1, jose_bin=spec.get("jose_bin"))
    labels = Path(spec["labels"]).read_text(encoding="utf-8").split()
    results = {"nlpkit_jose": bench_jose.run_ours(args, spec["corpus"], labels, spec["workdir"] + "/jose_enc")}
    results["gensim_doc2vec_dbow"] = bench_jose.run_gensim(args, spec["corpus"], labels)
    if args.jose_bin:
        results["jose_c"] = bench_jose.run_jose_c(args, spec["corpus"], labels, spec["workdir"])
    words = results["nlpkit_jose"]["words"] * args.epochs  # in-vocabulary words x epochs, for every trainer
    for r in results.values():
        r["words_per_s"] = words / r["train_s"]
    return {"results": results, "settings": {k: v for k, v in vars(args).items() if k != "jose_bin"}}

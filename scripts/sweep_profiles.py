"""The dev sweep behind nlpkit's training profiles (issue 24): which learning rate, schedule and number of
epochs a task should get for a given kind of model, measured on REAL data's dev split, never its test.

    python scripts/real_data.py && python scripts/real_models.py     # once: data/real/, the checkpoints
    python scripts/sweep_profiles.py [--only albert-tiny:classify,...] [--threads 1] [--workdir DIR]
                                     [--out docs/bench/profile_sweep.json]

Models (each a profile class of nlpkit.profiles): albert-tiny-chinese (small: pretrained, hidden 312),
m3e-small (small: pretrained, hidden 512, no MLM head) and an nlpkit-pretrained tiny model (tiny:
`nlpkit train task=mlm` on People's Daily + DuIE text, 3,000 steps -- the path of issue 24's report).
Tasks and their sweep data (the first N records of data/real's files, which are in hash order):
classify on ChnSentiCorp hotel reviews (2,000 train / 500 dev), ner on People's Daily (1,000 / 300
paragraphs), triples on DuIE (1,500 / 300). Every run keeps its best dev epoch, so one run of E
epochs also shows the dev score after each epoch (under that run's schedule): `curve`.
Grid: each learning rate of the model class with linear decay after a 10% warmup, then the best of
them at a constant rate (no warmup). Prints one table; writes every run's dev curve to --out.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))
from bench_peers.common import env_threads  # noqa: E402
from bench_real import first_lines, first_paragraphs, git_commit, versions  # noqa: E402

ROOT = SCRIPTS.parent
DATA = ROOT / "data" / "real"
CACHE = Path(os.environ.get("NLPKIT_CACHE", Path.home() / ".cache" / "nlpkit"))
TASKS = {  # task: (subset function, train file, dev file, train records, dev records, batch, epochs, metric, keys)
    "classify": (first_lines, DATA / "chnsenticorp/train.tsv", DATA / "chnsenticorp/dev.tsv", 2000, 500, 32, 3,
                 "accuracy", {}),
    "ner": (first_paragraphs, DATA / "peoples_daily/ner/train.txt", DATA / "peoples_daily/ner/dev.txt", 1000, 300,
            16, 3, "f1", {"max_length": 256, "crf_lr_multiplier": 100, "trainer.max_grad_norm": 1.0}),
    "triples": (first_lines, DATA / "duie/train.jsonl", DATA / "duie/dev.jsonl", 1500, 300, 16, 4, "f1",
                {"schema": DATA / "duie/schema.jsonl", "max_length": 128, "trainer.ema": 0.99,
                 "trainer.group_by_length": False}),
}
RATES = {"small": (5e-5, 1e-4, 2e-4, 5e-4), "tiny": (2.5e-4, 5e-4, 1e-3, 2e-3)}
MODELS = {  # name: (profile class, folder or None to pretrain, tasks)
    "albert-tiny": ("small", CACHE / "models/albert-tiny-chinese", ("classify", "ner", "triples", "triples/gplinker")),
    "m3e-small": ("small", CACHE / "models/m3e-small", ("classify",)),
    "nlpkit-mlm-tiny": ("tiny", None, ("triples", "ner")),
}


def nlpkit(args, threads, log):
    with open(log, "a", encoding="utf-8") as f:
        f.write("$ nlpkit " + " ".join(map(str, args)) + "\n")
        f.flush()
        proc = subprocess.run([sys.executable, "-m", "nlpkit", *map(str, args)], stdout=f, stderr=f,
                              env=env_threads(threads))
    if proc.returncode:
        raise SystemExit(f"nlpkit {' '.join(map(str, args[:3]))} ... failed; see {log}")


def pretrained_tiny(work, threads, log):
    """`nlpkit train task=mlm` on People's Daily + DuIE text, 3,000 steps: issue 24's nlpkit-pretrained model."""
    out = work / "mlm_tiny"
    if (out / "metrics.json").exists():
        return out
    corpus = work / "mlm_corpus.txt"
    duie = [json.loads(line)["text"] for line in open(DATA / "duie/train.jsonl", encoding="utf-8")]
    corpus.write_text((DATA / "peoples_daily/text.txt").read_text(encoding="utf-8") + "\n".join(duie) + "\n",
                      encoding="utf-8")
    nlpkit(["train", "task=mlm", f"data.train={corpus}", f"output_dir={out}", "overwrite=true",
            "trainer.max_steps=3000", "trainer.progress=false"], threads, log)
    return out


def dev_curve(run):
    """[(epoch, metrics)] of the run's per-epoch dev evaluations (log.jsonl)."""
    rows = [json.loads(line) for line in open(run / "log.jsonl", encoding="utf-8")]
    return [(r["epoch"], r["eval"]) for r in rows if "eval" in r]


def one(spec, model, keys, work, threads, log):
    """One run of `spec`: a task, or TASK/HEAD for a head other than the task's default."""
    task, _, head = spec.partition("/")
    subset, train, dev, n_train, n_dev, batch, epochs, metric, extra = TASKS[task]
    extra = {**extra, **({"head": head} if head else {})}
    folder = work / "data" / task
    folder.mkdir(parents=True, exist_ok=True)
    tr = subset(train, n_train, folder / f"train{train.suffix}")
    dv = subset(dev, n_dev, folder / f"dev{dev.suffix}")
    name = "_".join(f"{k.split('.')[-1]}{v}" for k, v in keys.items())
    run = work / "runs" / f"{spec.replace('/', '_')}_{Path(str(model)).name}_{name}"
    settings = {"trainer.epochs": epochs, "trainer.batch_size": batch, **extra, **keys}
    t0 = time.perf_counter()
    nlpkit(["train", f"task={task}", f"model={model}", f"data.train={tr}", f"data.dev={dv}", f"output_dir={run}",
            "overwrite=true", "trainer.progress=false", *[f"{k}={v}" for k, v in settings.items()]], threads, log)
    curve = [(e, m.get(metric)) for e, m in dev_curve(run)]
    best = max(curve, key=lambda c: c[1])
    return {"keys": keys, "curve": curve, "best": best[1], "best_epoch": best[0],
            "seconds": round(time.perf_counter() - t0, 1), "load_avg": round(os.getloadavg()[0], 2)}


def sweep(task, model, klass, work, threads, log, rates=None):
    rows = [one(task, model, {"trainer.lr": lr, "trainer.schedule": "linear", "trainer.warmup": 0.1}, work, threads,
                log) for lr in rates or RATES[klass]]
    top = max(rows, key=lambda r: r["best"])
    rows.append(one(task, model, {"trainer.lr": top["keys"]["trainer.lr"], "trainer.schedule": "constant",
                                  "trainer.warmup": 0.0}, work, threads, log))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="model:task pairs, comma-separated (default: all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workdir")
    ap.add_argument("--rates", help="comma-separated learning rates instead of the model class's grid")
    ap.add_argument("--out", default=str(ROOT / "docs/bench/profile_sweep.json"))
    args = ap.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="sweep_profiles_"))
    work.mkdir(parents=True, exist_ok=True)
    log = work / "sweep.log"
    wanted = set(args.only.split(",")) if args.only else None
    out = Path(args.out)
    results = json.loads(out.read_text(encoding="utf-8"))["results"] if out.exists() else {}
    print(f"work folder {work}, log {log}", file=sys.stderr)
    for name, (klass, folder, tasks) in MODELS.items():
        for task in tasks:
            if wanted and f"{name}:{task}" not in wanted:
                continue
            model = folder or pretrained_tiny(work, args.threads, log)
            rates = [float(r) for r in args.rates.split(",")] if args.rates else None
            rows = sweep(task, model, klass, work, args.threads, log, rates)
            results[f"{name}:{task}"] = {"class": klass, "runs": rows}
            for r in rows:
                print(f"{name:16} {task:9} {json.dumps(r['keys'])}: best {r['best']:.4f} at epoch {r['best_epoch']}, "
                      f"curve {[round(v, 4) for _, v in r['curve']]}, {r['seconds']:.0f}s", flush=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps({"bench": "profile_sweep", "commit": git_commit(), "threads": args.threads,
                                       "versions": versions(), "tasks": {t: {"train": v[3], "dev": v[4], "batch": v[5],
                                                                              "epochs": v[6], "metric": v[7]}
                                                                          for t, v in TASKS.items()},
                                       "results": results}, indent=1, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

"""Does pretraining the tiny model with `mlm` help the tasks fine-tuned from it? (issue 17)

    python scripts/real_data.py          # once: writes data/real/
    python scripts/bench_mlm.py [--steps N] [--corpus-lines N] [--train N] [--test N] [--epochs N]
                                [--only triples,ner] [--threads N] [--workdir DIR]

1. Pretrain: `nlpkit train task=mlm model=tiny` (whole-word masking, max_length 128, batch 32) for
   --steps optimizer steps on the People's Daily paragraphs (data/real/peoples_daily/text.txt, minus
   every paragraph of the NER dev and test files, so the fine-tuned tagger is scored on text the
   pretraining never read) plus the texts of DuIE's train.jsonl; dev: 300 of those paragraphs held
   out, scored every --steps/8 steps (the pretraining curve: masked-token accuracy by step).
2. Fine-tune `triples` on DuIE and `ner` on People's Daily NER (the first --train records, scored on
   the first --test of the test file) twice with one recipe -- the tiny profile's keys written out
   (epochs, batch, lr, warmup, schedule, EMA, max_length...), so only the starting point differs:
   model=tiny (random weights, vocabulary built from the fine-tuning texts) vs model=<the pretrained
   run> (its weights and vocabulary). F1 is what `nlpkit evaluate` prints on the test subset.

Every run is a fresh `python -m nlpkit` child with --threads torch / OpenMP threads (default 1),
one at a time (scripts/bench_peers/nlpkit_side.py launches them). Default budget: 1,200 steps,
2,000 / 300 records, 1 epoch -- measured 20 minutes (1,203 s) with one thread on a 2-core machine
loaded 2-3x by other work; raise --steps / --train / --epochs on a quiet one (results and the run's
load: tasks/mlm/README.md). Prints a table, then one JSON object with every figure.
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))

from bench_peers import nlpkit_side  # noqa: E402
from bench_peers.common import env_threads  # noqa: E402
from bench_real import first_lines, first_paragraphs  # noqa: E402

HELD_OUT = 300
#: the fine-tuning recipe of both starting points: each task's tiny profile, with the keys its
#: pretrained profile would change (model=DIR) written out, so the two runs differ only in the model
RECIPES = {
    "triples": {"max_length": 128, "trainer.batch_size": 8, "trainer.lr": 1.5e-3, "trainer.warmup": 0.1,
                "trainer.schedule": "linear", "trainer.ema": 0.99, "trainer.group_by_length": "false",
                "trainer.max_grad_norm": 1.0},
    "ner": {"max_length": 256, "crf_lr_multiplier": 100.0, "trainer.batch_size": 16, "trainer.lr": 2e-3,
            "trainer.warmup": 0.1, "trainer.schedule": "linear", "trainer.max_grad_norm": 1.0, "trainer.ema": 0.0},
}


def say(message):
    print(f"[bench_mlm] {message}", file=sys.stderr, flush=True)


def bio_texts(path):
    """The paragraphs of a char-BIO file as plain text."""
    texts, chars = [], []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            chars.append(line.split(" ", 1)[0])
        elif chars:
            texts.append("".join(chars))
            chars = []
    return texts + (["".join(chars)] if chars else [])


def build_corpus(data, work, corpus_lines):
    """(corpus file, held-out file, counts): People's Daily without the NER dev/test paragraphs, then
    DuIE's training texts; every 1 in N paragraphs of People's Daily goes to the held-out file."""
    scored = set(bio_texts(data / "peoples_daily" / "ner" / "test.txt")) | set(
        bio_texts(data / "peoples_daily" / "ner" / "dev.txt"))
    paragraphs = [p for p in (data / "peoples_daily" / "text.txt").read_text(encoding="utf-8").splitlines()
                  if p.strip() and p.strip() not in scored]
    step = max(len(paragraphs) // HELD_OUT, 2)
    held = paragraphs[::step][:HELD_OUT]
    held_set = set(held)
    train = [p for p in paragraphs if p not in held_set]
    with open(data / "duie" / "train.jsonl", encoding="utf-8") as f:
        train += [json.loads(line)["text"] for line in f if line.strip()]
    if corpus_lines:
        train = train[:corpus_lines]
    corpus, dev = work / "corpus.txt", work / "held_out.txt"
    corpus.write_text("\n".join(train) + "\n", encoding="utf-8")
    dev.write_text("\n".join(held) + "\n", encoding="utf-8")
    counts = {"corpus_lines": len(train), "corpus_chars": sum(map(len, train)), "held_out_lines": len(held),
              "excluded_ner_paragraphs": len(scored)}
    return corpus, dev, counts


def pretrain(corpus, dev, work, args, log):
    every = max(args.steps // 8, 1)
    settings = {"data.dev": str(dev), "max_length": 128, "trainer.batch_size": 32, "trainer.max_steps": args.steps,
                "trainer.epochs": 1000, "trainer.lr": 1e-3, "trainer.warmup": 0.05, "trainer.eval_every_steps": every,
                "trainer.eval_batch_size": 64}
    out = work / "runs" / "mlm"
    result = nlpkit_side.train("mlm", corpus, out, settings, args.threads, log)
    history = result["metrics"]["history"]
    curve = [{"step": h["step"], "masked_accuracy": round(h["metrics"]["masked_accuracy"], 4),
              "perplexity": round(h["metrics"]["perplexity"], 2)} for h in history]
    return out, {"settings": settings, "train_s": result["train_s"], "wall_s": round(result["wall_s"], 1),
                 "curve": curve}


def evaluate(run, data, threads, log):
    cmd = [*nlpkit_side.NLPKIT, "evaluate", f"model={run}", f"data={data}", "device=cpu"]
    with open(log, "a", encoding="utf-8") as f:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=f, text=True, env=env_threads(threads))
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}), see {log}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fine_tune(task, start, files, args, work, log):
    train, test = files
    settings = {**RECIPES[task], "trainer.epochs": args.epochs, "trainer.threads": args.threads}
    if task == "triples":
        settings["schema"] = str(Path(args.data) / "duie" / "schema.jsonl")
    if start != "tiny":
        settings["model"] = start  # after nlpkit_side's model=tiny: the last model= wins
    name = f"{task}_{'scratch' if start == 'tiny' else 'pretrained'}"
    t0 = time.perf_counter()
    result = nlpkit_side.train(task, train, work / "runs" / name, settings, args.threads, log)
    metrics = evaluate(work / "runs" / name, test, args.threads, log)
    return {"f1": metrics.get("f1"), "precision": metrics.get("precision"), "recall": metrics.get("recall"),
            "train_s": result["train_s"], "wall_s": round(time.perf_counter() - t0, 1)}


def task_files(task, data, work, args):
    folder = work / task
    folder.mkdir(parents=True, exist_ok=True)
    if task == "triples":
        d = data / "duie"
        return (first_lines(d / "train.jsonl", args.train, folder / "train.jsonl"),
                first_lines(d / "test.jsonl", args.test, folder / "test.jsonl"))
    d = data / "peoples_daily" / "ner"
    return (first_paragraphs(d / "train.txt", args.train, folder / "train.txt"),
            first_paragraphs(d / "test.txt", args.test, folder / "test.txt"))


def table(pre, rows):
    lines = ["pretraining (masked-token accuracy / perplexity on held-out paragraphs, by step):",
             "  " + "  ".join(f"{c['step']}: {c['masked_accuracy']:.3f} / {c['perplexity']:.1f}" for c in pre["curve"]),
             "", f"{'task':8s} {'from scratch F1':>16s} {'pretrained F1':>14s} {'delta':>7s}"]
    for task, r in rows.items():
        a, b = r["scratch"].get("f1"), r["pretrained"].get("f1")
        fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
        delta = "-" if a is None or b is None else f"{b - a:+.4f}"
        lines.append(f"{task:8s} {fmt(a):>16s} {fmt(b):>14s} {delta:>7s}")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description="pretrain the tiny model with mlm, then fine-tune triples and ner "
                                             "from scratch vs from it")
    ap.add_argument("--steps", type=int, default=1200, help="pretraining optimizer steps (batch 32 x 128 tokens)")
    ap.add_argument("--corpus-lines", type=int, help="use only the first N corpus paragraphs (default all)")
    ap.add_argument("--train", type=int, default=2000, help="fine-tuning records per task (0: all)")
    ap.add_argument("--test", type=int, default=300, help="test records per task (0: all)")
    ap.add_argument("--epochs", type=int, default=1, help="fine-tuning epochs")
    ap.add_argument("--only", default="triples,ner", help="fine-tuning tasks, comma-separated")
    ap.add_argument("--threads", type=int, default=1, help="torch / OpenMP threads of every run")
    ap.add_argument("--data", default=str(SCRIPTS.parent / "data" / "real"), help="real_data.py's output folder")
    ap.add_argument("--workdir", help="where runs and logs go (default: a new temporary folder)")
    args = ap.parse_args(argv)
    args.train, args.test = args.train or None, args.test or None
    data = Path(args.data)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_mlm_"))
    work.mkdir(parents=True, exist_ok=True)
    log = work / "bench_mlm.log"
    say(f"work folder {work}, log {log}")
    started = time.perf_counter()
    corpus, dev, counts = build_corpus(data, work, args.corpus_lines)
    say(f"corpus: {json.dumps(counts)}; pretraining {args.steps} steps ...")
    run, pre = pretrain(corpus, dev, work, args, log)
    say(f"pretrained in {pre['wall_s']} s: {pre['curve'][-1]}")
    rows = {}
    for task in [t for t in args.only.split(",") if t]:
        files = task_files(task, data, work, args)
        rows[task] = {}
        for start in ("tiny", str(run)):
            side = "scratch" if start == "tiny" else "pretrained"
            say(f"{task}: fine-tuning from {side} ...")
            rows[task][side] = fine_tune(task, start, files, args, work, log)
            say(f"{task}: {side}: {rows[task][side]}")
    print(table(pre, rows))
    settings = {"steps": args.steps, "train": args.train, "test": args.test, "epochs": args.epochs,
                "threads": args.threads, "recipes": RECIPES, **counts}
    print(json.dumps({"settings": settings, "pretraining": pre, "fine_tuning": rows,
                      "total_s": round(time.perf_counter() - started, 1)}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

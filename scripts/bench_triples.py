"""Triple extraction throughput: the batched pipeline (sentences padded together, every subject of
every sentence through the object head in one pass) vs one sentence at a time, on the same trained
model and sentences, in the same run.

Sentences are the bundled dev texts, repeated to --sentences. Both ways must return the same triples
(checked). sentences/s is wall clock; the ratio is also given in CPU seconds of this process, the
steadier figure when other work shares the machine. Without --model a tiny model is first trained on
the bundled sample (about a minute on 2 CPU cores). The last line is one JSON object.

    python scripts/bench_triples.py                         # train the tiny model, then measure
    python scripts/bench_triples.py --model runs/triples    # any finished triples run (e.g. from bert-base)
    python scripts/bench_triples.py --batch-sizes 8,32,64 --sentences 512
"""
import argparse
import json
import platform
import sys
import tempfile
import time

import torch

from nlpkit import pipeline
from nlpkit.cli import main as nlpkit_main
from nlpkit.registry import get_task_class


def timed(fn, repeat):
    """Best of `repeat` runs (wall and CPU seconds each take their minimum): the least disturbed figure."""
    walls, cpus = [], []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return out, min(walls), min(cpus)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="a finished triples run directory (default: train the tiny model first)")
    ap.add_argument("--sentences", type=int, default=256)
    ap.add_argument("--batch-sizes", default="32")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is kept")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    model_dir = args.model
    if not model_dir:
        model_dir = tempfile.mkdtemp(prefix="bench_triples_") + "/run"
        print(f"training the tiny model on the bundled sample into {model_dir} ...", file=sys.stderr)
        if nlpkit_main(["train", "task=triples", f"output_dir={model_dir}", "trainer.progress=false"]) != 0:
            return 1
    ie = pipeline("triples", model=model_dir)
    dev = get_task_class("triples").sample_path("dev")
    texts = [json.loads(line)["text"] for line in open(dev, encoding="utf-8") if line.strip()]
    texts = (texts * (args.sentences // len(texts) + 1))[: args.sentences]

    ie(texts[:8])  # warm up
    single, single_s, single_cpu = timed(lambda: [ie(t) for t in texts], args.repeat)
    n_triples = sum(len(x) for x in single)
    result = {
        "bench": "triples", "model": model_dir, "sentences": len(texts), "triples": n_triples,
        "threads": torch.get_num_threads(), "repeat": args.repeat, "python": platform.python_version(), "torch": torch.__version__,
        "one_by_one_sent_per_s": round(len(texts) / single_s, 1), "batched": {},
    }
    print(f"one at a time: {len(texts) / single_s:8.1f} sentences/s  ({single_s:.2f} s wall, {single_cpu:.2f} s cpu, "
          f"{n_triples} triples)")
    for bs in [int(b) for b in args.batch_sizes.split(",")]:
        batched, batch_s, batch_cpu = timed(lambda: ie(texts, batch_size=bs), args.repeat)
        if batched != single:
            raise SystemExit(f"batch_size={bs}: batched results differ from one-by-one results")
        speedup, cpu_speedup = single_s / batch_s, single_cpu / max(batch_cpu, 1e-9)
        print(f"batch {bs:4d}:     {len(texts) / batch_s:8.1f} sentences/s  ({batch_s:.2f} s wall, {batch_cpu:.2f} s cpu)"
              f"  speedup x{speedup:.2f} wall, x{cpu_speedup:.2f} cpu")
        result["batched"][str(bs)] = {"sent_per_s": round(len(texts) / batch_s, 1), "speedup": round(speedup, 2),
                                      "cpu_speedup": round(cpu_speedup, 2)}
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

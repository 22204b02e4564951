"""Batch prediction throughput on CPU from a real checkpoint (issue 26): texts/s and tokens/s at batch 1
and 32, and the accuracy / F1 of each system on the real test split.

    python scripts/real_models.py && python scripts/real_data.py    # once: the checkpoint and data/real/
    python scripts/bench_infer.py [--only classify,ner] [--threads 1] [--limit 500] [--steps 300]
                                  [--run-classify DIR] [--run-ner DIR] [--workdir DIR] [--json PATH]

Tasks (data -- score): classify -- ChnSentiCorp hotel reviews (data/real/chnsenticorp) -- accuracy;
ner -- People's Daily 1998-01 char BIO (data/real/peoples_daily/ner) -- seqeval strict entity F1.

The model: an nlpkit run fine-tuned from albert-tiny-chinese ($NLPKIT_CACHE/models, real_models.py)
for --steps steps (`nlpkit train model=<that folder> ...`), or the run given with --run-TASK. ner uses
head=softmax: the one head transformers' token-classification pipeline has (argmax per token).

Systems, all on the same run and the same test texts:
  nlpkit       pipeline(task, model=RUN, device="cpu")(texts, batch_size=B)         (torch fp32)
  sorted       the same, fed the texts sorted by length (results put back in order): what sorting
               inside nlpkit's predict would gain (it batches in input order today)
  transformers transformers.pipeline("text-classification" | "token-classification") on a
               transformers model holding the run's weights (AlbertForSequenceClassification with its
               pooler made the identity, so that [CLS] feeds the classifier as in nlpkit; ...ForToken-
               Classification with nlpkit's emission layer); its logits are checked against nlpkit's
               (`same_model_max_logit_diff`) and its tokenizer's ids against nlpkit's on the first 200
               texts (bench_peers.common.check_inputs)
  onnx fp32 / onnx int8   pipeline(task, model=EXPORT) of `nlpkit export RUN` (--quantize int8),
               onnxruntime with as many threads as torch

Equal inputs: the test texts are the first --limit of the test split whose encoding fits max_length,
so every system reads the same tokens (nlpkit would read a longer text in windows, transformers would
cut it); how many were passed over is recorded. tokens/s counts those tokens ([CLS]/[SEP] included,
padding not) per second; texts/s the texts. Each figure is one timed pass after a warm-up batch, in
this one process, with --threads torch / onnxruntime threads (OMP_NUM_THREADS too). The JSON (last
line of stdout, and --json) records versions, nlpkit's commit, threads and the 1-minute load average
before and after every measurement: the machine may be shared.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
ROOT = SCRIPTS.parent
sys.path.insert(0, str(SCRIPTS))

from bench_peers.common import Clock, check_inputs, env_threads, read_bio, read_tsv  # noqa: E402
from bench_peers.scoring import accuracy_macro_f1, ner_seqeval  # noqa: E402
from bench_real import MODELS, first_lines, first_paragraphs, git_commit, versions  # noqa: E402

LIBRARIES = ("torch", "transformers", "tokenizers", "onnxruntime", "onnx", "onnxscript", "numpy")
BATCHES = (1, 32)
TASKS = {
    "classify": {"data": "data/real/chnsenticorp", "files": ("train.tsv", "dev.tsv", "test.tsv"), "keys": {},
                 "read": read_tsv, "subset": first_lines, "train": None, "dev": 300, "score": "accuracy"},
    "ner": {"data": "data/real/peoples_daily/ner", "files": ("train.txt", "dev.txt", "test.txt"),
            "keys": {"head": "softmax"}, "read": read_bio, "subset": first_paragraphs, "train": 5000, "dev": 300,
            "score": "f1"},
}
MAX_LENGTH = 256
CHECK_TEXTS = 200


def say(message):
    print(f"[bench_infer] {message}", file=sys.stderr, flush=True)


def load():
    return round(os.getloadavg()[0], 2)


# ---- the run and its exports ------------------------------------------------------------------------
def fine_tune(task, spec, out, steps, threads, workdir):
    """An nlpkit run from albert-tiny-chinese: --steps optimizer steps on (the first paragraphs of) the
    training split; a dev subset picks the best checkpoint and checks the exports."""
    folder = ROOT / spec["data"]
    train, dev, _ = (folder / f for f in spec["files"])
    train = spec["subset"](train, spec["train"], workdir / f"{task}_train{train.suffix}")
    dev = spec["subset"](dev, spec["dev"], workdir / f"{task}_dev{dev.suffix}")
    cmd = [sys.executable, "-m", "nlpkit", "train", f"task={task}", f"model={MODELS / 'albert-tiny-chinese'}",
           f"data.train={train}", f"data.dev={dev}", f"output_dir={out}", "overwrite=true", "trainer.progress=false",
           f"trainer.max_steps={steps}", f"max_length={MAX_LENGTH}", f"trainer.threads={threads}",
           *[f"{k}={v}" for k, v in spec["keys"].items()]]
    say(f"{task}: fine-tuning albert-tiny-chinese for {steps} steps -> {out}")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env_threads(threads), capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"bench_infer: {task} training failed:\n{proc.stderr[-3000:]}")
    return {"train_wall_s": round(time.perf_counter() - t0, 1), "dev": str(dev)}


def export(run, out, quantize, dev):
    """The export's check figures. An export that fails its check is recorded with the check's line and
    made again with the agreement rule off, so that its speed and score are still measured (its row
    says so)."""
    from nlpkit import export as ex
    from nlpkit.errors import NlpkitError

    try:
        return ex.export_run(run, out, quantize, overwrite=True, data=dev, limit=200, say=say)["parity"]
    except NlpkitError as e:
        say(f"{e} -- exported again with the agreement rule off, to measure it")
        rule, ex.AGREEMENT = ex.AGREEMENT, 0.0
        try:
            return {**ex.export_run(run, out, quantize, overwrite=True, data=dev, limit=200, say=say)["parity"],
                    "check_failed": str(e)}
        finally:
            ex.AGREEMENT = rule


# ---- test texts ---------------------------------------------------------------------------------------
def test_texts(task, spec, tokenizer, limit):
    """(texts, golds, tokens per text, passed over): the first `limit` test texts that fit MAX_LENGTH."""
    rows = spec["read"](ROOT / spec["data"] / spec["files"][2])
    texts, golds, tokens, over = [], [], [], 0
    for text, gold in rows:
        n = len(tokenizer.encode(text).input_ids)
        if n > MAX_LENGTH:
            over += 1
            continue
        texts.append(text)
        golds.append(gold)
        tokens.append(n)
        if len(texts) >= limit:
            break
    return texts, golds, tokens, over


def score(task, texts, golds, labels_or_spans):
    if task == "classify":
        return accuracy_macro_f1(golds, labels_or_spans)["accuracy"]
    return ner_seqeval(texts, golds, labels_or_spans)["f1"]


# ---- the systems --------------------------------------------------------------------------------------
def nlpkit_system(task, model_dir, sort=False):
    from nlpkit import pipeline

    pipe = pipeline(task, model=str(model_dir), device="cpu")

    def run(texts, batch):
        order = sorted(range(len(texts)), key=lambda i: len(texts[i])) if sort else range(len(texts))
        out = pipe([texts[i] for i in order], batch_size=batch)
        placed = [None] * len(texts)
        for i, o in zip(order, out):
            placed[i] = o
        return [o["label"] for o in placed] if task == "classify" else [
            [(e["start"], e["end"], e["type"]) for e in o] for o in placed]
    return run, pipe


def hf_model(task, run_dir, labels):
    """A transformers model holding the run's weights, computing what nlpkit's model computes."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoModelForTokenClassification

    config = AutoConfig.from_pretrained(run_dir, num_labels=len(labels), id2label=dict(enumerate(labels)),
                                        label2id={k: i for i, k in enumerate(labels)})
    auto = AutoModelForSequenceClassification if task == "classify" else AutoModelForTokenClassification
    model = auto.from_config(config)
    weights = load_file(str(Path(run_dir) / "model.safetensors"))
    tensors = {k.replace("emissions.", "classifier."): v for k, v in weights.items()}  # ner's emission layer
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if unexpected or any("pooler" not in k and "position_ids" not in k for k in missing):
        sys.exit(f"bench_infer: the run's weights do not fit {type(model).__name__}: {missing[:3]} {unexpected[:3]}")
    base = model.base_model
    if hasattr(base, "pooler"):  # nlpkit classifies the [CLS] state itself, with no pooler
        base.pooler = torch.nn.Identity()
        if hasattr(base, "pooler_activation"):
            base.pooler_activation = torch.nn.Identity()
    return model.eval()


def hf_system(task, run_dir, labels, nlpkit_pipe, texts):
    import torch
    from transformers import AutoTokenizer
    from transformers import pipeline as hf_pipeline

    tokenizer = AutoTokenizer.from_pretrained(run_dir)
    model = hf_model(task, run_dir, labels)
    # the same inputs: transformers' tokenizer gives nlpkit's ids
    tok = nlpkit_pipe.task.tokenizer
    encs = [tok.encode(t, maxlen=MAX_LENGTH) for t in texts[:CHECK_TEXTS]]
    check = check_inputs({"check": {"texts": texts[:CHECK_TEXTS], "ids": [e.input_ids for e in encs],
                                    "type_ids": [e.token_type_ids for e in encs], "labels": labels}},
                         lambda t: tokenizer(t, truncation=True, max_length=MAX_LENGTH), labels)
    # the same model: its logits are nlpkit's
    batch = tokenizer(texts[:8], padding=True, return_tensors="pt")
    with torch.inference_mode():
        theirs = model(**batch).logits
        ours = nlpkit_pipe.model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"],
                                 *([] if task == "classify" else [batch["attention_mask"].bool()]))
    if task == "classify":
        diff = float((theirs - ours).abs().max())
    else:
        valid = batch["attention_mask"].bool()
        diff = float((theirs - ours)[valid].abs().max())
    kind = "text-classification" if task == "classify" else "token-classification"
    extra = {} if task == "classify" else {"aggregation_strategy": "simple"}
    pipe = hf_pipeline(kind, model=model, tokenizer=tokenizer, device=-1, **extra)

    def run(texts, batch):
        out = pipe(texts, batch_size=batch, truncation=True, max_length=MAX_LENGTH) if task == "classify" else \
            pipe(texts, batch_size=batch)
        if task == "classify":
            return [o["label"] for o in out]
        return [[(e["start"], e["end"], e["entity_group"]) for e in o] for o in out]
    return run, {"inputs_checked": check, "same_model_max_logit_diff": diff,
                 "attention": getattr(model.config, "_attn_implementation", None)}


def measure(name, run, texts, tokens, golds, task, batches):
    row = {"system": name}
    for batch in batches:
        run(texts[:batch], batch)  # warm-up: first calls allocate and pick kernels
        before = load()
        with Clock() as c:
            out = run(texts, batch)
        row[f"b{batch}"] = {"seconds": round(c.seconds, 3), "cpu_s": round(c.cpu, 3),
                            "texts_per_s": round(len(texts) / c.seconds, 2),
                            "tokens_per_s": round(sum(tokens) / c.seconds, 1), "load_before": before,
                            "load_after": load()}
        row["score"] = round(score(task, texts, golds, out), 4)
        say(f"{name}: batch {batch}: {len(texts) / c.seconds:.1f} texts/s, {row['score']:.4f}")
    return row


def bench_task(task, args, workdir):
    spec = TASKS[task]
    run = getattr(args, f"run_{task}")
    info = {}
    if run is None:
        run = workdir / f"{task}_run"
        info = fine_tune(task, spec, run, args.steps, args.threads, workdir)
    dev = info.get("dev") or str(ROOT / spec["data"] / spec["files"][1])
    exports = {}
    for quantize in (None, "int8"):
        out = workdir / f"{task}_onnx_{quantize or 'fp32'}"
        say(f"{task}: nlpkit export {run} -o {out}" + (f" --quantize {quantize}" if quantize else ""))
        exports[quantize or "fp32"] = {"dir": out, "check": export(run, out, quantize, dev)}
    torch_run, pipe = nlpkit_system(task, run)
    texts, golds, tokens, over = test_texts(task, spec, pipe.task.tokenizer, args.limit)
    say(f"{task}: {len(texts)} test texts ({over} longer than {MAX_LENGTH} tokens passed over), {sum(tokens)} tokens")
    labels = getattr(pipe.task, "labels", None) or pipe.task.state["labels"]  # ner: its tags; classify: labels
    hf_run, same = hf_system(task, str(run), list(labels), pipe, texts)
    rows = [measure("nlpkit (torch)", torch_run, texts, tokens, golds, task, BATCHES),
            measure("nlpkit (torch), sorted by length", nlpkit_system(task, run, sort=True)[0], texts, tokens, golds,
                    task, BATCHES),
            measure("transformers pipeline", hf_run, texts, tokens, golds, task, BATCHES)]
    for name, e in exports.items():
        label = f"nlpkit ONNX {name}" + (" (failed its check)" if "check_failed" in e["check"] else "")
        rows.append(measure(label, nlpkit_system(task, e["dir"])[0], texts, tokens, golds, task, BATCHES))
    return {"task": task, "run": str(run), **info, "texts": len(texts), "passed_over": over, "tokens": sum(tokens),
            "metric": spec["score"], "transformers": same,
            "export_checks": {k: v["check"] for k, v in exports.items()}, "rows": rows, "goals": goals(rows)}


def goals(rows):
    by = {r["system"]: r for r in rows}
    int8 = next(r for r in rows if r["system"].startswith("nlpkit ONNX int8"))
    torch_, hf = by["nlpkit (torch)"], by["transformers pipeline"]
    return {"nlpkit_vs_transformers_b32": round(torch_["b32"]["texts_per_s"] / hf["b32"]["texts_per_s"], 3),
            "nlpkit_vs_transformers_b1": round(torch_["b1"]["texts_per_s"] / hf["b1"]["texts_per_s"], 3),
            "int8_vs_torch_b32": round(int8["b32"]["texts_per_s"] / torch_["b32"]["texts_per_s"], 3),
            "int8_score_points_lost": round(100 * (torch_["score"] - int8["score"]), 2)}


def table(results):
    lines = ["| task | system | texts/s b1 | texts/s b32 | tokens/s b32 | score |", "|---|---|---|---|---|---|"]
    for res in results:
        for r in res["rows"]:
            b1, b32 = r["b1"], r["b32"]
            lines.append(f"| {res['task']} | {r['system']} | {b1['texts_per_s']:.1f} | {b32['texts_per_s']:.1f} "
                         f"| {b32['tokens_per_s']:.0f} | {res['metric']} {r['score']:.4f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="classify,ner")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--limit", type=int, default=500, help="test texts per task (default 500)")
    ap.add_argument("--steps", type=int, default=300, help="fine-tuning steps when no --run-TASK is given")
    ap.add_argument("--run-classify", type=Path)
    ap.add_argument("--run-ner", type=Path)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--json", type=Path, help="also write the JSON here")
    args = ap.parse_args(argv)
    tasks = [t for t in args.only.split(",") if t]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        ap.error(f"--only: unknown {', '.join(unknown)} (expected {', '.join(TASKS)})")
    if not (MODELS / "albert-tiny-chinese").is_dir() and not all(getattr(args, f"run_{t}") for t in tasks):
        ap.error(f"{MODELS / 'albert-tiny-chinese'} not found: run `python scripts/real_models.py` first")
    os.environ.update({k: v for k, v in env_threads(args.threads).items() if k.endswith("_THREADS")})
    import torch

    torch.set_num_threads(args.threads)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_infer-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started, load_start = time.strftime("%Y-%m-%d %H:%M:%S"), load()
    results = [bench_task(t, args, workdir) for t in tasks]
    command = " ".join(["python", "scripts/bench_infer.py", *(argv or sys.argv[1:])])
    out = {"bench": "infer", "started": started, "command": command,
           "threads": args.threads, "limit": args.limit, "max_length": MAX_LENGTH, "load_start": load_start,
           "load_end": load(), "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
           "nlpkit_commit": git_commit(), "versions": versions(LIBRARIES), "results": results}
    print(table(results))
    text = json.dumps(out, ensure_ascii=False, default=str)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=1, default=str) + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

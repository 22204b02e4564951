"""nlpkit, driven only through its public surface: the `nlpkit` command (`config`, `train`, `evaluate`)
and `nlpkit.pipeline`, so the benchmark keeps working while the tasks' internals change.

Training runs `python -m nlpkit train task=T data.train=F model=tiny output_dir=D overwrite=true
trainer.epochs=E trainer.batch_size=B trainer.lr=LR ...` without data.dev: no per-epoch dev scoring
(the peers' recipes score dev in a callback; neither side does here), so metrics.json's
train_seconds is training alone and the run keeps its last epoch, as the peers do.
"""
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from .common import Clock, env_threads, setup

NLPKIT = [sys.executable, "-m", "nlpkit"]


# ---- parent side: the CLI -----------------------------------------------------------------------
def config_keys(task, model="tiny"):
    """{key: (default text, [choices] or None)} from `nlpkit config task=TASK model=MODEL` (the profile a
    user gets for that model); {} if the task is unknown."""
    proc = subprocess.run([*NLPKIT, "config", f"task={task}", f"model={model}"], capture_output=True, text=True,
                          env=env_threads(1))
    if proc.returncode != 0:
        return {}
    keys = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        m = re.search(r"\[one of: ([^\]]+?)(?: \(or null\))?\]\s*$", line)
        keys[parts[0]] = (parts[1], [c.strip() for c in m.group(1).split(",")] if m else None)
    return keys


def tiny_size(task):
    """nlpkit's tiny profile for TASK (hidden size, layers, heads, ...), from `nlpkit config`."""
    keys = config_keys(task)
    out = {}
    for key, (default, _) in keys.items():
        if key.startswith("tiny."):
            for kind in (int, float):  # the sizes; tiny.architecture is the peers' own (BERT)
                try:
                    out[key[5:]] = kind(default)
                    break
                except ValueError:
                    pass
    return out


def _run(cmd, threads, log):
    with open(log, "a", encoding="utf-8") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=f, text=True, env=env_threads(threads))
        f.write(proc.stdout)
    if proc.returncode != 0:
        tail = Path(log).read_text(encoding="utf-8").splitlines()[-15:]
        last = next((line.strip() for line in reversed(tail) if line.strip()), "")
        raise RuntimeError(f"{' '.join(cmd[2:5])} ... failed (exit {proc.returncode}): {last} (log {log}):\n  "
                           + "\n  ".join(tail))
    return proc.stdout, time.perf_counter() - t0


def train(task, train_path, out_dir, settings, threads, log, model="tiny"):
    """Train an nlpkit run from `model` (tiny, or a checkpoint folder). settings: other config keys
    (trainer.epochs=..., head=..., ...). Returns {"train_s" (metrics.json's train_seconds), "wall_s" (the
    whole command), "metrics"}."""
    cmd = [*NLPKIT, "train", f"task={task}", f"data.train={train_path}", f"model={model}", f"output_dir={out_dir}",
           "overwrite=true", "trainer.progress=false", "data.cache=false",
           *[f"{k}={v}" for k, v in settings.items()]]
    _, wall = _run(cmd, threads, log)
    metrics = json.loads((Path(out_dir) / "metrics.json").read_text(encoding="utf-8"))
    return {"train_s": metrics.get("train_seconds"), "train_positions": metrics.get("train_positions"),
            "wall_s": wall, "metrics": metrics}


def evaluate(model, data, threads, log, *keys):
    """What `nlpkit evaluate model=MODEL data=F device=cpu KEY=VALUE...` prints, from a fresh process (keys:
    e.g. task=mlm for a published checkpoint, max_length=..., output=F for each record's prediction)."""
    out, _ = _run([*NLPKIT, "evaluate", f"model={model}", f"data={data}", "device=cpu", *keys], threads, log)
    return json.loads(out.strip().splitlines()[-1])


# ---- child side: the pipeline -------------------------------------------------------------------
def predict(spec):
    """pipeline(task, model=run)(inputs, batch_size=...) -> {"predictions", "predict_s"}; with
    spec["evaluate"] = a data file, also "evaluate": what `nlpkit evaluate model=run data=F` prints
    (nlpkit's own scorer, a cross-check of the benchmark's; run in this process to spare a start-up)."""
    setup(spec)
    from nlpkit import pipeline

    pipe = pipeline(spec["task"], model=spec["run"], device="cpu", **spec.get("options", {}))
    with Clock() as c:
        predictions = pipe(spec["inputs"], batch_size=spec.get("batch_size", 64))
    out = {"predictions": predictions, "predict_s": c.seconds}
    if spec.get("evaluate"):
        out["evaluate"] = cli_evaluate(spec["run"], spec["evaluate"])
    return out


def cli_evaluate(run_dir, data):
    """`nlpkit evaluate model=RUN data=F device=cpu` through the command's entry point, in this process."""
    import contextlib
    import io

    from nlpkit.cli import main as nlpkit_cli

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = nlpkit_cli(["evaluate", f"model={run_dir}", f"data={data}", "device=cpu"])
    if code != 0:
        raise RuntimeError(f"nlpkit evaluate model={run_dir} data={data} exited with {code}")
    return json.loads(buf.getvalue().strip().splitlines()[-1])


def generate(spec):
    """cond_lm: spec["n"] sampled texts per label (chunks of at most 64 per call), top_p sampling with the
    run's decode settings; {"texts": {label: [...]}, "gen_s"} (+ "evaluate" as predict)."""
    setup(spec)
    from nlpkit import pipeline

    gen = pipeline("cond_lm", model=spec["run"], device="cpu")
    texts, chunk = {}, 64
    with Clock() as c:
        for index, label in enumerate(spec["labels"]):
            out, seed = [], int(spec.get("seed", 0)) + 100_000 * index  # each label its own random stream
            while len(out) < spec["n"]:
                size = min(chunk, spec["n"] - len(out))
                out += gen(label, n=size, seed=seed, top_p=spec.get("top_p", 0.95))
                seed += 1
            texts[str(label)] = out
    result = {"texts": texts, "gen_s": c.seconds}
    if spec.get("evaluate"):
        result["evaluate"] = cli_evaluate(spec["run"], spec["evaluate"])
    return result


def encodings(spec):
    """What nlpkit's run feeds its model for each of spec["records"], by the run's own task (pipeline(task,
    model=run).task.encode): {"ids", "types"}. The reference of a peer's inputs where the task's encoding
    is more than Tokenizer.encode (seq2seq: the target cut to max_target_length, the source to what is left)."""
    setup(spec)
    from nlpkit import pipeline

    task = pipeline(spec["task"], model=spec["run"], device="cpu").task
    encoded = [task.encode(record) for record in spec["records"]]
    return {"ids": [e["input_ids"] for e in encoded], "types": [e["token_type_ids"] for e in encoded]}

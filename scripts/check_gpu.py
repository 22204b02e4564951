"""One-command GPU check (issue #14): for every BERT task, a few hundred bf16 training steps on its
bundled sample, prediction on the GPU, cached == recomputed decoding on the GPU, and a data-parallel
`accelerate launch` over every GPU. Prints one JSON line; ~5-8 minutes on one GPU.

    python scripts/check_gpu.py [--steps 300] [--out /tmp/nlpkit-gpu-check]

On a machine without CUDA it says so in one line and exits 0.
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

#: a predict input each task reads, and the number of optimizer steps that task trains
INPUTS = {
    "seq2seq": {"src": "本文提出一种基于图神经网络的电力负荷预测方法，实验表明该方法优于传统方法。"},
    "cond_lm": {"label": "1"},
    "triples": {"text": "《稻香》是周杰伦演唱的歌曲，收录于专辑《魔杰座》。"},
    "reading": {"question": "中国的首都是哪里", "passages": [{"passage": "北京是中国的首都。"}]},
    "ner": {"text": "江泽民在北京会见了联合国秘书长。"},
    "classify": {"text": "这家酒店很干净，服务也好。"},
}


def run(cmd, **kw):
    started = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    return proc, time.time() - started


def train_and_predict(task, steps, out):
    run_dir = out / task
    proc, seconds = run([sys.executable, "-m", "nlpkit", "train", f"task={task}", f"output_dir={run_dir}",
                         "overwrite=true", "trainer.mixed_precision=bf16", f"trainer.max_steps={steps}",
                         "trainer.progress=false"])
    result = {"train_ok": proc.returncode == 0, "train_seconds": round(seconds, 1)}
    if proc.returncode != 0:
        return {**result, "error": proc.stderr.strip().splitlines()[-1:]}
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    result["samples_per_second"] = metrics.get("train_samples_per_second")
    if task in INPUTS:
        (out / f"{task}.in.jsonl").write_text(json.dumps(INPUTS[task], ensure_ascii=False) + "\n", encoding="utf-8")
        proc, _ = run([sys.executable, "-m", "nlpkit", "predict", f"model={run_dir}",
                       f"input={out / f'{task}.in.jsonl'}", "device=cuda", "dtype=bfloat16"])
        result["predict_ok"] = proc.returncode == 0 and bool(proc.stdout.strip())
    return result


def cache_equals_recompute(run_dir):
    """Greedy tokens equal with and without the KV cache on the GPU; scores within a bf16 tolerance."""
    import torch

    from nlpkit.checkpoint import load_run
    from nlpkit.config import DecodeConfig
    from nlpkit.generation import generate

    task, model = load_run(str(run_dir))
    model = task.place(model, "cuda", "bfloat16")
    tok = task.tokenizer
    prompts = [tok.encode(t).input_ids for t in ("本文研究了深度学习方法。", "针对电池寿命估计，本文提出迁移学习。")]
    config = DecodeConfig(max_new_tokens=16)
    with torch.no_grad():
        a = generate(model, prompts, config, eos_id=tok.sep_id, pad_id=tok.pad_id, use_cache=True)
        b = generate(model, prompts, config, eos_id=tok.sep_id, pad_id=tok.pad_id, use_cache=False)
    same_tokens = all(x[0].ids == y[0].ids for x, y in zip(a, b))
    close = all(abs(x[0].score - y[0].score) < 0.05 for x, y in zip(a, b))
    return same_tokens and close


def launch(n_gpus, out, steps):
    proc, seconds = run(["accelerate", "launch", "--multi_gpu" if n_gpus > 1 else "--num_processes=1",
                         f"--num_processes={n_gpus}", "-m", "nlpkit", "train", "task=seq2seq",
                         f"output_dir={out / 'launch'}", "overwrite=true", f"trainer.max_steps={steps}",
                         "trainer.progress=false"])
    return {"ok": proc.returncode == 0, "processes": n_gpus, "seconds": round(seconds, 1),
            **({} if proc.returncode == 0 else {"error": proc.stderr.strip().splitlines()[-1:]})}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", default="/tmp/nlpkit-gpu-check")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("check_gpu: no CUDA GPU on this machine; nothing to check")
        return 0
    from nlpkit.registry import get_task_class, task_names

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tasks = [t for t in task_names() if hasattr(get_task_class(t), "tiny_profile") and t != "mlm"]
    report = {"gpus": torch.cuda.device_count(), "device": torch.cuda.get_device_name(0), "tasks": {}}
    for task in tasks:
        report["tasks"][task] = train_and_predict(task, args.steps, out)
    if report["tasks"].get("seq2seq", {}).get("train_ok"):
        report["cache_equals_recompute"] = cache_equals_recompute(out / "seq2seq")
    report["accelerate_launch"] = launch(torch.cuda.device_count(), out, min(args.steps, 100))
    checks = [r.get("train_ok") and r.get("predict_ok", True) for r in report["tasks"].values()]
    report["pass"] = bool(all(checks) and report.get("cache_equals_recompute") and report["accelerate_launch"]["ok"])
    print(json.dumps(report, ensure_ascii=False))
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())

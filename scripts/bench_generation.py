"""Cached decoding (nlpkit.generation, KV cache) vs full recomputation at every step (what the usual
BERT-UniLM decoders do), on the same random model and inputs, in the same run.

Default (issue 3): source 256 tokens, 64 new tokens, beam 1 and 4, batch 1 and 8, the tiny config
(128 hidden, 2 layers) and the bert-base shape (768 hidden, 12 layers, vocabulary 21128), UniLM
mask. Every output is checked: the cached and recomputed runs must pick the same tokens and
scores within 1e-4. eos is banned (min_new_tokens = max_new_tokens) so every row makes exactly
the new-token count. tokens/s = prompts x new tokens / seconds (beam search counts its best
output, not its beams). The speedup is cached tokens/s over recompute tokens/s (wall clock); the
same ratio in CPU seconds of this process is printed too, the steadier figure when other work
shares the machine. The last line is one JSON object.

--arch runs the same on other backbones (nlpkit.model.arch; at these sizes, the rest transformers'
defaults as for model=tiny, e.g. albert/electra embedding_size 128). albert and deberta-v2 have no
KV cache in transformers 5, so for them both columns recompute (speedup ~1).

    python scripts/bench_generation.py                    # full matrix (recompute on base is slow on CPU)
    python scripts/bench_generation.py --quick            # source 64, 16 new tokens, batch 1 and 4
    python scripts/bench_generation.py --configs base --batches 1
    python scripts/bench_generation.py --quick --configs tiny --arch bert,ernie,roformer,electra,albert,deberta-v2
"""
import argparse
import json
import platform
import sys
import time

import torch
from torch import nn
from nlpkit.generation import DecodeConfig, generate
from nlpkit.model import ARCHS, backbone_config, load_backbone, supports_cache

CONFIGS = {
    "tiny": dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512, vocab_size=8000),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                 vocab_size=21128),
}
PAD, CLS, SEP = 0, 101, 102  # bert-base-chinese's ids


class _Vocab:
    """Stands in for the tokenizer: load_backbone only checks its size."""

    def __init__(self, n):
        self.n, self.pad_id = n, PAD

    def __len__(self):
        return self.n


class LM(nn.Module):
    def __init__(self, name, arch="bert"):
        super().__init__()
        vocab = _Vocab(CONFIGS[name]["vocab_size"])
        tiny = dict(CONFIGS[name], max_position_embeddings=512, architecture=arch)
        config = backbone_config("tiny", vocab, tiny=tiny)
        self.bert, self.cls = load_backbone(config, vocab, lm_head=True)


def prompts_for(batch, source_len, vocab, seed):
    g = torch.Generator().manual_seed(seed)
    # different source lengths in a batch (down to 3/4), so padding is part of what is measured
    lengths = [source_len - (i * source_len // 4) // max(batch - 1, 1) for i in range(batch)]
    return [[CLS] + torch.randint(1000, vocab, (n,), generator=g).tolist() + [SEP] for n in lengths]


def timed(model, prompts, config, use_cache):
    """Wall seconds and CPU seconds of this process (the fairer figure when other work shares the CPU)."""
    start, cpu = time.perf_counter(), time.process_time()
    out = generate(model, prompts, config, mask="unilm", eos_id=SEP, pad_id=PAD, use_cache=use_cache)
    return out, time.perf_counter() - start, time.process_time() - cpu


def same(a, b, tol=1e-4):
    return all(
        [h.ids for h in x] == [h.ids for h in y] and all(abs(h.score - k.score) <= tol for h, k in zip(x, y))
        for x, y in zip(a, b)
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="source 64, 16 new tokens, batch 1 and 4")
    ap.add_argument("--configs", default="tiny,base")
    ap.add_argument("--arch", default="bert", help=f"backbone(s), comma-separated: {', '.join(ARCHS)}")
    ap.add_argument("--beams", default="1,4")
    ap.add_argument("--batches", default=None, help="default 1,8 (quick: 1,4)")
    ap.add_argument("--source-len", type=int, default=None, help="default 256 (quick: 64)")
    ap.add_argument("--new-tokens", type=int, default=None, help="default 64 (quick: 16)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args(argv)
    source_len = args.source_len or (64 if args.quick else 256)
    new_tokens = args.new_tokens or (16 if args.quick else 64)
    batches = [int(b) for b in (args.batches or ("1,4" if args.quick else "1,8")).split(",")]
    beams = [int(b) for b in args.beams.split(",")]
    if args.threads:
        torch.set_num_threads(args.threads)

    result = {
        "source_len": source_len, "new_tokens": new_tokens, "mask": "unilm", "torch": torch.__version__,
        "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(), "runs": [],
    }
    all_match = True
    for arch, name in [(a, n) for a in args.arch.split(",") for n in args.configs.split(",")]:
        torch.manual_seed(0)
        model = LM(name, arch).eval()
        cache = "" if supports_cache(model.bert) else " (no KV cache: both recompute)"
        warm = prompts_for(1, 8, CONFIGS[name]["vocab_size"], 0)
        timed(model, warm, DecodeConfig(max_new_tokens=2), True)
        timed(model, warm, DecodeConfig(max_new_tokens=2), False)
        for beam in beams:
            for batch in batches:
                config = DecodeConfig(max_new_tokens=new_tokens, min_new_tokens=new_tokens, beam_size=beam)
                prompts = prompts_for(batch, source_len, CONFIGS[name]["vocab_size"], seed=batch * 10 + beam)
                cached, t_cache, cpu_cache = timed(model, prompts, config, True)
                full, t_full, cpu_full = timed(model, prompts, config, False)
                match = same(cached, full)
                all_match &= match
                row = {
                    "arch": arch, "config": name, "beam": beam, "batch": batch, "kv_cache": not cache,
                    "cached_tok_s": round(batch * new_tokens / t_cache, 2),
                    "recompute_tok_s": round(batch * new_tokens / t_full, 2),
                    "cached_s": round(t_cache, 3), "recompute_s": round(t_full, 3),
                    "speedup": round(t_full / t_cache, 2),
                    "cpu_cached_s": round(cpu_cache, 3), "cpu_recompute_s": round(cpu_full, 3),
                    "cpu_speedup": round(cpu_full / cpu_cache, 2), "outputs_match": match,
                }
                result["runs"].append(row)
                tag = name if arch == "bert" else f"{arch}_{name}"
                result[f"speedup_beam{beam}_batch{batch}_{tag}"] = row["speedup"]
                result[f"cpu_speedup_beam{beam}_batch{batch}_{tag}"] = row["cpu_speedup"]
                print(f"{arch:10s} {name:5s} beam {beam} batch {batch}: cached {row['cached_tok_s']:8.2f} tok/s, "
                      f"recompute {row['recompute_tok_s']:8.2f} tok/s, speedup {row['speedup']:6.2f}x "
                      f"(CPU time {row['cpu_speedup']:6.2f}x), "
                      f"outputs match: {match}{cache}", flush=True)
    result["all_outputs_match"] = all_match
    print(json.dumps(result))
    return 0 if all_match else 1


if __name__ == "__main__":
    sys.exit(main())

"""The same texts and seed give the same vocabulary and the same weights in any process, whatever
Python's hash seed (ranks and reruns must agree byte for byte)."""
import os
import subprocess
import sys

from helpers import small_tsv


def test_two_processes_with_different_hash_seeds_train_identical_runs(tmp_path):
    data = small_tsv(tmp_path, n=16)
    runs = []
    for seed in ("1", "2"):
        out = tmp_path / f"run{seed}"
        cmd = [sys.executable, "-m", "nlpkit", "train", "task=seq2seq", f"data.train={data}", f"output_dir={out}",
               "trainer.epochs=1", "trainer.batch_size=8", "trainer.progress=false", "tiny.hidden_size=32",
               "tiny.intermediate_size=64", "tiny.num_hidden_layers=1", "data.cache=false"]
        env = {**os.environ, "PYTHONHASHSEED": seed, "OMP_NUM_THREADS": "1"}
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs.append(out)
    for name in ("vocab.txt", "tokenizer.json", "model.safetensors"):
        assert (runs[0] / name).read_bytes() == (runs[1] / name).read_bytes(), name

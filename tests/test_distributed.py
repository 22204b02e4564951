"""Two CPU processes (gloo) train data-parallel: identical weights, each epoch's data split, not duplicated."""
import json
import os
import subprocess
import sys
from pathlib import Path

from helpers import small_tsv


def test_two_process_training(tmp_path):
    data = small_tsv(tmp_path, n=32)
    report = tmp_path / "report"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parent)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           str(Path(__file__).parent / "dist_worker.py"), str(data), str(tmp_path / "run"), str(report)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads(Path(f"{report}.{r}").read_text()) for r in (0, 1)]
    assert all(r["world"] == 2 for r in ranks)
    assert ranks[0]["digest"] == ranks[1]["digest"]  # gradients were averaged every step
    per_epoch = 32 // 4 // 2  # 8 batches an epoch, 4 for each rank
    for epoch in range(2):
        a = [i for b in ranks[0]["batches"][epoch * per_epoch : (epoch + 1) * per_epoch] for i in b]
        b = [i for b in ranks[1]["batches"][epoch * per_epoch : (epoch + 1) * per_epoch] for i in b]
        assert not set(a) & set(b)  # no sample trained twice in one epoch
        assert sorted(a + b) == list(range(32))  # and every sample trained once
    assert (tmp_path / "run" / "model.safetensors").exists()

"""Two CPU processes (gloo) train data-parallel: identical weights, each epoch's data split, not duplicated."""
import json
import os
import subprocess
import sys
from pathlib import Path

from helpers import small_tsv


import pytest

# --standalone: the rendezvous takes a free port (no fixed port to collide with another run); accelerate's
# --multi_gpu starts torchrun too, and with no GPU its processes run on the CPU (gloo)
LAUNCHERS = {
    "torchrun": [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"],
    "accelerate": [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                   "--main_process_port", "0"],
}
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parent)}


@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_two_process_training(tmp_path, launcher):
    data = small_tsv(tmp_path, n=32)
    report = tmp_path / "report"
    cmd = [*LAUNCHERS[launcher], str(Path(__file__).parent / "dist_worker.py"), str(data), str(tmp_path / "run"),
           str(report)]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads(Path(f"{report}.{r}").read_text()) for r in (0, 1)]
    assert all(r["world"] == 2 for r in ranks)
    assert ranks[0]["vocab"] == ranks[1]["vocab"]  # one vocabulary, built by the main process
    assert ranks[0]["digest"] == ranks[1]["digest"]  # gradients were averaged every step
    per_epoch = 32 // 4 // 2  # 8 batches an epoch, 4 for each rank
    for epoch in range(2):
        a = [i for b in ranks[0]["batches"][epoch * per_epoch : (epoch + 1) * per_epoch] for i in b]
        b = [i for b in ranks[1]["batches"][epoch * per_epoch : (epoch + 1) * per_epoch] for i in b]
        assert not set(a) & set(b)  # no sample trained twice in one epoch
        assert sorted(a + b) == list(range(32))  # and every sample trained once
    from nlpkit.checkpoint import run_status

    assert (tmp_path / "run" / "model.safetensors").exists() and run_status(tmp_path / "run") == "finished"


def test_accelerate_launch_cpu_trains_in_every_process(tmp_path):
    """`accelerate launch --cpu --num_processes 2` alone starts one process (accelerate leaves the rest
    to MPI); nlpkit starts the second itself, so the run is data-parallel as asked."""
    data = small_tsv(tmp_path, n=32)
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2", "-m", "nlpkit",
           "train", "task=seq2seq", f"data.train={data}", f"output_dir={tmp_path / 'run'}", "trainer.epochs=1",
           "trainer.batch_size=4", "trainer.progress=false", "tiny.hidden_size=32", "tiny.intermediate_size=64",
           "tiny.num_hidden_layers=1", "data.cache=false"]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["processes"] == 2 and metrics["steps"] == 32 // 4 // 2  # each rank its half of the batches
    assert proc.stderr.count("run saved") == 1

"""A resumed run writes the same log.jsonl as an uninterrupted one, line by line, even when a logging
window spans the resume point (its running sums travel in the resume point)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import small_tsv
from nlpkit.errors import NlpkitError
from nlpkit.telemetry import read_log
from nlpkit.training import train_task
from test_training import Seq2Seq, _cfg, _run_interrupted

TIMING = ("samples_per_second", "elapsed")  # wall-clock: differ between any two runs


def _cfg3(out, data, *extra):
    dev = small_tsv(data.parent, n=8, name="dev.tsv")
    return _cfg(out, data, f"data.dev={dev}", "trainer.epochs=3", "trainer.log_every_steps=3", *extra)


def _train(out, data, *extra):
    cfg = _cfg3(out, data, *extra)
    train_task(Seq2Seq(cfg), cfg)


def _lines(run):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in read_log(run)]


# 40 records, batch 8: 5 steps an epoch, 15 in all, a log line every 3 steps.
# Killed after step 6, resumed from the epoch-1 point (step 5): the step-6 window holds steps 4, 5, 6.
# Killed after step 9, resumed from the save_every_steps point at step 8: the step-9 window holds 7-9.
@pytest.mark.parametrize("killed_at,extra", [(6, []), (9, ["trainer.save_every_steps=4"])])
def test_resumed_log_equals_uninterrupted_log(tmp_path, killed_at, extra):
    data = small_tsv(tmp_path)
    _train(tmp_path / "full", data, *extra)
    part = tmp_path / "part"
    _run_interrupted(_cfg3(part, data, *extra), killed_at)
    point = json.loads((part / "resume" / "trainer.json").read_text())
    assert point["state"]["step"] % 3 != 0 and point["log_window"][0]["batches"] > 0  # a window spans it
    _train(part, data, "resume=true", *extra)
    full, resumed = _lines(tmp_path / "full"), _lines(part)
    assert len(full) == 5 + 3  # 5 training lines, 3 evaluations (one an epoch)
    for a, b in zip(full, resumed):
        assert a == b
    assert len(resumed) == len(full)


def test_a_resume_point_without_a_log_window_still_resumes(tmp_path):
    """Points written before the window was kept resume too (the spanning window then starts empty);
    a malformed window is one line naming the file."""
    data = small_tsv(tmp_path)
    part = tmp_path / "part"
    _run_interrupted(_cfg3(part, data), 6)
    path = part / "resume" / "trainer.json"
    point = json.loads(path.read_text())
    path.write_text(json.dumps({**point, "log_window": [{"loss_sum": 1.0}]}))
    with pytest.raises(NlpkitError, match="trainer.json: cannot resume from this file .*log_window"):
        _train(part, data, "resume=true")
    del point["log_window"]
    path.write_text(json.dumps(point))
    _train(part, data, "resume=true")
    assert [r["step"] for r in read_log(part) if "loss" in r] == [3, 6, 9, 12, 15]


def _torchrun(*args):
    here = Path(__file__).parent
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(here / "dist_resume_worker.py"), *map(str, args)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(here)}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def test_two_processes_resume_each_ones_window(tmp_path):
    """Each process keeps its own window (their losses differ), summed over both when the line is written.
    32 records, batch 4, 2 processes: 4 steps an epoch; killed after step 6, resumed from step 4."""
    data, dev = small_tsv(tmp_path, n=32), small_tsv(tmp_path, n=8, name="dev.tsv")
    assert _torchrun(data, dev, tmp_path / "full", 0).returncode == 0
    assert _torchrun(data, dev, tmp_path / "part", 6).returncode != 0
    windows = json.loads((tmp_path / "part" / "resume" / "trainer.json").read_text())["log_window"]
    assert len(windows) == 2 and windows[0]["loss_sum"] != windows[1]["loss_sum"]
    proc = _torchrun(data, dev, tmp_path / "part", 0, "resume=true")
    assert proc.returncode == 0, proc.stderr[-3000:]
    full, resumed = _lines(tmp_path / "full"), _lines(tmp_path / "part")
    assert len(full) == 4 + 3 and resumed == full

"""The README's first command runs twice in a row and leaves nothing untracked in the checkout."""
import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from nlpkit.cli import main

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["trainer.max_steps=2", "trainer.progress=false"]  # the same command, two steps long


def quickstart():
    """The README's first command, split at `&&`."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [part.strip() for part in block.splitlines()[0].split(" && ")]


def _nlpkit(part, *extra):
    return main(shlex.split(part)[1:] + list(extra))


def test_quickstart_runs_twice(tmp_path, monkeypatch, capsys):
    parts = quickstart()
    train = next(p for p in parts if p.startswith("nlpkit train"))
    scratch = next(p for p in parts if p.startswith("printf"))
    predict = next(p for p in parts if p.startswith("nlpkit predict"))
    monkeypatch.chdir(tmp_path)
    for _ in range(2):  # the second time: the finished run is replaced, as the command asks
        assert _nlpkit(train, *QUICK) == 0
        subprocess.run(["bash", "-c", scratch], check=True)
        capsys.readouterr()
        assert _nlpkit(predict) == 0
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert len(rows) == 2 and all(isinstance(r["text"], str) for r in rows)


def test_quickstart_scratch_file_is_ignored_by_git():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    written = shlex.split(next(p for p in quickstart() if p.startswith("printf")))[-1]
    assert subprocess.run(["git", "check-ignore", "-q", written], cwd=ROOT).returncode == 0, written

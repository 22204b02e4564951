"""The nlpkit command says a warning in one line, without Python's file path and source line."""
import json
import subprocess
import sys


def test_a_warning_is_one_line_from_the_command(tmp_path):
    data = tmp_path / "d.json"
    rows = [{"text": "《晴天》由周杰伦作词作曲", "spo_list": [
        {"subject": "晴天", "predicate": "作词", "object": "周杰伦"},
        {"subject": "晴天", "predicate": "歌手", "object": "蔡依林"}]}]  # object not in the text: skipped
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows * 4), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "nlpkit", "train", "task=triples", f"data.train={data}",
                           f"output_dir={tmp_path / 'run'}", "trainer.max_steps=1", "trainer.progress=false"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    warned = [line for line in proc.stderr.splitlines() if "skipped" in line]
    assert len(warned) == 1 and warned[0].startswith(f"nlpkit: warning: {data}: skipped 4 triple(s)")
    assert "UserWarning" not in proc.stderr and "warnings.warn" not in proc.stderr

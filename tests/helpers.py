"""Small shared pieces for the tests."""
import hashlib
from pathlib import Path

from safetensors.torch import load_file

SEQ2SEQ_SAMPLE = Path(__file__).resolve().parents[1] / "tasks" / "seq2seq" / "sample"


def small_tsv(tmp_path, n=40, name="small.tsv"):
    lines = (SEQ2SEQ_SAMPLE / "train.tsv").read_text(encoding="utf-8").splitlines()[:n]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def weights_digest(run_dir):
    tensors = load_file(str(Path(run_dir) / "model.safetensors"))
    h = hashlib.sha1()
    for k in sorted(tensors):
        h.update(k.encode())
        h.update(tensors[k].float().numpy().tobytes())
    return h.hexdigest()


def error_line(capsys, *argv):
    """Run the CLI, which must fail with exactly one error line and no traceback; returns that line."""
    from nlpkit.cli import main

    code = main(list(argv))
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("nlpkit: error:")]
    assert len(lines) == 1, err
    return lines[0]

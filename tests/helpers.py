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

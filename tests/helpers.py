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


def assert_encoder_loads_with_transformers(run_dir):
    """transformers' AutoModel reads the run's encoder whole: every saved bert.* tensor, no other weight
    left at its random start but the pooler (nlpkit trains none), and nlpkit's own hidden states."""
    import torch
    from transformers import AutoModel

    from nlpkit.checkpoint import load_run

    model, info = AutoModel.from_pretrained(str(run_dir), output_loading_info=True)
    saved = {k.removeprefix("bert."): v for k, v in load_file(str(Path(run_dir) / "model.safetensors")).items()
             if k.startswith("bert.")}
    assert set(info["missing_keys"]) <= {"pooler.dense.weight", "pooler.dense.bias"}, info
    assert not info["mismatched_keys"], info
    loaded = {k: v for k, v in model.state_dict().items() if not k.startswith("pooler.")}
    assert set(loaded) == set(saved) and all(torch.equal(v, saved[k]) for k, v in loaded.items())
    ids = torch.arange(100, 110).unsqueeze(0)
    with torch.no_grad():
        ours = load_run(run_dir)[1].bert.eval()(input_ids=ids).last_hidden_state
        assert torch.allclose(model.eval()(input_ids=ids).last_hidden_state, ours, atol=1e-5)


def error_line(capsys, *argv):
    """Run the CLI, which must fail with exactly one error line and no traceback; returns that line."""
    from nlpkit.cli import main

    code = main(list(argv))
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("nlpkit: error:")]
    assert len(lines) == 1, err
    return lines[0]


def ner_head_output(answers, input_ids, pointer, num_labels):
    """What an NER model's forward() gives for `answers` (one per row of `input_ids`): global_pointer,
    (B, types, L, L) scores positive at each (first, last, type index); a tagging head, (B, L, tags)
    logits whose argmax over tokens 1..n is the answer's tag ids."""
    import torch

    b, length = input_ids.shape
    out = torch.full((b, num_labels, length, length) if pointer else (b, length, num_labels), -1.0)
    for row, answer in enumerate(answers):
        for k, item in enumerate(answer):
            if pointer:
                out[row, item[2], item[0], item[1]] = 1.0
            else:
                out[row, k + 1, item] = 1.0
    return out


def train_tiny(task, out, *overrides):
    """`nlpkit train task=TASK output_dir=OUT` (+ overrides) in this process, one torch thread; returns OUT."""
    import torch

    from nlpkit.cli import main

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny model gains nothing from a second thread on shared cores
    try:
        assert main(["train", f"task={task}", f"output_dir={out}", "trainer.progress=false", *overrides]) == 0
    finally:
        torch.set_num_threads(threads)
    return out

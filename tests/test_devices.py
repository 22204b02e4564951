"""Inference devices and dtypes: transformers-pipeline conventions, one clear line for what cannot be."""
import pytest
import torch

from nlpkit.cli import main
from nlpkit.devices import place, resolve_device, resolve_dtype
from nlpkit.errors import NlpkitError


@pytest.fixture
def two_gpus(monkeypatch):
    """A machine with two CUDA GPUs, as torch reports it (resolving a device allocates nothing on it)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


def test_auto_takes_the_gpu_when_there_is_one(two_gpus):
    assert resolve_device("auto") == resolve_device(None) == torch.device("cuda")
    assert resolve_device(1) == resolve_device("1") == resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device(-1) == resolve_device("cpu") == torch.device("cpu")  # -1 is the CPU, as in transformers
    with pytest.raises(NlpkitError, match=r"device=cuda:2: only 2 GPU\(s\) here"):
        resolve_device(2)


def test_auto_is_the_cpu_without_a_gpu(no_gpu):
    assert resolve_device("auto") == resolve_device(None) == resolve_device(-1) == torch.device("cpu")
    assert resolve_dtype("auto", torch.device("cpu")) is torch.float32  # the dtype runs are saved in
    assert resolve_dtype(torch.bfloat16, torch.device("cpu")) is torch.bfloat16


def test_bfloat16_on_a_gpu_without_it_is_one_line(two_gpus, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_dtype("float16", torch.device("cuda")) is torch.float16
    with pytest.raises(NlpkitError, match="dtype=bfloat16: this GPU has no bfloat16"):
        resolve_dtype("bfloat16", torch.device("cuda"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", 0, "1"])
def test_cuda_without_a_gpu_is_one_line(spec):
    with pytest.raises(NlpkitError, match="this machine has no CUDA GPU"):
        resolve_device(spec)


@pytest.mark.parametrize("spec", ["tpu", "gpu", True, 1.5])
def test_unknown_devices(spec):
    with pytest.raises(NlpkitError, match="expected auto, cpu, cuda"):
        resolve_device(spec)


@pytest.mark.parametrize("spec", ["int8", "float64", "fp16"])
def test_unknown_dtypes(spec):
    with pytest.raises(NlpkitError, match="expected one of auto, float32, bfloat16, float16"):
        resolve_dtype(spec, torch.device("cpu"))


def test_place_casts_and_sets_eval_mode():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Dropout(0.5)).train()
    placed = place(model, "cpu", "bfloat16")
    assert next(placed.parameters()).dtype is torch.bfloat16 and not placed.training


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_cli_device_errors_before_loading(tmp_path, capsys):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"src": "文本"}\n', encoding="utf-8")
    assert main(["predict", "model=/nonexistent-run", f"input={inputs}", "device=cuda"]) == 2
    assert main(["evaluate", "model=/nonexistent-run", "dtype=int8"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["nlpkit: error: device=cuda: this machine has no CUDA GPU (use device=cpu or auto)",
                   "nlpkit: error: dtype=int8: expected one of auto, float32, bfloat16, float16"]

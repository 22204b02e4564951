"""Where inference runs, in the conventions of transformers pipelines: `device="auto"|"cpu"|"cuda"|"cuda:1"|0`
and `dtype="float32"|"bfloat16"|"float16"|"auto"`. `auto` takes a GPU when there is one; `eval_mode` for
the passes themselves."""
import contextlib

from .errors import NlpkitError

DTYPES = ("auto", "float32", "bfloat16", "float16")


def resolve_device(spec="auto"):
    import torch

    if spec is None or spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(spec, bool) or not isinstance(spec, (int, str, torch.device)):
        raise NlpkitError(f"device={spec!r}: expected auto, cpu, cuda, cuda:N or a GPU index")
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        spec = "cpu" if int(spec) < 0 else f"cuda:{int(spec)}"
    try:
        device = torch.device(spec)
    except (RuntimeError, ValueError):
        raise NlpkitError(f"device={spec}: expected auto, cpu, cuda, cuda:N or a GPU index") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise NlpkitError(f"device={spec}: this machine has no CUDA GPU (use device=cpu or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise NlpkitError(f"device={spec}: only {torch.cuda.device_count()} GPU(s) here")
    elif device.type != "cpu":
        raise NlpkitError(f"device={spec}: expected auto, cpu, cuda, cuda:N or a GPU index")
    return device


def resolve_dtype(spec, device):
    """A floating dtype for the weights; auto = the dtype runs are saved in (float32)."""
    import torch

    if isinstance(spec, torch.dtype):
        spec = str(spec)
    name = "auto" if spec is None else str(spec).replace("torch.", "")
    if name not in DTYPES:
        raise NlpkitError(f"dtype={spec}: expected one of {', '.join(DTYPES)}")
    if name == "bfloat16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise NlpkitError("dtype=bfloat16: this GPU has no bfloat16 (use float16 or float32)")
    return torch.float32 if name == "auto" else getattr(torch, name)


def place(model, device="auto", dtype="auto"):
    """Move a model for inference; returns it (in eval mode)."""
    dev = resolve_device(device)
    return model.to(device=dev, dtype=resolve_dtype(dtype, dev)).eval()


def model_device(model):
    """The device of a model's weights (where its inputs must go)."""
    return next(model.parameters()).device


@contextlib.contextmanager
def eval_mode(model):
    """Dropout off for predicting or scoring, the model's training mode restored afterwards (a trainer
    evaluates mid-training). Grad mode is the caller's: a streaming decoder yields between its passes."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)

"""`nlpkit export RUN_DIR -o OUT [--quantize int8]`: a finished run as ONNX graphs that onnxruntime runs,
checked against the torch model before anything is written; and the loader that lets such a folder
stand in for the run (pipeline(), predict, evaluate, serve).

What is exported is what the task model declares in two class attributes:

- `onnx_graphs`: {method: {argument: axes}}: the methods its task's inference calls (forward, or
  casrel's encode and object_logits), each argument's axes as one letter per dimension -- a letter
  names a dynamic size shared by every argument using it, "." a fixed one; an argument that is a
  dict of tensors maps its keys so (nl2sql's batch);
- `onnx_keep`: small submodules that inference still runs in torch (a CRF's Viterbi decoding),
  saved beside the graphs.

Everything else of the task -- windows, decoding, merging -- runs unchanged, on a stand-in model: the
task's own model class with its backbone and heads dropped (built on the meta device, so no weights
are made), whose declared methods call an onnxruntime session. A task whose model declares no graphs
(the generating tasks, which decode token by token) is not exported.

The check: the task's predictions from the torch model and from the exported graphs (int8 ones
included) are compared on the run's dev data, scores left out (the labels, spans, triples); they
must be equal on AGREEMENT of the records, and the largest difference between the graphs' outputs
and torch's on the same inputs is reported (fp32 graphs must stay within FP32_TOLERANCE). The export
is written into a temporary folder beside OUT and renamed only once the check passed.
"""
import contextlib
import importlib.util
import inspect
import io
import json
import logging
import shutil
import tempfile
import time
import warnings
from pathlib import Path

from .errors import NlpkitError

EXPORT_FILE = "export.json"
KEEP_FILE = "kept.safetensors"
#: the share of records whose predictions must equal torch's
AGREEMENT = 0.995
#: the largest |output difference| an fp32 graph may show against torch (int8: only AGREEMENT holds)
FP32_TOLERANCE = 1e-3
#: outputs this large are masks (finfo.min fills), not scores: left out of the difference
MASKED = 1e6
#: 23: attention exports as one Attention node, which onnxruntime runs fused (18 spells it out in ~10 ops)
OPSET = 23
QUANTIZATIONS = ("int8",)
#: records the check predicts by default (the first of the dev data)
DEFAULT_LIMIT = 2000
#: what an encoder's inputs look like to onnx_graphs: batch x length
ENCODER_AXES = {"input_ids": "BL", "token_type_ids": "BL", "attention_mask": "BL"}
EXTRA = "pip install 'nlpkit[export]'"


# ---- requirements --------------------------------------------------------------------------------
def require(modules=("onnxruntime", "onnx", "onnxscript"), what="nlpkit export"):
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise NlpkitError(f"{what} needs {', '.join(missing)} (not installed): {EXTRA}")


def is_export(folder):
    return (Path(folder) / EXPORT_FILE).is_file()


def exportable(model):
    """The model's declared graphs, or a one-line refusal naming what is and is not exported."""
    graphs = getattr(model, "onnx_graphs", None)
    if not graphs:
        raise NlpkitError(f"{type(model).__name__} declares no ONNX graphs (onnx_graphs), so it is not exported: "
                          "nlpkit export covers the encoder tasks (classify, ner with every head, triples with "
                          "both heads, nl2sql); the generating tasks (seq2seq, cond_lm, reading, mlm) decode token "
                          "by token and jose has no encoder, so none of them is exported")
    return graphs


# ---- arguments <-> the graphs' named tensors ------------------------------------------------------
def _leaves(spec, arguments):
    """{leaf name: (tensor, axes)} of a call's bound arguments, as `spec` ({argument: axes}) names them."""
    out = {}
    for name, axes in spec.items():
        value = arguments[name]
        if isinstance(axes, dict):
            out.update({f"{name}.{key}": (value[key], a) for key, a in axes.items()})
        else:
            out[name] = (value, axes)
    return out


def _arguments(spec, tensors):
    """The inverse of _leaves: {argument: tensor or dict of tensors} from {leaf name: tensor}."""
    return {name: ({k: tensors[f"{name}.{k}"] for k in axes} if isinstance(axes, dict) else tensors[name])
            for name, axes in spec.items()}


def _flat_outputs(out):
    """(structure, names, tensors) of what a method returns: a tensor, a tuple of them or a dict."""
    if isinstance(out, dict):
        return "dict", list(out), list(out.values())
    if isinstance(out, (tuple, list)):
        return "tuple", [f"output{i}" for i in range(len(out))], list(out)
    return "tensor", ["output"], [out]


def _structured(kind, names, tensors):
    if kind == "dict":
        return dict(zip(names, tensors))
    return tuple(tensors) if kind == "tuple" else tensors[0]


# ---- the stand-in ----------------------------------------------------------------------------------
class OnnxMethod:
    """A model method answered by an onnxruntime session: same arguments, same (structure of) outputs.
    With a `reference` (the torch method) it also runs that and records the largest output difference."""

    def __init__(self, session, spec, signature, outputs, anchor, reference=None):
        self.session, self.spec, self.signature, self.outputs = session, spec, signature, outputs
        self.inputs = [i.name for i in session.get_inputs()]  # an input the graph does not read is absent
        self.anchor, self.reference, self.differences = anchor, reference, []

    def __call__(self, *args, **kwargs):
        arguments = self.signature.bind(*args, **kwargs).arguments
        leaves = _leaves(self.spec, arguments)
        feed = {n: _numpy(leaves[n][0]) for n in self.inputs}
        values = self.session.run(self.outputs["names"], feed)
        anchor = self.anchor()
        tensors = [_tensor(v, anchor) for v in values]
        if self.reference is not None:
            expected = _flat_outputs(self.reference(*args, **kwargs))[2]
            self.differences.append(max((largest_difference(e, t) for e, t in zip(expected, tensors)), default=0.0))
        return _structured(self.outputs["kind"], self.outputs["names"], tensors)


def _numpy(tensor):
    tensor = tensor.detach().cpu()
    return (tensor.float() if tensor.is_floating_point() else tensor).numpy()


def _tensor(array, anchor):
    import torch

    t = torch.from_numpy(array)
    return t.to(anchor.device, anchor.dtype) if t.is_floating_point() else t.to(anchor.device)


def largest_difference(expected, actual):
    """max |expected - actual| over the expected outputs that are scores (finite, below MASKED)."""
    expected, actual = expected.detach().float().cpu(), actual.detach().float().cpu()
    scores = expected.isfinite() & (expected.abs() < MASKED)
    if not scores.any():
        return 0.0
    return float((expected[scores] - actual[scores]).abs().max())


def _session(path):
    import onnxruntime as ort
    import torch

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # as many as torch would use (trainer.threads, ...)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def read_manifest(folder):
    path = Path(folder) / EXPORT_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise NlpkitError(f"{path}: unreadable export manifest ({e})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("graphs"), dict):
        raise NlpkitError(f"{path}: not an nlpkit export manifest (no graphs)")
    return manifest


def load_export(task, folder, reference=None):
    """The stand-in model of an export folder (task.load_run() of one); `reference`: the torch model to
    compare every graph call with (the export's own check)."""
    import torch

    from .checkpoint import read_bert_config, read_tensors
    from .tokenizer import Tokenizer

    require(("onnxruntime",), f"{folder} is an ONNX export; running it")
    folder = Path(folder)
    manifest = read_manifest(folder)
    task.tokenizer = Tokenizer.from_dir(folder)
    with torch.device("meta"):  # the class and its Python methods only: no weights are made
        model = task.build_model(read_bert_config(folder))
    keep = manifest.get("keep", [])
    for name in list(model._modules):
        if name not in keep:
            model._modules[name] = None
    model.to_empty(device="cpu")
    if keep:
        model.load_state_dict(read_tensors(folder / KEEP_FILE), strict=True)
    model.register_parameter("onnx_anchor", torch.nn.Parameter(torch.zeros(0), requires_grad=False))
    anchor = lambda: model.onnx_anchor  # noqa: E731 -- where (and in which dtype) outputs go after place()
    for method, graph in manifest["graphs"].items():
        signature = inspect.signature(getattr(model, method))
        ref = getattr(reference, method) if reference is not None else None
        model.__dict__[method] = OnnxMethod(_session(folder / graph["file"]), model.onnx_graphs[method], signature,
                                            graph["outputs"], anchor, ref)
    model.onnx_export = manifest
    return model.eval()


# ---- exporting -------------------------------------------------------------------------------------
@contextlib.contextmanager
def _recording(model, graphs):
    """Record the arguments of the first call of every graph method while the torch model predicts."""
    examples = {}

    def recorder(method, original):
        signature = inspect.signature(original)

        def call(*args, **kwargs):
            if method not in examples:
                examples[method] = {n: t.detach() for n, (t, _) in
                                    _leaves(graphs[method], signature.bind(*args, **kwargs).arguments).items()}
            return original(*args, **kwargs)
        return call

    for method in graphs:
        model.__dict__[method] = recorder(method, getattr(model, method))
    try:
        yield examples
    finally:
        for method in graphs:
            model.__dict__.pop(method, None)


def _example(spec, recorded):
    """The recorded leaves as plain tensors, every dynamic size of 1 doubled (torch.export would fix a
    size-1 dimension to 1)."""
    import torch

    axes = {name: a for name, (_, a) in _leaves(spec, _arguments(spec, recorded)).items()}
    ones = {a for name, t in recorded.items() for a, size in zip(axes[name], t.shape) if a != "." and size == 1}
    out = {}
    for name, t in recorded.items():
        t = t.clone()
        for dim, a in enumerate(axes[name]):
            if a in ones:
                t = torch.cat([t, t], dim)
        out[name] = t
    return out, axes


def _graph_module(model, method, spec, names):
    import torch

    class Graph(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            out = getattr(self.model, method)(**_arguments(spec, dict(zip(names, tensors))))
            return tuple(_flat_outputs(out)[2])

    return Graph()


@contextlib.contextmanager
def _quiet():
    """torch.onnx reports every step on stdout and in warnings: keep them for an error, show none."""
    buffer = io.StringIO()
    # the root logger too: onnxruntime's quantizer advises pre-processing there
    loggers = [logging.getLogger(n) for n in ("", "torch.onnx", "torch.export", "torch._export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(buffer):
            warnings.simplefilter("ignore")
            yield buffer
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _export_graph(model, method, spec, recorded, path):
    """One method -> an ONNX file (torch's dynamo exporter, dynamic in every lettered axis); returns
    the structure of its outputs."""
    import torch

    example, axes = _example(spec, recorded)
    names = list(example)
    module = _graph_module(model, method, spec, names).eval()
    with torch.no_grad():
        kind, out_names, _ = _flat_outputs(getattr(model, method)(**_arguments(spec, example)))
    dims = {}
    shapes = tuple({i: dims.setdefault(a, torch.export.Dim(f"{a}_{method}"))
                    for i, a in enumerate(axes[n]) if a != "."} for n in names)
    with _quiet():
        try:
            torch.onnx.export(module, tuple(example[n] for n in names), str(path), input_names=names,
                              output_names=out_names, dynamo=True, dynamic_shapes=(shapes,), opset_version=OPSET,
                              external_data=False, verbose=False)
        except Exception as e:
            lines = [ln for ln in str(e).splitlines() if ln.strip()]
            raise NlpkitError(f"torch could not export {type(model).__name__}.{method} to ONNX: "
                              f"{(lines or [type(e).__name__])[-1][:300]}") from None
    return {"kind": kind, "names": out_names}


def _quantize(source, target):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet():  # the linear layers' matrices; the quantizer's own QAttention does not take opset 23's Attention
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"],
                         per_channel=True)
    Path(source).unlink()


def _strip_scores(value):
    """A prediction without its float scores: what the check compares (labels, spans, triples)."""
    if isinstance(value, dict):
        return {k: _strip_scores(v) for k, v in value.items() if not isinstance(v, float)}
    if isinstance(value, (list, tuple)):
        return [_strip_scores(v) for v in value if not isinstance(v, float)]
    return value


def parity(expected, actual, differences, quantize):
    """The check's figures; raises (one line) when the predictions or the fp32 outputs disagree."""
    equal = sum(_strip_scores(a) == _strip_scores(b) for a, b in zip(expected, actual))
    n = len(expected)
    largest = max(differences, default=0.0)
    figures = {"records": n, "equal": equal, "agreement": round(equal / n, 6), "max_abs_difference": largest}
    if equal < AGREEMENT * n:
        raise NlpkitError(f"export failed its check: the ONNX predictions equal torch's on {equal}/{n} records "
                          f"({equal / n:.2%}, need >= {AGREEMENT:.1%}; largest output difference {largest:.3g}); "
                          "nothing written")
    if quantize is None and not largest <= FP32_TOLERANCE:
        raise NlpkitError(f"export failed its check: the fp32 graphs' outputs differ from torch's by up to "
                          f"{largest:.3g} (> {FP32_TOLERANCE}); nothing written")
    return figures


def check_records(task, data=None, limit=DEFAULT_LIMIT):
    """(path, records) the check predicts: data=, else the run's dev data, else its training data."""
    path = data or task.eval_data() or task.cfg.data.train
    if not path:
        raise NlpkitError("the run names no dev or training data to check the export on; pass --data FILE")
    records = task.read_data(path)[:limit]
    if not records:
        raise NlpkitError(f"{path}: no records to check the export on")
    return path, records


def _check_out(out, overwrite):
    if not (out.exists() or out.is_symlink()):
        return
    if not overwrite:
        raise NlpkitError(f"{out} exists; pass overwrite=true to replace it")
    if not is_export(out) or out.is_symlink():
        raise NlpkitError(f"{out}: overwrite=true replaces only an nlpkit export ({EXPORT_FILE}), and this folder "
                          "holds none; choose another -o")


def _copy_run_files(run_dir, target):
    from .checkpoint import CONFIG_FILE, HF_FILES, METRICS_FILE, STATE_FILE, WEIGHTS_FILE

    for name in (*HF_FILES, CONFIG_FILE, STATE_FILE, METRICS_FILE):
        if name != WEIGHTS_FILE and (Path(run_dir) / name).is_file():
            shutil.copy2(Path(run_dir) / name, target / name)


def _save_kept(model, keep, path):
    from safetensors.torch import save_file

    tensors = {f"{m}.{k}": v.detach().contiguous() for m in keep for k, v in getattr(model, m).state_dict().items()}
    save_file(tensors, str(path))


def _replace(tmp, out):
    """tmp -> out; an old export at out is moved aside first and removed after."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{time.time_ns()}")
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export_run(run_dir, out, quantize=None, overwrite=False, data=None, limit=DEFAULT_LIMIT, say=print):
    """Export a finished run to the folder `out`; returns the manifest. Raises NlpkitError, writing nothing,
    when the run cannot be exported or the check fails."""
    import torch

    from . import __version__
    from .checkpoint import load_run
    from .data import write_json

    out = Path(out)
    if quantize not in (None, *QUANTIZATIONS):
        raise NlpkitError(f"--quantize {quantize}: expected one of {', '.join(QUANTIZATIONS)}")
    _check_out(out, overwrite)
    if is_export(run_dir):
        raise NlpkitError(f"{run_dir} is an export already; export the run it was made from")
    task, model = load_run(run_dir)
    model = model.float().eval()
    graphs = exportable(model)
    require()
    path, records = check_records(task, data, limit)
    with _recording(model, graphs) as recorded:
        expected = task.predict(model, records)
    unreached = [m for m in graphs if m not in recorded]
    if unreached:
        raise NlpkitError(f"the check data never reached {', '.join(unreached)} (e.g. no subject found), so "
                          "that graph could not be checked; nothing written")
    made = [p for p in (out.parent, *out.parent.parents) if not p.exists()]  # removed again on failure
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        tmp.chmod(0o777 & ~_umask())  # mkdtemp's folder is private; the export is an ordinary folder
        manifest = _write(task, model, graphs, recorded, tmp, quantize, run_dir)
        standin = _runtime_step("load the graphs", lambda: load_export(task, tmp, reference=model))
        actual = task.predict(standin, records)
        differences = [d for m in graphs for d in standin.__dict__[m].differences]
        manifest["parity"] = {"data": str(path), **parity(expected, actual, differences, quantize)}
        manifest.update({"nlpkit": __version__, "torch": torch.__version__, "onnxruntime": _version("onnxruntime")})
        write_json(tmp / EXPORT_FILE, manifest)
        _replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in made:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    p = manifest["parity"]
    say(f"nlpkit: export: predictions equal torch's on {p['equal']}/{p['records']} records of {path} "
        f"({p['agreement']:.2%}); largest output difference {p['max_abs_difference']:.3g}")
    return manifest


def _write(task, model, graphs, recorded, tmp, quantize, run_dir):
    """The graphs (quantized if asked), the kept modules and the run's files into `tmp`; the manifest."""
    from .data import write_json

    files = {}
    for method, spec in graphs.items():
        name = "model.onnx" if method == "forward" else f"{method}.onnx"
        target = tmp / name
        fp32 = tmp / f"{method}.fp32.onnx" if quantize else target
        files[method] = {"file": name, "outputs": _export_graph(model, method, spec, recorded[method], fp32)}
        if quantize:
            _runtime_step(f"quantize {method}", lambda: _quantize(fp32, target))
    keep = [m for m in getattr(model, "onnx_keep", ()) if getattr(model, m, None) is not None]
    if keep:
        _save_kept(model, keep, tmp / KEEP_FILE)
    _copy_run_files(run_dir, tmp)
    manifest = {"task": task.name, "opset": OPSET, "quantization": quantize, "graphs": files, "keep": keep,
                "source": str(Path(run_dir).resolve())}
    write_json(tmp / EXPORT_FILE, manifest)  # load_export reads it for the check
    return manifest


def _umask():
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def _runtime_step(what, step):
    """An onnxruntime failure (a graph it cannot load or quantize) as one line."""
    try:
        return step()
    except NlpkitError:
        raise
    except Exception as e:
        lines = [ln for ln in str(e).splitlines() if ln.strip()] or [type(e).__name__]
        raise NlpkitError(f"onnxruntime could not {what}: {lines[0][:300]}; nothing written") from None


def _version(module):
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return None

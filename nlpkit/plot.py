"""`nlpkit plot`: training curves of one or several runs (from their log.jsonl), and a 2-D map of a
run's document vectors (t-SNE, which keeps neighbourhoods) with TensorBoard projector files.

    nlpkit plot RUN_DIR [RUN_DIR ...] [-o curves.png] [--metric NAME]
    nlpkit plot RUN_DIR --docs [LABELS] [-o docs.png]
"""
import argparse
import sys
from pathlib import Path

from .errors import NlpkitError
from .telemetry import LOG_FILE, read_log


def _pyplot():
    import warnings

    import matplotlib

    matplotlib.use("Agg")  # files only, no screen
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    # Chinese labels need a CJK font; without one they show as boxes (and matplotlib warns per glyph)
    cjk = [f.name for f in font_manager.fontManager.ttflist if any(k in f.name for k in ("CJK", "WenQuanYi", "Hei"))]
    if cjk:
        plt.rcParams["font.sans-serif"] = [cjk[0], "DejaVu Sans"]
    warnings.filterwarnings("ignore", message="Glyph .* missing from font")
    return plt


def _runs(paths):
    runs = []
    for path in paths:
        if not (Path(path) / LOG_FILE).exists():
            raise NlpkitError(f"{path}: no {LOG_FILE} (a run trained by nlpkit writes one; runs from before it cannot be plotted)")
        runs.append((Path(path).resolve().name, read_log(path)))
    return runs


def _metric(runs, metric, run_dirs):
    if metric:
        return metric
    for run_dir in run_dirs:  # the metric the task keeps its best checkpoint by
        cfg = Path(run_dir) / "nlpkit.yaml"
        if cfg.exists():
            from .checkpoint import read_run_config
            from .registry import get_task_class

            return get_task_class(read_run_config(run_dir).task).metric
    evals = [k for _, rows in runs for r in rows for k in r.get("eval", {})]
    return evals[0] if evals else None


def plot_curves(run_dirs, output, metric=None):
    """Training loss, learning rate and a dev metric by step; one line per run."""
    runs = _runs(run_dirs)
    metric = _metric(runs, metric, run_dirs)
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    panels = [("loss", "training loss"), ("lr", "learning rate"), (metric, f"dev {metric}")]
    for name, rows in runs:
        train = [r for r in rows if "loss" in r]
        evals = [r for r in rows if metric in r.get("eval", {})]
        axes[0].plot([r["step"] for r in train], [r["loss"] for r in train], label=name)
        axes[1].plot([r["step"] for r in train], [r["lr"] for r in train], label=name)
        axes[2].plot([r["step"] for r in evals], [r["eval"][metric] for r in evals], marker="o", label=name)
    for ax, (_, title) in zip(axes, panels):
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(output, dpi=80)
    plt.close(fig)
    return output


def tsne(x, perplexity=30.0, steps=400, seed=0):
    """2-D t-SNE (exact) of the rows of x: the gradient, momentum and gains of van der Maaten &
    Hinton (2008) and their reference implementation, in numpy."""
    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    d2 = np.maximum((x * x).sum(1)[:, None] + (x * x).sum(1)[None, :] - 2 * x @ x.T, 0)
    p = _affinities(d2, min(perplexity, (n - 1) / 3))
    p = np.maximum((p + p.T) / p.sum() / 2, 1e-12)
    y = np.random.default_rng(seed).normal(0, 1e-4, (n, 2))
    velocity, gains = np.zeros_like(y), np.ones_like(y)
    for step in range(steps):
        sq = (y * y).sum(1)
        num = 1 / (1 + sq[:, None] + sq[None, :] - 2 * y @ y.T)
        np.fill_diagonal(num, 0)
        q = np.maximum(num / num.sum(), 1e-12)
        w = ((4.0 if step < 100 else 1.0) * p - q) * num  # early exaggeration forms the clusters
        grad = 4 * (np.diag(w.sum(1)) - w) @ y
        same = (grad > 0) == (velocity > 0)
        gains = np.maximum(np.where(same, gains * 0.8, gains + 0.2), 0.01)
        velocity = (0.5 if step < 20 else 0.8) * velocity - 200.0 * gains * grad
        y = y + velocity
        y -= y.mean(0)
    return y


def _affinities(d2, perplexity, tries=50):
    """Row-wise Gaussian affinities whose entropy matches log(perplexity) (binary search on beta)."""
    import numpy as np

    n = len(d2)
    lo, hi, beta = np.zeros(n), np.full(n, np.inf), np.ones(n)
    off_diagonal = 1 - np.eye(n)
    for _ in range(tries):
        p = np.exp(-(d2 - d2.min(1, keepdims=True)) * beta[:, None]) * off_diagonal
        p /= p.sum(1, keepdims=True)
        too_flat = -(p * np.log(p + 1e-12)).sum(1) > np.log(perplexity)
        lo, hi = np.where(too_flat, beta, lo), np.where(too_flat, hi, beta)
        beta = np.where(np.isinf(hi), beta * 2, (lo + hi) / 2)
    return p


def plot_documents(run_dir, output, labels_path=None, limit=3000):
    """A t-SNE map of the run's document vectors (coloured by label) plus TensorBoard projector TSVs."""
    from .checkpoint import load_run

    task, model = load_run(run_dir)
    keys, vectors = task.document_vectors(model)
    labels = _labels(labels_path, keys)
    keep = list(range(len(keys)))[:limit]
    points = tsne(vectors[keep])
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 7))
    names = sorted(set(labels[i] for i in keep)) if labels else [None]
    for name in names:
        rows = [j for j, i in enumerate(keep) if labels is None or labels[i] == name]
        ax.scatter(points[rows, 0], points[rows, 1], s=6, label=name)
    if labels:
        ax.legend(fontsize="small", markerscale=2)
    ax.set_title(f"{Path(run_dir).resolve().name}: {len(keep)} documents (t-SNE)")
    fig.savefig(output, dpi=80)
    plt.close(fig)
    _projector_files(Path(output), keys, vectors, labels)
    return output


def _labels(path, keys):
    if not path:
        return None
    from .data import iter_lines

    lines = [line.strip() for _, line in iter_lines(path)]
    if max(keys, default=-1) >= len(lines):
        raise NlpkitError(f"{path}: {len(lines)} labels, but documents go up to line {max(keys) + 1}")
    return [lines[k] for k in keys]


def _projector_files(output, keys, vectors, labels):
    """vectors.tsv + metadata.tsv, what TensorBoard's embedding projector loads."""
    from .data import write_text

    stem = output.with_suffix("")
    write_text(f"{stem}.vectors.tsv", "".join("\t".join(f"{v:.6g}" for v in row) + "\n" for row in vectors.tolist()))
    header = "line\tlabel\n" if labels else ""
    rows = [f"{k}\t{labels[i]}" if labels else f"{k}" for i, k in enumerate(keys)]
    write_text(f"{stem}.metadata.tsv", header + "".join(r + "\n" for r in rows))


def main(argv):
    parser = argparse.ArgumentParser(prog="nlpkit plot", description="training curves, or a map of document vectors")
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("-o", "--output", default=None, help="PNG to write (default curves.png / docs.png)")
    parser.add_argument("--metric", default=None, help="dev metric to draw (default: the task's)")
    parser.add_argument("--docs", nargs="?", const="", default=None, metavar="LABELS",
                        help="map the run's document vectors instead (coloured by a labels file, one per line)")
    args = parser.parse_args(argv)
    if args.docs is not None:
        if len(args.runs) != 1:
            raise NlpkitError("--docs maps one run")
        out = plot_documents(args.runs[0], args.output or "docs.png", args.docs or None)
    else:
        out = plot_curves(args.runs, args.output or "curves.png", args.metric)
    print(f"nlpkit: wrote {out}", file=sys.stderr)
    return 0

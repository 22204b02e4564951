"""`nlpkit plot`: training curves of one or several runs (from their log.jsonl), and a 2-D map of a
run's document vectors (t-SNE, which keeps neighbourhoods) with TensorBoard projector files.

    nlpkit plot RUN_DIR [RUN_DIR ...] [-o curves.png] [--metric NAME]
    nlpkit plot RUN_DIR --docs [LABELS] [-o docs.png]

Chinese text (labels, run names) needs a font with Chinese glyphs; matplotlib ships none. An installed
one is found (also one installed after matplotlib cached its font list); without one, one line says
what to install, and the picture is still written.
"""
import math
import re
import sys
from pathlib import Path

from .errors import NlpkitError
from .telemetry import LOG_FILE, read_log

#: families of fonts with Chinese glyphs (Linux packages, macOS, Windows), and their file names
_CJK_FAMILY = re.compile(r"CJK|WenQuanYi|Source Han|Droid Sans Fallback|PingFang|Hiragino Sans GB|Heiti|YaHei|"
                         r"SimHei|SimSun|AR PL|Sarasa|LXGW", re.I)
_CJK_FILE = re.compile(r"cjk|wqy|sourcehan|droidsansfallback|pingfang|hiragino|yahei|msyh|simhei|simsun|"
                       r"uming|ukai|sarasa|lxgw", re.I)
_CHINESE = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]")
INSTALL_CJK = "apt-get install fonts-wqy-microhei (Debian/Ubuntu; or fonts-noto-cjk, dnf install google-noto-sans-cjk-fonts)"


def _pyplot(texts=()):
    """matplotlib's pyplot for files, with a Chinese font when any of `texts` needs one."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")  # files only, no screen
    import matplotlib.pyplot as plt

    if any(_CHINESE.search(str(t)) for t in texts):
        font = cjk_font()
        if font:
            plt.rcParams["font.sans-serif"] = [font, "DejaVu Sans"]
        else:
            print(f"nlpkit: no font with Chinese characters is installed, so Chinese text shows as boxes; "
                  f"install one: {INSTALL_CJK}", file=sys.stderr)
            warnings.filterwarnings("ignore", message="Glyph .* missing from font")  # said once, above
    return plt


def cjk_font():
    """The family name of an installed font with Chinese glyphs, or None. A font installed after
    matplotlib cached its list of fonts is looked for by file name and added."""
    from matplotlib import font_manager

    manager = font_manager.fontManager
    found = _cjk_family(manager)
    if found is None:
        for path in font_manager.findSystemFonts():
            if _CJK_FILE.search(Path(path).name):
                try:
                    manager.addfont(path)
                except (OSError, RuntimeError, ValueError):  # unreadable or not a font after all
                    continue
        found = _cjk_family(manager)
    return found


def _cjk_family(manager):
    """The first font known to matplotlib that is named as a Chinese font and draws 中, or None."""
    from matplotlib.ft2font import FT2Font

    for entry in manager.ttflist:
        if _CJK_FAMILY.search(entry.name):
            try:
                if FT2Font(entry.fname).get_char_index(ord("中")):
                    return entry.name
            except (OSError, RuntimeError):
                continue
    return None


# ---- training curves ----------------------------------------------------------------------------
def _runs(paths):
    """(legend label, log rows) per run folder; labels are the folder names, made longer where two
    runs share a name (a/run, b/run)."""
    rows = []
    for path in paths:
        folder = Path(path)
        if not folder.is_dir():
            raise NlpkitError(f"{path}: no such run folder")
        if not (folder / LOG_FILE).is_file():
            raise NlpkitError(f"{path}: no {LOG_FILE}: {_why_no_log(path)}")
        rows.append([r for r in _read_log(folder) if isinstance(r, dict) and _number(r.get("step")) is not None])
    return list(zip(_labels_for(paths), rows))


def _read_log(folder):
    try:
        return read_log(folder)
    except UnicodeDecodeError as e:
        raise NlpkitError(f"{folder / LOG_FILE}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def _why_no_log(path):
    """Why a folder has no training log: a task that writes none, or no nlpkit run at all."""
    from .checkpoint import CONFIG_FILE, read_run_config
    from .registry import get_task_class
    from .task import Task

    if not (Path(path) / CONFIG_FILE).is_file():
        return "not an nlpkit run folder (runs trained before nlpkit wrote logs cannot be plotted)"
    task_cls = get_task_class(read_run_config(path).task)
    maps = task_cls.document_vectors is not Task.document_vectors
    return (f"task {task_cls.name} writes no training log" +
            (f"; `nlpkit plot {path} --docs` maps its document vectors" if maps else ""))


def _labels_for(paths):
    """Each run's folder name, with as many parent folders as it takes to tell equal names apart."""
    parts = [Path(p).resolve().parts for p in paths]
    depth = 1
    while True:
        labels = ["/".join(q[-depth:]) for q in parts]
        if len(set(labels)) == len(labels) or depth >= max(len(q) for q in parts):
            return labels
        depth += 1


def _number(value):
    """value as a finite float, or None (a log line may lack a field, or hold something else)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _metric(runs, metric, run_dirs):
    """The dev metric to draw: the one asked for (which must be in a log), else the task's own, else the
    first one logged; None when no run logged an evaluation."""
    logged = list(dict.fromkeys(k for _, rows in runs for r in rows if isinstance(r.get("eval"), dict)
                                for k, v in r["eval"].items() if _number(v) is not None))
    if metric:
        if metric not in logged:
            raise NlpkitError(f"--metric {metric}: not in the runs' logs; logged: {', '.join(logged) or 'none'}")
        return metric
    own = _task_metric(run_dirs)
    return own if own in logged else (logged[0] if logged else None)


def _task_metric(run_dirs):
    """The metric the first run's task keeps its best checkpoint by (None without an nlpkit.yaml)."""
    from .checkpoint import CONFIG_FILE, read_run_config
    from .registry import get_task_class

    for run_dir in run_dirs:
        if (Path(run_dir) / CONFIG_FILE).is_file():
            return get_task_class(read_run_config(run_dir).task).metric
    return None


def _series(rows, get):
    """(steps, values) of the rows where get(row) is a number."""
    points = [(r["step"], _number(get(r))) for r in rows]
    points = [(s, v) for s, v in points if v is not None]
    return [s for s, _ in points], [v for _, v in points]


def plot_curves(run_dirs, output, metric=None):
    """Training loss, learning rate and a dev metric by step, one line per run, written to `output`."""
    fig = curves_figure(run_dirs, metric)
    _save(fig, output)
    _pyplot().close(fig)
    return [output]


def curves_figure(run_dirs, metric=None):
    """The matplotlib figure of plot_curves: three panels (loss, learning rate, dev metric)."""
    runs = _runs(run_dirs)
    metric = _metric(runs, metric, run_dirs)
    plt = _pyplot([name for name, _ in runs])
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    panels = ["training loss", "learning rate", f"dev {metric}" if metric else "dev: no evaluation in the logs"]
    for name, rows in runs:
        axes[0].plot(*_series(rows, lambda r: r.get("loss")), label=name)
        axes[1].plot(*_series(rows, lambda r: r.get("lr")), label=name)
        evals = _series(rows, lambda r: r["eval"].get(metric) if isinstance(r.get("eval"), dict) else None)
        axes[2].plot(*evals, marker="o", label=name)
    for ax, title in zip(axes, panels):
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def _save(fig, output):
    """Write the figure to `output` whole or not at all (the format from its suffix)."""
    from .data import atomic_path

    with atomic_path(output) as tmp:
        fig.savefig(tmp, dpi=80, format=Path(output).suffix[1:].lower())


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
    """A t-SNE map of the run's document vectors (coloured by label) plus TensorBoard projector TSVs;
    returns the files written."""
    from .checkpoint import load_run

    task, model = load_run(run_dir)
    keys, vectors = task.document_vectors(model)
    labels = _labels(labels_path, keys)
    keep = list(range(len(keys)))[:limit]
    points = tsne(vectors[keep])
    names = sorted(set(labels[i] for i in keep)) if labels else [None]
    title = f"{Path(run_dir).resolve().name}: {len(keep)} documents (t-SNE)"
    plt = _pyplot([title, *names])
    fig, ax = plt.subplots(figsize=(7, 7))
    for name in names:
        rows = [j for j, i in enumerate(keep) if labels is None or labels[i] == name]
        ax.scatter(points[rows, 0], points[rows, 1], s=6, label=name)
    if labels:
        ax.legend(fontsize="small", markerscale=2)
    ax.set_title(title)
    _save(fig, output)
    plt.close(fig)
    return [output, *_projector_files(Path(output), keys, vectors, labels)]


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

    vectors_tsv, metadata_tsv = _projector_paths(output)
    write_text(vectors_tsv, "".join("\t".join(f"{v:.6g}" for v in row) + "\n" for row in vectors.tolist()))
    header = "line\tlabel\n" if labels else ""
    rows = [f"{k}\t{labels[i]}" if labels else f"{k}" for i, k in enumerate(keys)]
    write_text(metadata_tsv, header + "".join(r + "\n" for r in rows))
    return [vectors_tsv, metadata_tsv]


def _projector_paths(output):
    stem = Path(output).with_suffix("")
    return Path(f"{stem}.vectors.tsv"), Path(f"{stem}.metadata.tsv")


def _output(path, default):
    """The image file to write: -o as given (.png added when it has no suffix), checked before any work."""
    from matplotlib.backend_bases import FigureCanvasBase

    out = Path(path or default)
    if out.is_dir():
        raise NlpkitError(f"-o {path}: is a folder; give a file name, e.g. {out / default}")
    if not out.suffix:
        out = out.with_name(out.name + ".png")
    formats = FigureCanvasBase.get_supported_filetypes()
    if out.suffix[1:].lower() not in formats:
        raise NlpkitError(f"-o {path}: not an image file name; expected .png, .svg, .pdf, .jpg "
                          f"(or {', '.join('.' + f for f in sorted(set(formats) - {'png', 'svg', 'pdf', 'jpg'}))})")
    if not out.parent.is_dir():
        raise NlpkitError(f"-o {path}: no such folder {out.parent}")
    return out


def main(argv):
    from .cli import Parser

    parser = Parser(prog="nlpkit plot", description="training curves, or a map of document vectors")
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("-o", "--output", default=None, help="PNG to write (default curves.png / docs.png)")
    parser.add_argument("--metric", default=None, help="dev metric to draw (default: the task's)")
    parser.add_argument("--docs", nargs="?", const="", default=None, metavar="LABELS",
                        help="map the run's document vectors instead (coloured by a labels file, one per line)")
    args = parser.parse_args(argv)
    if args.docs is not None:
        if len(args.runs) != 1:
            raise NlpkitError("--docs maps one run")
        written = plot_documents(args.runs[0], _output(args.output, "docs.png"), args.docs or None)
    else:
        written = plot_curves(args.runs, _output(args.output, "curves.png"), args.metric)
    print(f"nlpkit: wrote {', '.join(map(str, written))}", file=sys.stderr)
    return 0

"""Telemetry: log.jsonl, evaluation inside epochs, TensorBoard events, `nlpkit plot`."""
import math

import matplotlib.pyplot as plt
import pytest

import nlpkit.plot as plot
from helpers import small_tsv
from nlpkit.cli import main
from nlpkit.config import build_config
from nlpkit.registry import get_task_class
from nlpkit.telemetry import read_log
from nlpkit.training import train_task

Seq2Seq = get_task_class("seq2seq")
SMALL = ["tiny.hidden_size=32", "tiny.intermediate_size=64", "tiny.num_hidden_layers=1", "trainer.batch_size=8",
         "trainer.progress=false", "max_length=96", "trainer.log_every_steps=2"]
PNG = b"\x89PNG\r\n\x1a\n"


def _train(tmp_path, name, *extra):
    data = small_tsv(tmp_path)  # 40 records: 5 steps an epoch
    cfg = build_config(Seq2Seq, [f"data.train={data}", f"data.dev={data}", f"output_dir={tmp_path / name}",
                                 *SMALL, *extra])
    train_task(Seq2Seq(cfg), cfg)
    return tmp_path / name


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("tel"), "run", "trainer.epochs=2", "trainer.eval_every_steps=3",
                  "trainer.log_with=tensorboard")


def test_log_lines(run):
    rows = read_log(run)
    train = [r for r in rows if "loss" in r]
    assert [r["step"] for r in train] == [2, 4, 6, 8, 10]  # strictly increasing, every log_every_steps
    assert all(math.isfinite(r["loss"]) and r["lr"] >= 0 and r["grad_norm"] > 0 and r["samples_per_second"] > 0
               for r in train)
    assert train[-1]["epoch"] == 2.0 and train[-1]["elapsed"] >= train[0]["elapsed"]
    # evaluations every 3 steps inside the epochs, and at both epoch ends
    assert [r["step"] for r in rows if "eval" in r] == [3, 5, 6, 9, 10]
    assert all("rouge-l" in r["eval"] for r in rows if "eval" in r)


def test_tensorboard_events_hold_the_scalars(run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = [p for p in (run / "trackers").rglob("events.out.tfevents.*")]
    assert events
    scalars = {}
    for path in events:
        acc = EventAccumulator(str(path))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            scalars[tag] = [(e.step, e.value) for e in acc.Scalars(tag)]
    logged = [r for r in read_log(run) if "loss" in r]
    assert [s for s, _ in scalars["train/loss"]] == [r["step"] for r in logged]
    assert all(abs(v - r["loss"]) < 1e-5 for (_, v), r in zip(scalars["train/loss"], logged))
    assert [s for s, _ in scalars["eval/rouge-l"]] == [3, 5, 6, 9, 10]


def _panels(runs, metric=None):
    """What `nlpkit plot` draws: per panel its title and each run's line as (steps, values)."""
    fig = plot.curves_figure(runs, metric)
    try:
        return [(ax.get_title(), [(list(map(float, line.get_xdata())), list(map(float, line.get_ydata())))
                                  for line in ax.lines]) for ax in fig.axes]
    finally:
        plt.close(fig)


def _logged(run, get):
    """(steps, values) of the run's log lines that hold get(row)."""
    rows = [(float(r["step"]), float(get(r))) for r in read_log(run) if get(r) is not None]
    return [s for s, _ in rows], [v for _, v in rows]


def test_plot_one_and_two_runs(run, tmp_path):
    other = _train(tmp_path, "other", "trainer.epochs=1")
    for runs, name in (([run], "one.png"), ([run, other], "two.png")):
        assert main(["plot", *map(str, runs), "-o", str(tmp_path / name)]) == 0
        assert (tmp_path / name).read_bytes()[:8] == PNG
    loss, lr, dev = _panels([run, other])
    assert loss == ("training loss", [_logged(r, lambda row: row.get("loss")) for r in (run, other)])
    assert lr[0] == "learning rate" and [len(s) for s, _ in lr[1]] == [5, 2]
    rouge = [_logged(r, lambda row: row.get("eval", {}).get("rouge-l")) for r in (run, other)]
    assert dev == ("dev rouge-l", rouge) and [s for s, _ in rouge] == [[3, 5, 6, 9, 10], [5]]
    assert _panels([run], "bleu")[2] == ("dev bleu", [_logged(run, lambda row: row.get("eval", {}).get("bleu"))])


def test_plot_draws_the_tasks_own_metric(tmp_path):
    """classify logs accuracy first and keeps its checkpoints by micro_f1: the dev panel is micro_f1 at
    every evaluation."""
    out = tmp_path / "classify"
    assert main(["train", "task=classify", f"output_dir={out}", "trainer.progress=false", "trainer.threads=1",
                 "trainer.epochs=1", "trainer.eval_every_steps=20"]) == 0
    logged = _logged(out, lambda row: row.get("eval", {}).get("micro_f1"))
    assert logged[0] == [20, 40, 60, 63] and all(list(r["eval"])[0] == "accuracy" for r in read_log(out) if "eval" in r)
    assert _panels([out])[2] == ("dev micro_f1", [logged])


def test_plot_without_a_log_is_one_clear_line(tmp_path, capsys):
    assert main(["plot", str(tmp_path), "-o", str(tmp_path / "x.png")]) == 2
    assert f"{tmp_path}: no log.jsonl" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_plot_jose_documents(tmp_path):
    jose = get_task_class("jose")
    labels = jose.sample_path("dev")
    assert main(["train", "task=jose", f"output_dir={tmp_path / 'jose'}", "progress=false", "jose.epochs=2"]) == 0
    assert main(["plot", str(tmp_path / "jose"), "--docs", labels, "-o", str(tmp_path / "docs.png")]) == 0
    assert (tmp_path / "docs.png").read_bytes()[:8] == PNG
    vectors = (tmp_path / "docs.vectors.tsv").read_text().splitlines()
    meta = (tmp_path / "docs.metadata.tsv").read_text(encoding="utf-8").splitlines()
    assert meta[0] == "line\tlabel" and len(meta) == len(vectors) + 1 and len(vectors[0].split("\t")) > 10


def test_tsne_keeps_clusters_apart():
    import numpy as np

    from nlpkit.plot import tsne

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 0.1, (30, 8)), rng.normal(5, 0.1, (30, 8))])
    y = tsne(x, steps=300)
    a, b = y[:30], y[30:]
    spread = max(np.linalg.norm(a - a.mean(0), axis=1).max(), np.linalg.norm(b - b.mean(0), axis=1).max())
    assert np.linalg.norm(a.mean(0) - b.mean(0)) > 2 * spread

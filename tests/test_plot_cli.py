"""`nlpkit plot` on what users hand it: odd log lines, odd -o targets, unknown metrics, runs with equal
folder names, a run without a training log, Chinese labels with and without a Chinese font."""
import json

import pytest

import nlpkit.plot as plot
from nlpkit.cli import main
from nlpkit.registry import get_task_class

PNG = b"\x89PNG\r\n\x1a\n"


def _fake_run(folder, rows):
    folder.mkdir(parents=True)
    (folder / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder


@pytest.fixture
def runs(tmp_path):
    rows = [{"step": s, "epoch": s / 10, "loss": 1 / s, "lr": 1e-3} for s in range(1, 11)]
    rows[3].pop("lr")  # a line without lr (an older nlpkit, or an edited log)
    rows += [{"step": 10, "epoch": 1.0, "eval": {"acc": 0.5, "f1": 0.4}}, [1, 2], {"step": "x"}, {"loss": 1}]
    return [_fake_run(tmp_path / d / "run", rows) for d in ("a", "b")]


def _one_error_line(capsys):
    err = capsys.readouterr().err
    assert err.startswith("nlpkit: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_odd_log_lines_plot_and_the_real_file_is_reported(runs, tmp_path, capsys):
    assert main(["plot", *map(str, runs), "-o", str(tmp_path / "curves")]) == 0
    assert (tmp_path / "curves.png").read_bytes()[:8] == PNG and not (tmp_path / "curves").exists()
    assert capsys.readouterr().err == f"nlpkit: wrote {tmp_path / 'curves.png'}\n"


def test_runs_with_equal_folder_names_get_distinct_labels(runs):
    assert plot._labels_for(runs) == ["a/run", "b/run"]
    assert plot._labels_for([runs[0], runs[0].parent]) == ["run", "a"]


@pytest.mark.parametrize("target, says", [
    ("x.txt", "not an image file name"),
    ("missing/x.png", "no such folder"),
    ("a/run/log.jsonl", "not an image file name"),  # onto a run's own file
    ("a", "is a folder"),
])
def test_bad_output_is_one_line_and_writes_nothing(runs, tmp_path, capsys, target, says):
    log = (runs[0] / "log.jsonl").read_bytes()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main(["plot", str(runs[0]), "-o", str(tmp_path / target)]) == 2
    assert says in _one_error_line(capsys)
    assert (runs[0] / "log.jsonl").read_bytes() == log and sorted(p.name for p in tmp_path.rglob("*")) == before


def test_unknown_metric_names_the_logged_ones(runs, tmp_path, capsys):
    assert main(["plot", str(runs[0]), "--metric", "nosuch", "-o", str(tmp_path / "m.png")]) == 2
    assert "--metric nosuch: not in the runs' logs; logged: acc, f1" in _one_error_line(capsys)
    assert not (tmp_path / "m.png").exists()


def test_every_task_declares_the_metric_plot_draws():
    """plot reads the metric from the task class (it has a run's config, not a task object)."""
    from nlpkit.registry import task_names

    assert all(isinstance(get_task_class(name).metric, str) and get_task_class(name).metric
               for name in task_names())


def test_a_binary_log_is_one_line(tmp_path, capsys):
    run = _fake_run(tmp_path / "run", [])
    (run / "log.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    assert main(["plot", str(run), "-o", str(tmp_path / "c.png")]) == 2
    assert "log.jsonl: not UTF-8 text" in _one_error_line(capsys)


def test_usage_errors_are_one_line(capsys):
    assert main(["plot"]) == 2
    assert "the following arguments are required: RUN_DIR" in _one_error_line(capsys)


@pytest.fixture(scope="module")
def jose_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("plotjose") / "jose"
    assert main(["train", "task=jose", f"output_dir={out}", "progress=false", "jose.epochs=1"]) == 0
    return out


def test_a_jose_run_is_told_to_use_docs(jose_run, tmp_path, capsys):
    assert main(["plot", str(jose_run), "-o", str(tmp_path / "c.png")]) == 2
    err = _one_error_line(capsys)
    assert "task jose writes no training log" in err and "--docs" in err and "before" not in err


def test_docs_reports_every_file_and_says_what_font_to_install(jose_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(plot, "cjk_font", lambda: None)  # a machine without a Chinese font
    labels = get_task_class("jose").sample_path("dev")
    assert main(["plot", str(jose_run), "--docs", labels, "-o", str(tmp_path / "docs")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("nlpkit: no font with Chinese characters") and "fonts-wqy-microhei" in err[0]
    written = [tmp_path / n for n in ("docs.png", "docs.vectors.tsv", "docs.metadata.tsv")]
    assert err[1:] == [f"nlpkit: wrote {', '.join(map(str, written))}"]
    assert all(p.is_file() for p in written) and written[0].read_bytes()[:8] == PNG


def test_a_chinese_font_is_found_when_one_is_installed():
    font = plot.cjk_font()
    if font is None:
        pytest.skip(f"no Chinese font on this machine ({plot.INSTALL_CJK})")
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    path = font_manager.findfont(font_manager.FontProperties(family=font), fallback_to_default=False)
    assert FT2Font(path).get_char_index(ord("中"))

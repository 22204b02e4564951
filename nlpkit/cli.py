"""The `nlpkit` command: train / evaluate / predict / config / tasks / wordcount."""
import argparse
import json
import os
import sys
from pathlib import Path
from typing import List, Optional, Sequence

from .errors import NlpkitError

USAGE = """usage:
  nlpkit train    task=NAME [data.train=F data.dev=F model=tiny|DIR output_dir=D key=value ...] [--help]
  nlpkit evaluate model=RUN_DIR [data=F] [output=F] [device=auto|cpu|cuda] [dtype=...] [key=value ...]
                                                                   prints one JSON object of metrics
  nlpkit predict  model=RUN_DIR input=F [output=F] [batch_size=N] [device=...] [dtype=...] [key=value ...]
                                                                   JSONL in, JSONL out
  nlpkit config   task=NAME [model=tiny|DIR] [key=value ...]     every key: default, what it accepts, doc
  nlpkit tasks                                                     lists the tasks
  nlpkit plot     RUN_DIR [RUN_DIR ...] [-o curves.png] [--metric NAME] | RUN_DIR --docs [LABELS]
  nlpkit wordcount PATH... [-o out.tsv] [-j WORKERS] ...           see `nlpkit wordcount -h`
  nlpkit serve    RUN_DIR [RUN_DIR ...] [--port 8000] [device=...] ...   HTTP service + page; see `nlpkit serve -h`
  nlpkit export   RUN_DIR -o OUT [--quantize int8] [overwrite=true]   ONNX, checked against torch; see `nlpkit export -h`
"""


class Parser(argparse.ArgumentParser):
    """argparse for nlpkit's subcommands: a usage error is nlpkit's one line (`nlpkit: error: ...`, exit 2)."""

    def error(self, message):
        raise NlpkitError(f"{self.prog}: {message} (see `{self.prog} -h`)")


def _split(args, names):
    """Pull the command's own arguments (e.g. model=, data=) out of the key=value list."""
    own, rest = {}, []
    for a in args:
        key = a.split("=", 1)[0]
        if key in names and "=" in a:
            own[key] = a.split("=", 1)[1]
        else:
            rest.append(a)
    return own, rest


def _task_class(own):
    from .registry import get_task_class

    if "task" not in own:
        raise NlpkitError("needs task=NAME (see `nlpkit tasks`)")
    return get_task_class(own["task"])


def _is_main_process():
    return os.environ.get("RANK", "0") == "0"


def cmd_train(args: List[str]) -> int:
    from .config import build_config, changes
    from .launch import lost_processes, relaunch
    from .profiles import describe as describe_profile

    wants_help = any(a in ("-h", "--help") for a in args)
    own, rest = _split([a for a in args if a not in ("-h", "--help")], {"task"})
    task_cls = _task_class(own)
    if wants_help:
        return cmd_config([f"task={task_cls.name}", *rest])
    cfg = build_config(task_cls, rest)
    n = lost_processes()
    if n:
        relaunch(n)
    if cfg.output_dir is None:
        cfg.output_dir = f"runs/{task_cls.name}"
    if _is_main_process():
        lines = changes(cfg, task_cls)
        if task_cls.profiles():
            lines.insert(0, describe_profile(task_cls.profiles(), cfg.model, cfg.get("tiny")))
        print(f"nlpkit: train {task_cls.name}" + "".join(f"\n  {line}" for line in lines), file=sys.stderr)
    before = _finished_stamp(cfg.output_dir)
    try:
        out = task_cls(cfg).fit(cfg)
    except OSError as e:
        if e.filename is None:  # a failed write() names no file: say where training was writing
            raise NlpkitError(f"training stopped: {e.strerror or e} while writing {_written_to(e, cfg)}") from None
        raise
    if _is_main_process() and (before is None or _finished_stamp(out) != before):
        print(f"nlpkit: run saved to {out}", file=sys.stderr)  # not when resume=true found nothing to do
    return 0


def _written_to(e, cfg):
    """The run folder or the cache, or for a full disk the one of them that is full."""
    import errno

    from .cache import cache_root

    places = {f"output_dir {cfg.output_dir}": Path(cfg.output_dir),
              f"the cache {cache_root()} (NLPKIT_CACHE)": cache_root()}
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        full = [name for name, path in places.items() if _free_bytes(path) < (1 << 20)]
        return " and ".join(full or places)
    return " or ".join(places)


def _free_bytes(path):
    path = Path(path).absolute()
    while not path.exists():  # the nearest folder that exists is on the same disk
        path = path.parent
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _finished_stamp(run_dir):
    """When the run in `run_dir` was finished (its metrics file written), or None."""
    from .checkpoint import METRICS_FILE

    try:
        return (Path(run_dir) / METRICS_FILE).stat().st_mtime_ns
    except OSError:
        return None


def cmd_config(args: List[str]) -> int:
    from .config import describe

    own, rest = _split(args, {"task", "model"})
    task_cls = _task_class(own)
    model = own.get("model", "tiny")
    if model != "tiny" and not Path(model).is_dir():
        raise NlpkitError(f"model={model}: no such folder (expected tiny or a checkpoint folder)")
    print("\n".join(describe(task_cls, model, rest)))
    return 0


def _load_task(own, rest, required):
    from .checkpoint import load_task

    for key in required:
        if key not in own:
            raise NlpkitError(f"missing {key}=...")
    return load_task(own["model"], rest, expect_task=own.get("task"))


def _placement(own):
    """(device, dtype) from device= / dtype= (auto: a GPU when there is one), checked before anything loads."""
    from .devices import resolve_device, resolve_dtype

    device = resolve_device(own.get("device", "auto"))
    return device, resolve_dtype(own.get("dtype", "auto"), device)


def _output_path(path):
    p = Path(path)
    if p.is_dir():
        raise NlpkitError(f"output={path}: is a folder, expected a file path")
    if not p.parent.is_dir():
        raise NlpkitError(f"output={path}: no such folder {p.parent}")
    return p


def cmd_evaluate(args: List[str]) -> int:
    own, rest = _split(args, {"task", "model", "data", "output", "device", "dtype"})
    device, dtype = _placement(own)
    if "output" in own:
        rest.append(f"eval_output={_output_path(own['output'])}")
    task = _load_task(own, rest, ["model"])
    path = own.get("data") or task.eval_data()
    if not path:
        raise NlpkitError("missing data=FILE (the run has no dev data of its own)")
    records = task.read_data(path)
    with task.doing("evaluate"):
        metrics = task.evaluate(task.place(task.load_run(own["model"]), device, dtype), records)
    print(json.dumps(metrics, ensure_ascii=False))
    return 0


def _batch_size(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise NlpkitError(f"batch_size={text}: expected an integer >= 1")
    return value


def cmd_predict(args: List[str]) -> int:
    from .data import write_jsonl
    from .inference import call_batch_size

    own, rest = _split(args, {"task", "model", "input", "output", "batch_size", "device", "dtype"})
    device, dtype = _placement(own)
    batch = _batch_size(own.get("batch_size", "32"))
    output = _output_path(own["output"]) if "output" in own else None
    task = _load_task(own, rest, ["model", "input"])
    records = task.read_input_data(own["input"])
    model = task.place(task.load_run(own["model"]), device, dtype)
    with call_batch_size(task, batch):  # all at once: the core sorts them into batches by length, with progress
        predictions = task.predict(model, records)
    rows = task.output_rows(records, predictions)
    if output is not None:
        write_jsonl(output, rows)
    else:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
    return 0


def cmd_tasks(args: List[str]) -> int:
    from .registry import description, task_names

    for name in task_names():
        print(f"{name:10s} {description(name)}")
    return 0


def cmd_plot(args: List[str]) -> int:
    from .plot import main as plot_main

    return plot_main(args)


def cmd_wordcount(args: List[str]) -> int:
    from .wordcount.cli import main as wordcount_main

    return wordcount_main(args)


def cmd_serve(args: List[str]) -> int:
    from .serve import main as serve_main  # Starlette and uvicorn are imported only here (the serve extra)

    return serve_main(args)


def cmd_export(args: List[str]) -> int:
    from .config import parse_value
    from .export import DEFAULT_LIMIT, QUANTIZATIONS, export_run

    own, rest = _split(args, {"overwrite"})
    overwrite = parse_value("overwrite", own.get("overwrite", "false"), bool)
    parser = Parser(prog="nlpkit export", description="A finished run (classify, ner, triples, nl2sql) as ONNX graphs run "
                    "by onnxruntime; written only when its predictions equal the torch model's on >= 99.5% of "
                    "the check data. overwrite=true replaces an existing export.")
    parser.add_argument("run", metavar="RUN_DIR")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="the export folder (must not exist)")
    parser.add_argument("--quantize", choices=QUANTIZATIONS, help="dynamic int8 quantization (onnxruntime)")
    parser.add_argument("--data", metavar="FILE", help="check data (default: the run's dev data)")
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, metavar="N",
                        help=f"check on the first N records (default {DEFAULT_LIMIT})")
    a = parser.parse_args(rest)
    if a.limit < 1:
        raise NlpkitError(f"--limit {a.limit}: expected an integer >= 1")
    export_run(a.run, a.output, a.quantize, overwrite, a.data, a.limit, say=lambda line: print(line, file=sys.stderr))
    print(f"nlpkit: exported to {a.output}", file=sys.stderr)
    return 0


def os_error_line(e):
    """`path: cause` of an OSError (both paths of a failed rename), the cause alone when it names none."""
    where = ": ".join(str(f) for f in (e.filename, e.filename2) if f is not None)
    why = e.strerror or str(e) or type(e).__name__
    return f"{where}: {why}" if where else why


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict, "config": cmd_config,
            "tasks": cmd_tasks, "plot": cmd_plot, "wordcount": cmd_wordcount, "serve": cmd_serve,
            "export": cmd_export}


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    command = COMMANDS.get(argv[0])
    if command is None:
        print(f"nlpkit: unknown command '{argv[0]}'\n{USAGE}", file=sys.stderr)
        return 2
    try:
        return command(argv[1:]) or 0
    except NlpkitError as e:
        print(f"nlpkit: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # disk full, a file size limit, permission denied...: where and why, one line
        print(f"nlpkit: error: {os_error_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nlpkit: interrupted (continue a training run with resume=true)", file=sys.stderr)
        return 130


def show_warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one `nlpkit: warning:` line: nlpkit's warnings speak to the user (what was cut, what
    was skipped), so Python's path and source line beneath them are noise."""
    print(f"nlpkit: warning: {message}", file=file or sys.stderr)


def run() -> int:
    """The `nlpkit` command: main() with warnings as one line each (see show_warning_line)."""
    import warnings

    warnings.showwarning = show_warning_line
    return main()


if __name__ == "__main__":
    sys.exit(run())

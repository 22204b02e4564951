"""The `nlpkit` command: train / evaluate / predict / tasks / wordcount."""
import json
import sys

from .errors import NlpkitError

USAGE = """usage:
  nlpkit train    task=NAME [data.train=F data.dev=F model=tiny|DIR output_dir=D key=value ...]
  nlpkit evaluate [task=NAME] model=RUN_DIR [data=F] [key=value ...]   prints one JSON object of metrics
  nlpkit predict  [task=NAME] model=RUN_DIR input=F [output=F] [key=value ...]   JSONL in, JSONL out
  nlpkit tasks                                                          lists the tasks
  nlpkit wordcount PATH... [-o out.tsv] [-j WORKERS] ...                see `nlpkit wordcount -h`
"""


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


def cmd_train(args):
    from .config import build_config
    from .registry import get_task_class

    own, rest = _split(args, {"task"})
    if "task" not in own:
        raise NlpkitError("train needs task=NAME (see `nlpkit tasks`)")
    task_cls = get_task_class(own["task"])
    cfg = build_config(task_cls, rest)
    if cfg.output_dir is None:
        cfg.output_dir = f"runs/{task_cls.name}"
    task = task_cls(cfg)
    out = task.fit(cfg)
    print(f"nlpkit: run saved to {out}", file=sys.stderr)
    return 0


def _load(own, rest, required):
    from .checkpoint import load_run

    for key in required:
        if key not in own:
            raise NlpkitError(f"missing {key}=...")
    return load_run(own["model"], rest, expect_task=own.get("task"))


def cmd_evaluate(args):
    own, rest = _split(args, {"task", "model", "data", "output"})
    task, model = _load(own, rest, ["model"])
    path = own.get("data") or task.sample_path("dev")
    if not path:
        raise NlpkitError("missing data=FILE")
    metrics = task.evaluate(model, task.read(path), **({"output": own["output"]} if "output" in own else {}))
    print(json.dumps(metrics, ensure_ascii=False))
    return 0


def cmd_predict(args):
    own, rest = _split(args, {"task", "model", "input", "output", "batch_size"})
    task, model = _load(own, rest, ["model", "input"])
    records = task.read_inputs(own["input"])
    batch = int(own.get("batch_size", 32))
    predictions = []
    from tqdm.auto import tqdm

    for start in tqdm(range(0, len(records), batch), desc="predict", disable=len(records) <= batch):
        predictions += task.predict(model, records[start : start + batch])
    if "output" in own:
        task.write_predictions(own["output"], records, predictions)
    else:
        for p in predictions:
            print(json.dumps(p, ensure_ascii=False))
    return 0


def cmd_tasks(args):
    from .registry import get_task_class, task_names

    for name in task_names():
        doc = (get_task_class(name).__doc__ or "").strip().splitlines()
        print(f"{name:10s} {doc[0] if doc else ''}")
    return 0


def cmd_wordcount(args):
    from .wordcount.cli import main as wordcount_main

    return wordcount_main(args)


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict, "tasks": cmd_tasks,
            "wordcount": cmd_wordcount}


def main(argv=None):
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
    except KeyboardInterrupt:
        print("nlpkit: interrupted (continue a training run with resume=true)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The task contract: what a folder under tasks/ implements so the core can train, evaluate, predict
and serve it without ever branching on its name.

`Task` is the minimal contract every task meets (read data, fit, load a run, predict, evaluate,
pipeline). `BertTask` adds the hooks of a BERT fine-tune trained by the shared accelerate loop:
data flows file -> read() (records) -> encode() (features) -> collate() (tensors) -> model ->
loss() when training. Inference is two templates of the core (nlpkit.inference): predict() runs the
task's predict_batch() over batches (and windows() / merge() for long inputs), evaluate() scores
those predictions with the task's score() and writes its rows to `eval_output`.
"""
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Optional, Sequence, Tuple

from .config import BertRunConfig, RunConfig
from .data import read_jsonl
from .errors import NlpkitError

if TYPE_CHECKING:
    import torch


class Task:
    name = ""
    #: key of evaluate()'s result that picks the best checkpoint (higher is better)
    metric = "loss"
    #: bundled sample files, relative to the task folder; used when data.train/data.dev are not given
    sample = {"train": None, "dev": None}
    #: the typed config: a dataclass built on RunConfig (see nlpkit.config)
    config_class = RunConfig
    #: config keys or sections a predict / pipeline call may set for itself (e.g. ("decode",))
    call_options = ()
    #: other per-call options, passed as given to as_record() and predict() (e.g. nl2sql's "table")
    call_extras = ()
    #: per-call options that name a file or folder on this machine (`nlpkit serve` refuses them per request)
    file_options = ()
    #: files a run of this task writes besides the checkpoint's own (removed with the run on overwrite=true)
    run_files = ()
    #: the task's keys a resumed run may set differently (besides nlpkit.checkpoint.RESUME_MAY_CHANGE)
    resume_may_change = ()
    #: what the user asked for while it runs ("evaluate"), naming the progress bars; see doing()
    activity = None
    #: True where a checkpoint folder as published (config.json, weights, vocabulary; no nlpkit run) is
    #: already a model of this task (mlm: the checkpoint's own MLM head), so evaluate / predict / pipeline
    #: take one with task=NAME, configured by the task's profile for it: scores before any fine-tuning
    checkpoint_is_model = False

    def __init__(self, cfg: Any, state: Optional[dict] = None) -> None:
        self.cfg = cfg
        #: JSON-serialisable facts learnt from the training data (label names, ...); saved in the run dir
        self.state = dict(state or {})

    @classmethod
    def profiles(cls) -> Optional[dict]:
        """{model class: profile} (see nlpkit.profiles), or None for a task with one set of defaults."""
        return None

    @property
    def labels(self) -> Optional[list]:
        """What the model chooses among, for listings (`nlpkit serve`): the labels it learnt (state
        "labels"); a task whose choices are other things (ner's tags) says so; None when there are none."""
        return self.state.get("labels")

    @classmethod
    def profile(cls, model: str) -> dict:
        """Defaults that depend on the model the user brings (a nested dict merged over config_class)."""
        return {}

    @classmethod
    def folder(cls) -> Path:
        """The task's folder (sample/, README.md): that of the first class defined under tasks/."""
        import inspect

        for k in cls.__mro__:
            if k.__module__.startswith("nlpkit.tasks."):
                return Path(inspect.getfile(k)).parent
        return Path(inspect.getfile(cls)).parent

    @classmethod
    def sample_path(cls, split: str) -> Optional[str]:
        rel = cls.sample.get(split)
        return str(cls.folder() / rel) if rel else None

    # ---- data ------------------------------------------------------------------------------
    def read(self, path: str) -> list:
        """Read gold data (training or evaluation) into a list of records. Errors name file, line and field."""
        raise NotImplementedError

    def eval_data(self) -> Optional[str]:
        """The gold data `nlpkit evaluate` scores a run on when no data= is given: the run's own dev
        data, or the bundled sample's when the run trained on the sample."""
        return self.cfg.data.dev or (None if self.cfg.data.train else self.sample_path("dev"))

    def read_data(self, path: str) -> list:
        """Gold records from `path`: the task's own format (read()), or a table -- CSV, Parquet, Arrow, a
        `datasets` save_to_disk folder; JSON/JSONL/TSV-with-header when data.columns maps columns --
        whose rows from_row() turns into records."""
        rows = self._table_rows(path)
        return self.read(path) if rows is None else [self.from_row(row, path, line) for line, row in rows]

    def _table_rows(self, path: str) -> Optional[list]:
        """(line, row) of `path` read as a table, or None when it is in the task's own format."""
        from .data import read_table, reads_as_table

        if type(self).from_row is Task.from_row:  # the task reads tables in read() itself, or not at all
            return None
        columns = dict(self.cfg.data.columns)
        return read_table(path, columns or None) if reads_as_table(path, columns) else None

    def from_row(self, row: dict, path: str, line: int) -> dict:
        """A table row (a dict of the task's field names, after data.columns) -> a record. A task that
        defines it reads every table format through read_data(); one that does not gets only read()."""
        raise NotImplementedError

    def read_input_data(self, path: str) -> list:
        """`nlpkit predict input=F`: a table's rows (see read_data) as pipeline inputs, else read_inputs()."""
        from .data import check_file

        rows = self._table_rows(path)
        return self.read_inputs(str(check_file(path))) if rows is None else [self.as_record(row) for _, row in rows]

    def read_inputs(self, path: str) -> list:
        """Records for `nlpkit predict input=F` (JSONL by default)."""
        return read_jsonl(path)

    def as_record(self, item: Any, **options: Any) -> dict:
        """A pipeline input -> an input record: a string, or a record with a "text" string."""
        text = item if isinstance(item, str) else item.get("text") if isinstance(item, dict) else None
        if not isinstance(text, str):
            raise NlpkitError(f'{self.name}: expected a string or a record with a "text" string, got {item!r:.80}')
        return {"text": text} if isinstance(item, str) else dict(item)

    # ---- running ---------------------------------------------------------------------------
    def fit(self, cfg: Any) -> str:
        """Train and write a run directory; returns its path."""
        raise NotImplementedError

    def load_run(self, run_dir: str) -> Any:
        """The model saved in a finished run directory, ready for predict/evaluate."""
        raise NotImplementedError

    def place(self, model: Any, device: Any = "auto", dtype: Any = "auto") -> Any:
        """Put a loaded model where inference runs (see nlpkit.devices); this task runs on the CPU."""
        from .devices import resolve_device, resolve_dtype

        dev = resolve_device(device)
        resolve_dtype(dtype, dev)
        if dev.type != "cpu":
            raise NlpkitError(f"device={device}: task {self.name} runs on the CPU only")
        return model

    def predict(self, model: Any, records: Sequence[dict], **options: Any) -> list:
        """A list of input records -> a list of JSON-serialisable predictions, one per record. `options`
        are validated per-call settings (see call_options). A template (nlpkit.inference): batching,
        eval mode, inference_mode and long-input windows are the core's; the task's part is
        predict_batch() (and windows()/merge() for long inputs)."""
        from .inference import predict

        return predict(self, model, records, options)

    def predict_batch(self, model: Any, records: Sequence, **options: Any) -> list:
        """One batch of input records (or of windows, when the task merges windows) -> one prediction
        each. Runs under torch.inference_mode() with the model unwrapped and in eval mode; tensors go
        to nlpkit.inference.device_of(model)."""
        raise NotImplementedError

    def windows(self, record: dict, **options: Any) -> Optional[list]:
        """The windows (nlpkit.windows) a record is read in, one when it fits; None: the task reads
        records whole. See nlpkit.inference for how they are batched."""
        return None

    #: merge(record, windows, outputs, **options) -> the record's prediction from its windows' outputs; a task
    #: that reads a record's windows together (they vote) leaves it None and gets windows= instead
    merge: Optional[Callable[..., Any]] = None

    def eval_predictions(self, model: Any, records: Sequence[dict], **options: Any) -> list:
        """What evaluate() scores: predict() of the gold records, unless the task's metrics read something
        else (likelihoods, masked tokens; batched through nlpkit.inference.batched)."""
        return self.predict(model, records, **options)

    def score(self, records: Sequence[dict], predictions: list) -> Tuple[dict, list]:
        """(metrics containing self.metric, the rows `eval_output` gets: one per gold record)."""
        raise NotImplementedError

    def stream(self, model: Any, record: dict, **options: Any) -> Iterator[str]:
        """One input record -> an iterator of partial outputs (pipeline(..., stream=True))."""
        raise NlpkitError(f"task {self.name} does not stream its output; call the pipeline without stream=True")

    def evaluate(self, model: Any, records: Sequence[dict], **options: Any) -> dict:
        """Score the model on gold records: score() their eval_predictions() (by default predict()), write
        score()'s rows to config `eval_output` when set; returns the metrics (containing self.metric)."""
        from .inference import evaluate

        return evaluate(self, model, records, options)

    def document_vectors(self, model: Any) -> Tuple[list, Any]:
        """(document keys, an (n, dim) numpy array) for `nlpkit plot RUN --docs`, in tasks that have them."""
        raise NlpkitError(f"task {self.name} has no document vectors to map")

    def batches(self, records: Sequence, size: int, desc: str = "evaluate") -> Iterator[list]:
        """Slices of `size` records, with a progress bar when there are several (and progress is on),
        labelled by what the caller is doing (see doing()), else by `desc`."""
        from .progress import progress_bar

        progress = getattr(self.cfg, "trainer", self.cfg).get("progress", True)
        starts = range(0, len(records), size)
        bar = progress_bar(starts, desc=self.activity or desc, leave=False, enabled=progress and len(starts) >= 3)
        for start in bar:
            yield records[start : start + size]

    @contextlib.contextmanager
    def doing(self, activity: str) -> Iterator["Task"]:
        """Label the progress bars inside the block (evaluate() predicts, but the user asked to evaluate)."""
        before, self.activity = self.activity, activity
        try:
            yield self
        finally:
            self.activity = before

    def output_rows(self, records: Sequence[dict], predictions: list) -> list:
        """The JSONL rows `nlpkit predict` writes (to output= or stdout alike)."""
        return predictions

    #: the class of the object pipeline() returns (None: nlpkit.pipelines.Pipeline)
    pipeline_class: Optional[type] = None

    def pipeline(self, model: Any, **defaults: Any) -> Any:
        """The object `nlpkit.pipeline(name, model=DIR)` returns."""
        from .pipelines import Pipeline

        return (self.pipeline_class or Pipeline)(self, model, **defaults)


class BertTask(Task):
    """A BERT fine-tune: the shared backbone, the accelerate trainer and three profiles, one per class
    of model (nlpkit.profiles): tiny, small pretrained checkpoints, and base-sized ones."""

    config_class = BertRunConfig
    #: overrides for a model of hidden size <= 128: model=tiny, or one nlpkit pretrained at that size
    tiny_profile = {}
    #: overrides for a small pretrained checkpoint (hidden < 768, e.g. albert-tiny); None: pretrained_profile
    #: at nlpkit.profiles.SMALL_LR_FACTOR times its rate
    small_profile = None
    #: overrides for a base-sized checkpoint: the published recipes of the task's family (lr ~2e-5)
    pretrained_profile = {"trainer": {"lr": 2e-5, "epochs": 3, "batch_size": 32, "warmup": 0.1}}
    #: DDP must be told when some parameters get no gradient in a step (e.g. a padded-away pointer)
    find_unused_parameters = False

    def __init__(self, cfg: Any, state: Optional[dict] = None) -> None:
        super().__init__(cfg, state)
        self.tokenizer = None

    @classmethod
    def profiles(cls) -> dict:
        """{class: profile} for nlpkit.profiles.choose."""
        from .profiles import SMALL_LR_FACTOR, scaled

        # a tiny model's small matrices gain nothing from a second thread, and lose ~10x on a busy machine
        tiny = {**cls.tiny_profile, "trainer": {"threads": 1, **cls.tiny_profile.get("trainer", {})}}
        small = cls.small_profile or scaled(cls.pretrained_profile, SMALL_LR_FACTOR)
        return {"tiny": tiny, "small": small, "base": cls.pretrained_profile}

    @classmethod
    def profile(cls, model: str) -> dict:
        from .profiles import choose

        return choose(cls.profiles(), model)

    def texts(self, records: Sequence[dict]) -> Iterable[str]:
        """Texts that the locally built vocabulary of model=tiny must cover."""
        raise NotImplementedError

    def prepare(self, records: Sequence[dict]) -> None:
        """Learn what the model needs from the training records (e.g. label names) into self.state."""

    def check_dev(self, records: Sequence[dict]) -> None:
        """Raise for dev records the trained model could not score (checked before the first step)."""

    def training_records(self, records: Sequence[dict]) -> Sequence[dict]:
        """The records training encodes (after prepare()): the task may split a text too long for the
        model into several (see nlpkit.windows and the `window.train` key of the tasks that have it)."""
        return records

    def encode(self, record: dict) -> dict:
        """record -> features: a dict of plain lists/ints (stored in a `datasets` Arrow table)."""
        raise NotImplementedError

    def collate(self, features: Sequence[dict]) -> dict:
        """features -> a batch dict of tensors (dynamic padding; random choices use torch's RNG)."""
        raise NotImplementedError

    def length(self, feature: dict) -> int:
        """Size of one feature, for length-grouped batching."""
        return len(feature["input_ids"])

    def build_model(self, source: Any) -> "torch.nn.Module":
        """Build the task model. `source` is cfg.model ("tiny" or a checkpoint folder) when training,
        or the BertConfig of a finished run when loading it (weights are loaded after).
        The model keeps its backbone as `.bert` (and an LM head as `.cls`) so that the saved
        checkpoint loads with transformers.AutoModel."""
        raise NotImplementedError

    def loss(self, model: Any, batch: dict) -> "torch.Tensor":
        raise NotImplementedError

    def load_run(self, run_dir: str) -> "torch.nn.Module":
        from .checkpoint import load_bert_run

        return load_bert_run(self, run_dir)

    def place(self, model: Any, device: Any = "auto", dtype: Any = "auto") -> Any:
        from .devices import place

        return place(model, device, dtype)

    def fit(self, cfg: Any) -> str:
        from .training import train_task

        return train_task(self, cfg)

"""The Task contract: what a folder under tasks/ implements so the core can train, evaluate,
predict and serve it without ever branching on its name.

Data flows one way: file -> read() (records) -> encode() (features) -> collate() (tensors)
-> model -> loss() when training, or predict() (records with character offsets) -> evaluate().
"""
import inspect
from pathlib import Path

from .data import read_jsonl, write_jsonl
from .errors import NlpkitError


class Task:
    name = ""
    #: key of evaluate()'s result that picks the best checkpoint (higher is better)
    metric = "loss"
    #: bundled sample files, relative to the task folder; used when data.train/data.dev are not given
    sample = {"train": None, "dev": None}

    def __init__(self, cfg, state=None):
        self.cfg = cfg
        self.tokenizer = None
        #: JSON-serialisable facts learnt from the training data (label names, ...); saved in the run dir
        self.state = dict(state or {})

    @classmethod
    def folder(cls):
        """The task's folder (config.yaml, sample/); a subclass defined elsewhere inherits it."""
        folders = [Path(inspect.getfile(k)).parent for k in cls.__mro__ if issubclass(k, Task) and k is not Task]
        return next((f for f in folders if (f / "config.yaml").exists()), folders[0])

    @classmethod
    def sample_path(cls, split):
        rel = cls.sample.get(split)
        return str(cls.folder() / rel) if rel else None

    # ---- data ------------------------------------------------------------------------------
    def read(self, path):
        """Read a data file into a list of records (dicts). Errors name file, line and field."""
        raise NotImplementedError

    def texts(self, records):
        """Texts that the locally built vocabulary of model=tiny must cover."""
        raise NotImplementedError

    def prepare(self, records):
        """Learn what the model needs from the training records (e.g. label names) into self.state."""

    def encode(self, record):
        """record -> features: a dict of plain lists/ints (stored in a `datasets` Arrow table)."""
        raise NotImplementedError

    def collate(self, features):
        """features -> a batch dict of tensors (dynamic padding; random choices use torch's RNG)."""
        raise NotImplementedError

    def length(self, feature):
        """Size of one feature, for length-grouped batching."""
        return len(feature["input_ids"])

    # ---- model -----------------------------------------------------------------------------
    def build_model(self, source):
        """Build the task model. `source` is cfg.model ("tiny" or a checkpoint folder) when training,
        or the BertConfig of a finished run when loading it (weights are loaded after).
        The model keeps its backbone as `.bert` (and an LM head as `.cls`) so that the saved
        checkpoint loads with transformers.AutoModel."""
        raise NotImplementedError

    def loss(self, model, batch):
        raise NotImplementedError

    # ---- inference -------------------------------------------------------------------------
    def predict(self, model, records, **options):
        """A list of input records -> a list of JSON-serialisable predictions, one per record."""
        raise NotImplementedError

    def stream(self, model, record, **options):
        """One input record -> an iterator of partial outputs (pipeline(..., stream=True))."""
        raise NlpkitError(f"task {self.name} does not stream its output; call the pipeline without stream=True")

    def evaluate(self, model, records, **options):
        """Score the model on gold records: a dict of metrics containing self.metric."""
        raise NotImplementedError

    def read_inputs(self, path):
        """Records for `nlpkit predict input=F` (JSONL by default)."""
        return read_jsonl(path)

    def write_predictions(self, path, records, predictions):
        write_jsonl(path, predictions)

    def as_record(self, item, **options):
        """What a pipeline call gets (a string, usually) -> an input record."""
        return {"text": item} if isinstance(item, str) else dict(item)

    def pipeline(self, model):
        """The object `nlpkit.pipeline(name, model=DIR)` returns."""
        from .pipelines import Pipeline

        return Pipeline(self, model)

    # ---- whole-run hooks --------------------------------------------------------------------
    def load_run(self, run_dir):
        """The model saved in a finished run directory (a task that is not a BERT fine-tune overrides)."""
        from .checkpoint import load_bert_run

        return load_bert_run(self, run_dir)

    def fit(self, cfg):
        """Train and save a run directory. BERT tasks use the shared accelerate trainer;
        a task that is not a BERT fine-tune (jose) overrides this."""
        from .training import train_task

        return train_task(self, cfg)

"""nl2sql: a question about a table -> a TableQA query, rendered as SQL and run on SQLite."""
from pathlib import Path

from nlpkit.data import check_file
from nlpkit.errors import NlpkitError
from nlpkit.inference import to_device, warn_cut
from nlpkit.task import BertTask

from . import features
from .config import PRETRAINED, TINY, NL2SQLConfig
from .decoding import decode
from .decoding import value_tags as value_tags_of
from .metrics import score as score_queries
from .model import NL2SQLModel, nl2sql_loss
from .reader import find_tables, read_questions
from .sql import render
from .tables import Tables


def warn_cuts(task, records, what):
    """Say once per run how many questions, and how many questions' column headers, encoding cuts."""
    lengths, tok = task._lengths, task.tokenizer
    found = [features.cuts(len(tok.token_ids(r["question"])), task.tables.header_ids(*task.tables.of(r), tok),
                           lengths) for r in records]
    warn_cut(task, f"{what}questions", sum(q for q, _ in found), len(records), lengths.question,
             "max_question_length")
    warn_cut(task, f"{what}questions' table headers", sum(h for _, h in found), len(records), lengths.header,
             "max_header_length", "at most: a wide table gets fewer within max_length; raise max_header_length or "
             "max_length to keep more")


def table_places(task, tables):
    """Where a table id is looked up: `tables`, else the tables files of the run's dev and train data."""
    places = [Path(tables)] if tables else []
    for split in ("dev", "train"):
        questions = task.cfg.data.get(split) or task.sample_path(split)
        if questions and Path(questions).exists():
            try:
                places.append(find_tables(questions))
            except NlpkitError:
                continue
    return places


class NL2SQLTask(BertTask):
    """Question + table -> SQL executed on SQLite (TableQA / WikiSQL format)."""

    name = "nl2sql"
    metric = "logic_form_acc"
    sample = {"train": "sample/train.json", "dev": "sample/dev.json"}
    config_class, tiny_profile, pretrained_profile = NL2SQLConfig, TINY, PRETRAINED
    #: per call: where table ids are looked up, and whether text values snap to their column's cells
    call_options = ("tables", "snap_values")
    #: per call: the table a question is about (a TableQA table dict or a table id)
    call_extras = ("table",)
    #: `tables` is a path: a service's requests never name one
    file_options = ("tables",)
    #: a batch in which no condition value could be placed in its question trains no link parameter
    find_unused_parameters = True

    #: inference features kept per question (the trainer scores the same dev questions every epoch)
    max_cached_features = 20000

    def __init__(self, cfg, state=None):
        super().__init__(cfg, state)
        self.tables = Tables()
        self._features, self._features_tokenizer = {}, None  # (tables, version, table id, question) -> features
        self._lengths = features.Lengths.of(cfg)

    # ---- data ------------------------------------------------------------------------------
    def read(self, path, need_sql=True):
        """TableQA questions; the tables come from `tables=` or the file next to them (train.tables.json)."""
        check_file(path)
        key = str(find_tables(path, self.cfg.tables).resolve())
        db = self.tables.database(key)
        records = read_questions(path, db, key, need_sql)
        for r in records:
            r["tables_version"] = db.version[:16]  # a changed tables file re-encodes cached features
        return records

    def read_inputs(self, path):
        return self.read(path, need_sql=False)

    def texts(self, records):
        seen = set()
        for r in records:
            yield r["question"]
            if (r["tables"], r["table_id"]) in seen:
                continue
            seen.add((r["tables"], r["table_id"]))
            db, table = self.tables.of(r)
            yield from table.header
            for j, kind in enumerate(table.types):
                if kind == "text":
                    yield from db.values(table.id, j)

    def encode(self, record, with_labels=True):
        db, table = self.tables.of(record)
        headers = self.tables.header_ids(db, table, self.tokenizer)
        return features.encode(record, table, lambda j: db.values(table.id, j), headers,
                               self.tokenizer, self._lengths, with_labels=with_labels and record.get("sql") is not None)

    def _inference_features(self, record):
        db, _ = self.tables.of(record)
        key = (record["tables"], db.version, record["table_id"], record["question"])
        if self._features_tokenizer is not self.tokenizer or len(self._features) >= self.max_cached_features:
            self._features, self._features_tokenizer = {}, self.tokenizer
        if key not in self._features:
            self._features[key] = self.encode(record, with_labels=False)
        return self._features[key]

    def collate(self, feats):
        """Training batches (inference batches come from predict_batch, without word dropout)."""
        return features.collate(feats, self.tokenizer, self.cfg.word_dropout)

    # ---- model -----------------------------------------------------------------------------
    def build_model(self, source):
        return NL2SQLModel(source, self.tokenizer, tiny=self.cfg.tiny)

    def loss(self, model, batch):
        return nl2sql_loss(model(batch), batch)

    def training_records(self, records):
        """The training records as they are; says once what encoding cuts of them (questions, headers)."""
        warn_cuts(self, records, "training ")
        return records

    # ---- inference -------------------------------------------------------------------------
    def predict_batch(self, model, records, snap_values=None, value_tags=False, **options):
        """{"sql", "params", "query" (TableQA dict), "value_spans" (question character spans of the
        condition values), "rows"} per record; rows come from the read-only connection. `value_tags`
        (evaluate): also the BIO tags of the value-tagging head per question token."""
        snap_values = self.cfg.snap_values if snap_values is None else snap_values
        warn_cuts(self, records, "")
        feats = [self._inference_features(r) for r in records]
        out = model(to_device(features.collate(feats, self.tokenizer), model))
        results = []
        for b, (r, f) in enumerate(zip(records, feats)):
            db, table = self.tables.of(r)
            query, spans = decode(out, b, f["offsets"], r["question"], table, lambda j: db.values(table.id, j),
                                  snap_values)
            sql, params = render(query, table)
            results.append({"sql": sql, "params": params, "query": query, "value_spans": spans,
                            "rows": [list(row) for row in db.execute(sql, params)],
                            **({"value_tags": value_tags_of(out, b, len(f["offsets"]))} if value_tags else {})})
        return results

    def evaluate(self, model, records, **options):
        """Logic-form, execution and per-part accuracies, value-tagging F1 (metrics.score); the gold
        queries are checked before anything runs."""
        missing = [r for r in records if r.get("sql") is None]
        if missing:
            raise NlpkitError(f"evaluate needs gold queries: question '{missing[0]['question']}' has no 'sql'")
        return super().evaluate(model, records, value_tags=True, **options)

    def score(self, records, predictions):
        items = []
        for r, p in zip(records, predictions):
            db, table = self.tables.of(r)
            offsets = self._inference_features(r)["offsets"]
            items.append({"pred": p["query"], "gold": r["sql"], "table": table, "db": db, "table_id": table.id,
                          "pred_tags": p["value_tags"],
                          "gold_tags": features.gold_tags(r["sql"], r["question"], offsets, table)})
        rows = [{"table_id": r["table_id"], "question": r["question"], "sql": r["sql"], "pred": p["query"]}
                for r, p in zip(records, predictions)]
        return score_queries(items), rows

    def output_rows(self, records, predictions):
        """TableQA lines: the predicted `sql` dict, plus the SQL text and its parameters."""
        return [{"table_id": r["table_id"], "question": r["question"], "sql": p["query"], "sql_text": p["sql"],
                 "params": p["params"]} for r, p in zip(records, predictions)]

    def as_record(self, item, table=None, tables=None, **options):
        """A question (with table=TABLE_DICT or a table id), or a dict {"question", "table_id"|"table"}."""
        if isinstance(item, dict):
            question = item.get("question")
            table = item.get("table", table if table is not None else item.get("table_id"))
        else:
            question = item
        if not isinstance(question, str) or not question.strip():
            raise NlpkitError("nl2sql needs a non-empty question")
        if table is None:
            raise NlpkitError("nl2sql needs the table: pipeline(question, table={...} or a table id)")
        if isinstance(table, dict):
            return {"table_id": str(table.get("id")), "question": question.strip(), "sql": None,
                    "tables": self.tables.hold(table)}
        key = self.tables.find(str(table), table_places(self, tables or self.cfg.tables))
        return {"table_id": str(table), "question": question.strip(), "sql": None, "tables": key}

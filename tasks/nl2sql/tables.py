"""The tables questions are asked about: databases opened once (again when their file changed), table
dicts given per call held in memory, and each table's header token ids tokenized once."""
import hashlib
import json
from pathlib import Path

from nlpkit.errors import NlpkitError

from .reader import database_from_dicts, open_database


class Tables:
    def __init__(self):
        self._dbs = {}  # key (a resolved path, or "memory:<digest>") -> Database
        self._headers, self._tokenizer = {}, None  # (version, table id) -> header token ids

    def database(self, key):
        if key not in self._dbs or self._dbs[key].stale():
            self._dbs[key] = open_database(key)
        return self._dbs[key]

    def of(self, record):
        """(database, table) of a question record."""
        db = self.database(record["tables"])
        return db, db.table(record["table_id"])

    def header_ids(self, db, table, tokenizer):
        """Token ids of a table's headers, tokenized once per table (not once per question)."""
        if self._tokenizer is not tokenizer:
            self._headers, self._tokenizer = {}, tokenizer
        key = (db.version, table.id)
        if key not in self._headers:
            self._headers[key] = [tokenizer.token_ids(h) for h in table.header]
        return self._headers[key]

    def hold(self, table):
        """The key of a TableQA table dict given per call, held in memory."""
        key = "memory:" + hashlib.sha256(json.dumps(table, ensure_ascii=False, sort_keys=True,
                                                    default=str).encode()).hexdigest()
        if key not in self._dbs:
            self._dbs[key] = database_from_dicts([table])
        return key

    def find(self, table_id, places):
        """The key of the first tables file of `places` holding a table id."""
        for place in places:
            key = str(Path(place).resolve())
            if table_id in self.database(key).tables:
                return key
        raise NlpkitError(f"table '{table_id}' not found in {', '.join(map(str, places)) or 'any known tables file'}; "
                          "pass table={...} or tables=PATH")

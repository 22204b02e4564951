"""`pipeline("cond_lm", model=D)(label="正面", n=5, top_p=0.95)` -> five generated texts."""
from nlpkit.pipelines import Pipeline


class CondLMPipeline(Pipeline):
    def __call__(self, label=None, *, cond=None, n=None, prefix=None, stream=False, **options):
        """Generate `n` texts under `label` (a name or its raw value) or condition vector `cond`;
        returns a list of strings. A list of labels (or of vectors) returns one such list per item.
        stream=True yields one text piece by piece. Generation settings (top_p, top_k, temperature,
        seed, max_new_tokens, ...) override the run's `generate` config."""
        if label is not None and cond is not None:
            raise ValueError("give label or cond, not both")
        batch = isinstance(label, (list, tuple)) or (cond is not None and len(cond) > 0
                                                    and isinstance(cond[0], (list, tuple)))
        items = label if label is not None else cond
        items = list(items) if batch else [items]
        key = "label" if label is not None else "cond"
        records = []
        for item in items:
            record = {key: item} if item is not None else {}
            if n is not None:
                record["n"] = n
            if prefix:
                record["prefix"] = prefix
            records.append(record)
        if stream:
            if batch:
                raise ValueError("stream=True takes one label or one vector")
            return self.task.stream(self.model, records[0], **options)
        results = [p["texts"] for p in self.task.predict(self.model, records, **options)]
        return results if batch else results[0]

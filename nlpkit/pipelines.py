"""`nlpkit.pipeline(name, model=DIR)`: a finished run as a Python callable."""
from .checkpoint import load_run


class Pipeline:
    """Call on one input (returns one result) or a list (returns a list, predicted in batches;
    the results equal one-by-one calls)."""

    def __init__(self, task, model):
        self.task, self.model = task, model

    def __call__(self, inputs, batch_size=32, stream=False, **options):
        if stream:
            if isinstance(inputs, list):
                raise ValueError("stream=True takes one input, not a list")
            return self.task.stream(self.model, self.task.as_record(inputs, **options), **options)
        single = not isinstance(inputs, list)
        records = [self.task.as_record(x, **options) for x in ([inputs] if single else inputs)]
        results = []
        for start in range(0, len(records), batch_size):
            results += self.task.predict(self.model, records[start : start + batch_size], **options)
        return results[0] if single else results


def pipeline(task, model, **overrides):
    """Load run directory `model` (trained for `task`); `overrides` are config keys, e.g.
    pipeline("seq2seq", model=d, **{"decode.beam_size": 4})."""
    t, m = load_run(model, [f"{k}={v}" for k, v in overrides.items()], expect_task=task)
    return t.pipeline(m)

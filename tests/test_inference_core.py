"""The core's inference plumbing: batches of inputs of like length, predictions in the caller's order."""
import torch
from omegaconf import OmegaConf

from nlpkit.inference import by_length


class Stub:
    cfg = OmegaConf.create({"trainer": {"eval_batch_size": 2}})

    def batches(self, items, size, desc):
        for start in range(0, len(items), size):
            yield items[start : start + size]


def test_batches_hold_inputs_of_like_length_and_outputs_keep_the_callers_order():
    texts = ["一二三四五六", "一", "一二三四", "一二", "一二三四五", "一二三"]
    seen = []

    def run(batch):
        seen.append([len(r["text"]) for r in batch])
        return [r["text"] for r in batch]

    out = by_length(Stub(), torch.nn.Linear(1, 1), [{"text": t} for t in texts], run)
    assert out == texts
    assert seen == [[1, 2], [3, 4], [5, 6]]  # unsorted, every batch would pad to 6, 5 or 6



def test_a_pipeline_call_is_sorted_across_its_batches():
    """pipeline(batch_size=2) hands the core every input at once: batches hold like lengths across the call."""
    from nlpkit.config import build_config
    from nlpkit.pipelines import Pipeline
    from nlpkit.task import Task

    class Lengths(Task):
        name = "lengths"

        def predict_batch(self, model, records, **options):
            return [{"text": r["text"], "batch": [len(x["text"]) for x in records]} for r in records]

    task = Lengths(build_config(Lengths, []))
    texts = ["一二三四五六", "一", "一二三四", "一二", "一二三四五", "一二三"]
    out = Pipeline(task, torch.nn.Linear(1, 1))(texts, batch_size=2)
    assert [o["text"] for o in out] == texts
    assert [o["batch"] for o in out] == [[5, 6], [1, 2], [3, 4], [1, 2], [5, 6], [3, 4]]

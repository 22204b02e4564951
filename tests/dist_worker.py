"""Run by test_distributed.py under `torchrun --nproc_per_node 2`: trains seq2seq data-parallel and
writes, per rank, the record ids it trained on in each epoch and a digest of its final weights."""
import hashlib
import json
import os
import sys

import torch

from nlpkit.config import build_config
from nlpkit.registry import get_task_class
from nlpkit.training import train_task

Seq2Seq = get_task_class("seq2seq")


class Recording(Seq2Seq):
    seen = []

    def read(self, path):
        return [{**r, "rid": i} for i, r in enumerate(super().read(path))]

    def encode(self, record):
        return {**super().encode(record), "rid": record["rid"]}

    def loss(self, model, batch):
        Recording.model = model  # kept to digest this rank's final weights
        Recording.world = torch.distributed.get_world_size()
        return super().loss(model, batch)

    def collate(self, features):
        Recording.seen.append([f["rid"] for f in features])
        return super().collate(features)


def main(data, out, report):
    cfg = build_config(Recording, [f"data.train={data}", f"output_dir={out}", "trainer.epochs=2",
                                   "trainer.batch_size=4", "trainer.progress=false", "tiny.hidden_size=32",
                                   "tiny.intermediate_size=64", "tiny.num_hidden_layers=1", "max_length=96",
                                   "data.cache=false",
                                   "trainer.ema=0.9"])  # the main process alone swaps EMA weights in to save
    task = Recording(cfg)
    train_task(task, cfg)
    rank = int(os.environ["RANK"])  # the process group is gone after training
    model = getattr(Recording.model, "module", Recording.model)
    digest = hashlib.sha1()
    for k, v in sorted(model.state_dict().items()):
        digest.update(k.encode())
        digest.update(v.float().numpy().tobytes())
    with open(f"{report}.{rank}", "w") as f:
        vocab = hashlib.sha1(json.dumps(task.tokenizer.vocab, sort_keys=True).encode()).hexdigest()
        json.dump({"batches": Recording.seen, "digest": digest.hexdigest(), "world": Recording.world,
                   "vocab": vocab}, f)


if __name__ == "__main__":
    main(*sys.argv[1:])

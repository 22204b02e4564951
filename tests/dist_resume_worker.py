"""Run by test_resume_log.py under `torchrun --nproc_per_node 2`: trains seq2seq data-parallel; with
killed_at > 0 every rank stops with an exception after that many batches (a kill), else it runs to the
end (resume=true continues a killed run)."""
import sys

from nlpkit.config import build_config
from nlpkit.registry import get_task_class
from nlpkit.training import train_task

Seq2Seq = get_task_class("seq2seq")


class Killed(Exception):
    pass


def main(data, dev, out, killed_at, *extra):
    cfg = build_config(Seq2Seq, [f"data.train={data}", f"data.dev={dev}", f"output_dir={out}", "trainer.epochs=3",
                                 "trainer.batch_size=4", "trainer.progress=false", "tiny.hidden_size=32",
                                 "tiny.intermediate_size=64", "tiny.num_hidden_layers=1", "max_length=96",
                                 "trainer.lr=1e-3", "trainer.log_every_steps=3", "data.cache=false", *extra])
    task = Seq2Seq(cfg)
    if int(killed_at):
        original, calls = task.loss, [0]

        def loss(model, batch):
            calls[0] += 1
            if calls[0] > int(killed_at):
                raise Killed()
            return original(model, batch)

        task.loss = loss
    train_task(task, cfg)


if __name__ == "__main__":
    main(*sys.argv[1:])

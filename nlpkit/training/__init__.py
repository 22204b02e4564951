"""The training loop every BERT task shares, on accelerate (one GPU, several GPUs, or CPU processes).

A run's data flows one way through the modules, each owning one concern:

    plan         what the run starts from: the output folder's verdict (nlpkit.checkpoint's run
                 lifecycle), the resume point, the data, the model folder's tokenizer; reads only,
                 so every refusal comes before anything is written
    accelerator  accelerate's Accelerator for the run
    encode       the task's tokenizer and learnt state, then the records encoded (and cached)
    batches      the length-grouped batches each process draws, and the run's length in steps
    optim        AdamW, the learning-rate schedules (with warmup), the EMA of the weights
    trainer      what the steps share (model, optimizer, counters, log) and the steps: backward,
                 optimizer step, evaluate and keep the best, resume point, finish
    resume       resume points: the loop's counters and random streams, written and read back
    loop         `train_task`: the page that strings the above together and loops

Batches are sharded across processes by our own sampler (every process draws the same permutation
from (seed, epoch) and takes its slice), each epoch's randomness follows from (seed, epoch), and a
resume point keeps every process's random streams, so a run resumed with resume=true retraces the
uninterrupted one exactly.
"""
from .loop import train_task

__all__ = ["train_task"]

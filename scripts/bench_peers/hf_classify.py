"""Text classification with transformers, following its text-classification example
(examples/pytorch/text-classification/run_glue.py): a `datasets.Dataset` tokenised by `map` with
truncation to max_length, `DataCollatorWithPadding`, `BertForSequenceClassification` and `Trainer`
with its defaults (AdamW, linear decay to 0, no warmup, weight decay 0, gradient clipping 1.0).

Deviations: the model is randomly initialised at nlpkit's tiny size (`BertConfig`, no checkpoint) and
tokenises with nlpkit's vocabulary, loaded as a user loads a vocabulary folder
(`BertTokenizerFast.from_pretrained(folder with vocab.txt)`, lower-casing, CJK characters split).
Under transformers 5, `BertTokenizerFast(vocab_file=...)` silently ignores the file and keeps only
the 5 special tokens (every character becomes [UNK]); an earlier version of this runner did that, so
before training `check_inputs` proves the ids equal nlpkit's on the first training texts and the
label sets are equal. Epochs, batch size and rate from the benchmark; random batches, as the
example (the Trainer's padded positions are counted and reported); no evaluation or checkpoint
saving during training (the last epoch is scored, as for nlpkit).
"""
import json
import shutil
from pathlib import Path

from .common import Clock, PositionCounter, check_inputs, read_tsv, setup, vocab_size


def peer_tokenizer(vocab, folder):
    """The tokenizer a transformers user loads for a vocab.txt: its folder through from_pretrained.
    (`BertTokenizerFast(vocab_file=...)` would silently keep only the special tokens under transformers 5.)"""
    from transformers import BertTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(vocab, folder / "vocab.txt")
    return BertTokenizerFast.from_pretrained(str(folder), do_lower_case=True, tokenize_chinese_chars=True)


def run(spec):
    torch = setup(spec)
    import datasets
    from transformers import (BertConfig, BertForSequenceClassification, DataCollatorWithPadding, Trainer,
                              TrainingArguments)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    datasets.disable_progress_bars()
    train, test = read_tsv(spec["train"]), read_tsv(spec["test"])
    labels = sorted({y for _, y in train})
    label2id = {y: i for i, y in enumerate(labels)}
    tokenizer = peer_tokenizer(spec["vocab"], Path(spec["workdir"]) / "hf_classify_vocab")
    max_length = int(spec["max_length"])
    checked = check_inputs(spec, lambda t: tokenizer(t, truncation=True, max_length=max_length)["input_ids"],
                           labels)
    tiny = spec["tiny"]
    config = BertConfig(vocab_size=vocab_size(spec["vocab"]), hidden_size=tiny["hidden_size"],
                        num_hidden_layers=tiny["num_hidden_layers"], num_attention_heads=tiny["num_attention_heads"],
                        intermediate_size=tiny["intermediate_size"],
                        max_position_embeddings=tiny.get("max_position_embeddings", 512),
                        hidden_dropout_prob=tiny.get("hidden_dropout_prob", 0.1),
                        attention_probs_dropout_prob=tiny.get("attention_probs_dropout_prob", 0.1),
                        num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id)
    model = BertForSequenceClassification(config)

    def dataset(rows):
        ds = datasets.Dataset.from_dict({"sentence": [t for t, _ in rows],
                                         "label": [label2id.get(y, -100) for _, y in rows]})
        return ds.map(lambda b: tokenizer(b["sentence"], truncation=True, max_length=max_length),
                      batched=True, remove_columns=["sentence"])

    train_ds, test_ds = dataset(train), dataset(test)
    args = TrainingArguments(
        output_dir=spec["workdir"] + "/hf_classify", num_train_epochs=int(spec["epochs"]),
        per_device_train_batch_size=int(spec["batch_size"]), per_device_eval_batch_size=64,
        learning_rate=float(spec["lr"]), seed=int(spec.get("seed", 42)), use_cpu=True, report_to=[],
        eval_strategy="no", save_strategy="no", logging_strategy="no", disable_tqdm=True,
        dataloader_num_workers=0)
    collator = PositionCounter(DataCollatorWithPadding(tokenizer))
    trainer = Trainer(model=model, args=args, train_dataset=train_ds, data_collator=collator)
    with Clock() as train_clock:
        trainer.train()
    collator.counting = False
    with Clock() as predict_clock:
        logits = trainer.predict(test_ds.remove_columns(["label"])).predictions
    preds = [labels[i] for i in logits.argmax(-1).tolist()]
    return {"train_s": train_clock.seconds, "train_cpu_s": train_clock.cpu, "predict_s": predict_clock.seconds,
            "n_train_used": len(train), "predictions": preds, "n_params": sum(p.numel() for p in model.parameters()),
            "torch_threads": torch.get_num_threads(), "train_positions": collator.positions, "inputs_checked": checked}


if __name__ == "__main__":
    import sys

    print(json.dumps(run(json.load(open(sys.argv[1], encoding="utf-8"))), ensure_ascii=False)[:2000])

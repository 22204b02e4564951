"""Text classification with transformers, following its text-classification example
(examples/pytorch/text-classification/run_glue.py): a `datasets.Dataset` tokenised by `map` with
truncation to max_length, `DataCollatorWithPadding`, `BertForSequenceClassification` and `Trainer`
with its defaults (AdamW, linear decay to 0, no warmup, weight decay 0, gradient clipping 1.0).

Deviations: the model is randomly initialised at nlpkit's tiny size (`BertConfig`, no checkpoint) and
tokenises with nlpkit's vocabulary (`BertTokenizerFast(vocab_file=...)`, lower-casing, CJK characters
split, as nlpkit's tokenizer); epochs, batch size and rate from the benchmark; no evaluation or
checkpoint saving during training (the last epoch is scored, as for nlpkit).
"""
import json

from .common import Clock, read_tsv, setup, vocab_size


def run(spec):
    torch = setup(spec)
    import datasets
    from transformers import (BertConfig, BertForSequenceClassification, BertTokenizerFast,
                              DataCollatorWithPadding, Trainer, TrainingArguments)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    datasets.disable_progress_bars()
    train, test = read_tsv(spec["train"]), read_tsv(spec["test"])
    labels = sorted({y for _, y in train})
    label2id = {y: i for i, y in enumerate(labels)}
    tokenizer = BertTokenizerFast(vocab_file=spec["vocab"], do_lower_case=True, tokenize_chinese_chars=True)
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
        return ds.map(lambda b: tokenizer(b["sentence"], truncation=True, max_length=int(spec["max_length"])),
                      batched=True, remove_columns=["sentence"])

    train_ds, test_ds = dataset(train), dataset(test)
    args = TrainingArguments(
        output_dir=spec["workdir"] + "/hf_classify", num_train_epochs=int(spec["epochs"]),
        per_device_train_batch_size=int(spec["batch_size"]), per_device_eval_batch_size=64,
        learning_rate=float(spec["lr"]), seed=int(spec.get("seed", 42)), use_cpu=True, report_to=[],
        eval_strategy="no", save_strategy="no", logging_strategy="no", disable_tqdm=True,
        dataloader_num_workers=0)
    trainer = Trainer(model=model, args=args, train_dataset=train_ds,
                      data_collator=DataCollatorWithPadding(tokenizer))
    with Clock() as train_clock:
        trainer.train()
    with Clock() as predict_clock:
        logits = trainer.predict(test_ds.remove_columns(["label"])).predictions
    preds = [labels[i] for i in logits.argmax(-1).tolist()]
    return {"train_s": train_clock.seconds, "train_cpu_s": train_clock.cpu, "predict_s": predict_clock.seconds,
            "n_train_used": len(train), "predictions": preds, "n_params": sum(p.numel() for p in model.parameters()),
            "torch_threads": torch.get_num_threads()}


if __name__ == "__main__":
    import sys

    print(json.dumps(run(json.load(open(sys.argv[1], encoding="utf-8"))), ensure_ascii=False)[:2000])

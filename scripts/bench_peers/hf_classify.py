"""Text classification with transformers, following its text-classification example
(examples/pytorch/text-classification/run_glue.py): a `datasets.Dataset` tokenised by `map` with
truncation to max_length (`tokenizer(sentence1, sentence2, truncation=True, max_length=...)` for
sentence pairs such as LCQMC's `text_a<TAB>text_b<TAB>label`), `DataCollatorWithPadding`,
`AutoModelForSequenceClassification` and `Trainer` with its defaults (AdamW, linear decay to 0, no
warmup, weight decay 0, gradient clipping 1.0).

spec["init"] = a checkpoint folder: `AutoModelForSequenceClassification.from_pretrained(folder,
num_labels, id2label, label2id)` and the folder's own tokenizer (`AutoTokenizer.from_pretrained`), as
run_glue does. Without it (the deviation of the tiny rows): a random `BertForSequenceClassification`
at nlpkit's tiny size with nlpkit's vocabulary, loaded as a user loads a vocabulary folder
(`BertTokenizerFast.from_pretrained(folder with vocab.txt)`, lower-casing, CJK characters split).
Under transformers 5, `BertTokenizerFast(vocab_file=...)` silently ignores the file and keeps only
the 5 special tokens (every character becomes [UNK]); an earlier version of this runner did that, so
before training `check_inputs` proves the ids (and a pair's token type ids) equal nlpkit's on the
first training texts and the label sets are equal. Epochs, batch size and rate from the benchmark;
random batches, as the example (the Trainer's padded positions are counted and reported); no
evaluation or checkpoint saving during training (the last epoch is scored, as for nlpkit).
"""
import json
import shutil
from pathlib import Path

from . import checkpoints
from .common import Clock, PositionCounter, check_inputs, read_tsv, setup, vocab_size


def peer_tokenizer(vocab, folder):
    """The tokenizer a transformers user loads for a vocab.txt: its folder through from_pretrained.
    (`BertTokenizerFast(vocab_file=...)` would silently keep only the special tokens under transformers 5.)"""
    from transformers import BertTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(vocab, folder / "vocab.txt")
    return BertTokenizerFast.from_pretrained(str(folder), do_lower_case=True, tokenize_chinese_chars=True)


def hf_model(spec, labels, auto_class, bert_class):
    """(tokenizer, model): the checkpoint's (auto_class.from_pretrained) with spec["init"], else a random
    bert_class at nlpkit's tiny size with nlpkit's vocabulary; labels name the model's outputs."""
    import transformers

    names = {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
             "label2id": {y: i for i, y in enumerate(labels)}}
    if spec.get("init"):
        init = str(checkpoints.folder(spec["init"]))
        tokenizer = transformers.AutoTokenizer.from_pretrained(init)
        return tokenizer, getattr(transformers, auto_class).from_pretrained(init, **names)
    tiny = spec["tiny"]
    config = transformers.BertConfig(
        vocab_size=vocab_size(spec["vocab"]), hidden_size=tiny["hidden_size"],
        num_hidden_layers=tiny["num_hidden_layers"], num_attention_heads=tiny["num_attention_heads"],
        intermediate_size=tiny["intermediate_size"], max_position_embeddings=tiny.get("max_position_embeddings", 512),
        hidden_dropout_prob=tiny.get("hidden_dropout_prob", 0.1),
        attention_probs_dropout_prob=tiny.get("attention_probs_dropout_prob", 0.1), **names)
    tokenizer = peer_tokenizer(spec["vocab"], Path(spec["workdir"]) / f"{bert_class}_vocab")
    return tokenizer, getattr(transformers, bert_class)(config)


def training_args(spec, name):
    """The Trainer's defaults with the benchmark's epochs, batch and rate; no evaluation, saving or logging."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=f"{spec['workdir']}/{name}", num_train_epochs=int(spec["epochs"]),
        per_device_train_batch_size=int(spec["batch_size"]), per_device_eval_batch_size=64,
        learning_rate=float(spec["lr"]), seed=int(spec.get("seed", 42)), use_cpu=True, report_to=[],
        eval_strategy="no", save_strategy="no", logging_strategy="no", disable_tqdm=True,
        dataloader_num_workers=0)


def fit(model, spec, name, train_ds, data_collator):
    """The Trainer (training_args) trained on train_ds; returns (trainer, training Clock, PositionCounter),
    the counter's positions those of training alone."""
    from transformers import Trainer

    collator = PositionCounter(data_collator)
    trainer = Trainer(model=model, args=training_args(spec, name), train_dataset=train_ds, data_collator=collator)
    with Clock() as clock:
        trainer.train()
    collator.counting = False
    return trainer, clock, collator


def quiet():
    import datasets
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # transformers 5's per-load "Loading weights" bar
    datasets.disable_progress_bars()


def run(spec):
    torch = setup(spec)
    import datasets
    from transformers import DataCollatorWithPadding

    quiet()
    train, test = read_tsv(spec["train"]), read_tsv(spec["test"])
    labels = sorted({y for _, y in train})
    label2id = {y: i for i, y in enumerate(labels)}
    tokenizer, model = hf_model(spec, labels, "AutoModelForSequenceClassification", "BertForSequenceClassification")
    max_length = int(spec["max_length"])

    def encode(text):  # run_glue's preprocess_function: one text, or a pair as (sentence1, sentence2)
        return tokenizer(*((text,) if isinstance(text, str) else text), truncation=True, max_length=max_length)

    checked = check_inputs(spec, encode, labels)
    pairs = not isinstance(train[0][0], str)

    def dataset(rows):
        columns = ({"sentence1": [t[0] for t, _ in rows], "sentence2": [t[1] for t, _ in rows]} if pairs
                   else {"sentence1": [t for t, _ in rows]})
        keys = list(columns)
        ds = datasets.Dataset.from_dict({**columns, "label": [label2id.get(y, -100) for _, y in rows]})
        return ds.map(lambda b: tokenizer(*(b[k] for k in keys), truncation=True, max_length=max_length),
                      batched=True, remove_columns=keys)

    train_ds, test_ds = dataset(train), dataset(test)
    trainer, train_clock, collator = fit(model, spec, "hf_classify", train_ds, DataCollatorWithPadding(tokenizer))
    with Clock() as predict_clock:
        logits = trainer.predict(test_ds.remove_columns(["label"])).predictions
    preds = [labels[i] for i in logits.argmax(-1).tolist()]
    return {"train_s": train_clock.seconds, "train_cpu_s": train_clock.cpu, "predict_s": predict_clock.seconds,
            "n_train_used": len(train), "predictions": preds, "n_params": sum(p.numel() for p in model.parameters()),
            "torch_threads": torch.get_num_threads(), "train_positions": collator.positions, "inputs_checked": checked,
            "init": spec.get("init"), "pairs": pairs}


if __name__ == "__main__":
    import sys

    print(json.dumps(run(json.load(open(sys.argv[1], encoding="utf-8"))), ensure_ascii=False)[:2000])

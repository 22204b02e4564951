"""NER with transformers, following its token-classification example
(examples/pytorch/token-classification/run_ner.py): a `datasets.Dataset` of (tokens, ner_tags) rows,
`tokenize_and_align_labels` (`tokenizer(tokens, is_split_into_words=True, truncation=True,
max_length=...)`, each word's label on its first sub-token, -100 on the others and on the special
tokens: label_all_tokens false), `DataCollatorForTokenClassification`,
`AutoModelForTokenClassification` and `Trainer` with its defaults (AdamW, linear decay, no warmup);
predictions read on each word's first sub-token, as its postprocessing does.

spec["init"] = a checkpoint folder: the model from it (`from_pretrained(folder, num_labels, id2label,
label2id)`) and its own tokenizer; without it, a random `BertForTokenClassification` at nlpkit's tiny
size with nlpkit's vocabulary (as hf_classify).

The words. People's Daily is a character-per-line BIO file; feeding every character as a word
(`list(text)`) gives other token ids than tokenising the text: "１０" is one vocabulary token, two as
two words (645 of the first 2,000 training paragraphs differ with bert-base-chinese's vocabulary),
so check_inputs would stop the row. The words are instead the ones the tokenizer itself cuts the text
into (its pre-tokenizer: whitespace and punctuation split, every CJK character its own word), read
from the offsets of one `tokenizer(text)` call: tokenised with is_split_into_words they give exactly
nlpkit's ids (proven by check_inputs), and each word keeps its character range, so a prediction maps
back to character offsets of the original text: characters the tokenizer drops (spaces, control
characters) belong to no word, a word of several characters or sub-tokens ("１０", "iPhone") is one
range. A word's tag is its first character's (an entity that starts inside a word cannot be learnt,
as for nlpkit, whose entities also snap to token boundaries). Entities come back as [start, end
exclusive, type] character spans, the shape bench_peers/ner_crf.py returns.
"""
import json

from .common import Clock, check_inputs, read_bio, setup, spans_from_bio
from .hf_classify import fit, hf_model, quiet


def word_ranges(tokenizer, text):
    """[(start, end)] character ranges of the words `tokenizer` cuts `text` into, in order (from one
    call's word_ids and offsets); characters of no token (whitespace) are in no range."""
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ranges = {}
    for word, (start, end) in zip(enc.word_ids(), enc["offset_mapping"]):
        if word is not None:
            a, b = ranges.get(word, (start, end))
            ranges[word] = (min(a, start), max(b, end))
    return [ranges[w] for w in sorted(ranges)]


def word_tags(text, spans, ranges):
    """Each word's BIO tag: its first character's, from the (start, end exclusive, type) spans."""
    tags = ["O"] * len(text)
    for start, end, kind in spans:
        tags[start:end] = [f"B-{kind}"] + [f"I-{kind}"] * (end - start - 1)
    return [tags[start] for start, _ in ranges]


def align_labels(word_ids, labels):
    """run_ner's label alignment: a word's label on its first sub-token, -100 elsewhere."""
    out, previous = [], None
    for word in word_ids:
        out.append(-100 if word is None or word == previous else labels[word])
        previous = word
    return out


def first_token_tags(word_ids, token_tags):
    """The tag each word gets from its first sub-token's prediction (words cut off by truncation: none)."""
    tags, previous = {}, None
    for word, tag in zip(word_ids, token_tags):
        if word is not None and word != previous:
            tags[word] = tag
        previous = word
    return [tags[w] for w in range(len(tags))]


def char_spans(tags, ranges):
    """Word tags -> [[start, end exclusive, type]] in character offsets (I- without B- opens one, as the
    seqeval run_ner scores with)."""
    return [[ranges[s][0], ranges[e - 1][1], kind] for s, e, kind in spans_from_bio(tags)]


def run(spec):
    torch = setup(spec)
    import datasets
    from transformers import DataCollatorForTokenClassification

    quiet()
    train, test = read_bio(spec["train"]), read_bio(spec["test"])
    types = sorted({t for _, spans in train for *_, t in spans})
    categories = ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]
    label2id = {k: i for i, k in enumerate(categories)}
    tokenizer, model = hf_model(spec, categories, "AutoModelForTokenClassification", "BertForTokenClassification")
    max_length = int(spec["max_length"])

    def encode_words(words):
        return tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length)

    def words_of(text):
        return [text[a:b] for a, b in word_ranges(tokenizer, text)]

    checked = check_inputs(spec, lambda t: encode_words(words_of(t))["input_ids"], types)

    def tokenize_and_align_labels(batch):
        enc = encode_words(batch["tokens"])
        enc["labels"] = [align_labels(enc.word_ids(i), tags) for i, tags in enumerate(batch["ner_tags"])]
        return enc

    rows = []
    for text, spans in train:
        ranges = word_ranges(tokenizer, text)
        rows.append(([text[a:b] for a, b in ranges], [label2id[t] for t in word_tags(text, spans, ranges)]))
    train_ds = datasets.Dataset.from_dict({"tokens": [w for w, _ in rows], "ner_tags": [t for _, t in rows]}).map(
        tokenize_and_align_labels, batched=True, remove_columns=["tokens", "ner_tags"])
    trainer, train_clock, collator = fit(model, spec, "hf_ner", train_ds, DataCollatorForTokenClassification(tokenizer))

    with Clock() as predict_clock:
        test_ranges = [word_ranges(tokenizer, text) for text, _ in test]
        encs = [encode_words([text[a:b] for a, b in r]) for (text, _), r in zip(test, test_ranges)]
        test_ds = datasets.Dataset.from_dict({"input_ids": [e["input_ids"] for e in encs],
                                              "token_type_ids": [e["token_type_ids"] for e in encs],
                                              "attention_mask": [e["attention_mask"] for e in encs]})
        best = trainer.predict(test_ds).predictions.argmax(-1)
        predictions = [char_spans(first_token_tags(enc.word_ids(), [categories[i] for i in row]), ranges)
                       for enc, row, ranges in zip(encs, best.tolist(), test_ranges)]
    return {"train_s": train_clock.seconds, "train_cpu_s": train_clock.cpu, "predict_s": predict_clock.seconds,
            "n_train_used": len(train), "predictions": predictions, "tags": categories,
            "n_params": sum(p.numel() for p in model.parameters()), "torch_threads": torch.get_num_threads(),
            "train_positions": collator.positions, "inputs_checked": checked, "init": spec.get("init")}


if __name__ == "__main__":
    import sys

    print(json.dumps(run(json.load(open(sys.argv[1], encoding="utf-8"))), ensure_ascii=False)[:2000])

"""NER with bert4torch 0.6.0, following its example examples/sequence_labeling/task_sequence_labeling_ner_crf.py
(BERT + Linear + CRF on People's Daily):

- data: the char-BIO file read paragraph by paragraph into (text, [start, end, type]...) (the example's
  load_data); each batch tokenised with tokenizer.tokenize(text, maxlen) and mapped back with
  rematch, a label landing on the token of its first / last character (collate_fn);
- model: build_transformer_model(..., segment_vocab_size=0) -> Linear(h, tags) -> bert4torch.layers.CRF;
  the loss is the CRF's negative log-likelihood;
- optimizer: Adam at a constant rate (the example's 2e-5 is for bert-base; here the benchmark's shared
  rate), no CRF learning-rate multiplier, BaseModel.compile / fit;
- decoding: crf.decode (Viterbi); token tags -> entities as the example's trans_entity2tuple (B- opens,
  I- of the same type extends, anything else closes), then token spans -> character spans through
  the rematch mapping.

spec["init"] = a checkpoint folder (ALBERT or BERT, transformers layout): the BERT is loaded from it
and the tokenizer reads its vocab.txt with the folder's case rule (bench_peers.checkpoints: loaded
only when its outputs equal transformers', else the row is refused). Without it (the deviation of the tiny rows): sizes from
nlpkit's tiny profile and nlpkit's vocabulary (a random BERT). Other deviations: the tag list from the
training data's types (the example lists People's Daily's PER/LOC/ORG by hand), maxlen, epochs,
batch size and rate from the benchmark.
"""
import json

import numpy as np

from .checkpoints import b4t_backbone
from .common import Clock, PositionCounter, check_inputs, read_bio, setup


def run(spec):
    torch = setup(spec)
    from torch import nn, optim
    from torch.utils.data import DataLoader

    from bert4torch.layers import CRF
    from bert4torch.models import BaseModel
    from bert4torch.snippets import ListDataset, sequence_padding
    from bert4torch.tokenizers import Tokenizer

    maxlen, device = int(spec["max_length"]), "cpu"
    bert, hidden, vocab, lower, loaded = b4t_backbone(spec, spec["workdir"] + "/ner_crf", segment_vocab_size=0)
    train = read_bio(spec["train"])
    types = sorted({t for _, spans in train for _, _, t in spans})
    categories = ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]
    label2id = {k: i for i, k in enumerate(categories)}
    tokenizer = Tokenizer(vocab, do_lower_case=lower)
    checked = check_inputs(spec, lambda t: tokenizer.tokens_to_ids(tokenizer.tokenize(t, maxlen=maxlen)), types)

    def collate_fn(batch):
        batch_token_ids, batch_labels = [], []
        for text, spans in batch:
            token_ids, labels = token_labels(tokenizer, text, spans, label2id, maxlen)
            batch_token_ids.append(token_ids)
            batch_labels.append(labels)
        return (torch.tensor(sequence_padding(batch_token_ids), dtype=torch.long, device=device),
                torch.tensor(sequence_padding(batch_labels), dtype=torch.long, device=device))

    counter = PositionCounter(collate_fn)
    loader = DataLoader(ListDataset(data=train), batch_size=int(spec["batch_size"]), shuffle=True,
                        collate_fn=counter)

    class Model(BaseModel):
        def __init__(self):
            super().__init__()
            self.bert = bert  # build_transformer_model(..., segment_vocab_size=0), built before the Model
            self.fc = nn.Linear(hidden, len(categories))
            self.crf = CRF(len(categories))

        def forward(self, token_ids):
            sequence_output = self.bert([token_ids])
            return self.fc(sequence_output), token_ids.gt(0).long()

        def predict(self, token_ids):
            self.eval()
            with torch.no_grad():
                emission_score, attention_mask = self.forward(token_ids)
                return self.crf.decode(emission_score, attention_mask)

    model = Model().to(device)

    class Loss(nn.Module):
        def forward(self, outputs, labels):
            return model.crf(*outputs, labels)

    model.compile(loss=Loss(), optimizer=optim.Adam(model.parameters(), lr=float(spec["lr"])))
    with Clock() as train_clock:
        model.fit(loader, epochs=int(spec["epochs"]), steps_per_epoch=None, verbose=0)
    counter.counting = False

    test = read_bio(spec["test"])
    predictions = []
    with Clock() as predict_clock:
        bs = int(spec.get("eval_batch_size", 64))
        for i in range(0, len(test), bs):
            texts = [t for t, _ in test[i : i + bs]]
            tokens = [tokenizer.tokenize(t, maxlen=maxlen) for t in texts]
            ids = torch.tensor(sequence_padding([tokenizer.tokens_to_ids(t) for t in tokens]), dtype=torch.long)
            paths = model.predict(ids)
            for text, toks, path in zip(texts, tokens, paths):
                predictions.append(char_entities(categories, path[: len(toks)].tolist(), tokenizer.rematch(text, toks)))
    return {"train_s": train_clock.seconds, "train_cpu_s": train_clock.cpu, "predict_s": predict_clock.seconds,
            "n_train_used": len(train), "predictions": predictions, "tags": categories,
            "n_params": sum(p.numel() for p in model.parameters()), "torch_threads": torch.get_num_threads(),
            "train_positions": counter.positions, "inputs_checked": checked, "init": spec.get("init"),
            "init_load_check": loaded}


def token_labels(tokenizer, text, spans, label2id, maxlen):
    """The example's collate_fn for one text: (token ids, tag ids); an entity's tags go on the tokens of
    its first and last characters (spans: (start, end exclusive, type); the example's end is inclusive)."""
    tokens = tokenizer.tokenize(text, maxlen=maxlen)
    mapping = tokenizer.rematch(text, tokens)
    start_mapping = {j[0]: i for i, j in enumerate(mapping) if j}
    end_mapping = {j[-1]: i for i, j in enumerate(mapping) if j}
    token_ids = tokenizer.tokens_to_ids(tokens)
    labels = np.zeros(len(token_ids))
    for start, end, label in spans:
        if start in start_mapping and end - 1 in end_mapping:
            s, e = start_mapping[start], end_mapping[end - 1]
            labels[s] = label2id["B-" + label]
            labels[s + 1 : e + 1] = label2id["I-" + label]
    return token_ids, labels


def token_entities(categories, tags):
    """The example's trans_entity2tuple for one sequence: [[start, end, type]], token indices inclusive
    (B- opens, I- of the same type extends, anything else closes)."""
    entity_ids = []
    for j, item in enumerate(tags):
        flag = categories[int(item)]
        if flag.startswith("B-"):
            entity_ids.append([j, j, flag[2:]])
        elif len(entity_ids) == 0:
            continue
        elif len(entity_ids[-1]) > 0 and flag.startswith("I-") and flag[2:] == entity_ids[-1][-1]:
            entity_ids[-1][-2] = j
        elif len(entity_ids[-1]) > 0:
            entity_ids.append([])
    return [e for e in entity_ids if e]


def char_entities(categories, tags, mapping):
    """Token tags -> [[start, end exclusive, type]] character spans through the rematch mapping."""
    return [[mapping[s][0], mapping[e][-1] + 1, kind] for s, e, kind in token_entities(categories, tags)
            if mapping[s] and mapping[e]]


if __name__ == "__main__":
    import sys

    print(json.dumps(run(json.load(open(sys.argv[1], encoding="utf-8"))), ensure_ascii=False)[:2000])

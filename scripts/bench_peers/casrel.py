"""Triples with bert4torch 0.6.0, following its example
examples/relation_extraction/task_relation_extraction_CasRel.py (the "half-pointer, half-tagging"
design of kexue.fm/archives/7161):

- data: a record is kept for training only if at least one of its triples is found in the token ids
  (the example's get_spoes / load_data); subject and object located by their first token match;
- batches: subject start/end labels; ONE subject drawn at random per sentence (np.random, as the
  example), its objects' start/end labels per predicate;
- model: BERT -> Linear(h, 2) -> sigmoid^2 for subjects; the subject's start+end vectors condition a
  LayerNorm(hidden, conditional_size=2h) over the sequence -> Linear(h, 2 * predicates) -> sigmoid^4;
- loss: masked BCE (subject mean over the 2 pointers + object sum over predicates of the mean);
- optimizer: Adam at a constant rate (the example's; its 1e-5 is for pretrained bert-base, here the
  benchmark's shared rate), BaseModel.compile / fit;
- decoding: one sentence at a time (the example's extract_spoes), start > 0.6 / end > 0.5.

spec["init"] = a checkpoint folder (ALBERT or BERT, transformers layout): the BERT is loaded from it
and the tokenizer reads its vocab.txt with the folder's case rule (bench_peers.checkpoints: loaded
only when its outputs equal transformers', else the row is refused).

Deviations, each needed to run the example here: without init, sizes from nlpkit's tiny profile and
nlpkit's vocabulary (a random BERT instead of bert-base-chinese); maxlen, epochs, batch size and rate from the
benchmark; the schema is data/real/duie/schema.jsonl; a predicted span whose token has no character
mapping ([UNK] can have none) is skipped instead of raising IndexError.
"""
import json

import numpy as np

from .checkpoints import b4t_backbone
from .common import Clock, PositionCounter, check_inputs, read_jsonl, setup


def run(spec):
    torch = setup(spec)
    from torch import nn, optim
    from torch.utils.data import DataLoader

    from bert4torch.layers import LayerNorm
    from bert4torch.models import BaseModel
    from bert4torch.snippets import ListDataset, sequence_padding
    from bert4torch.tokenizers import Tokenizer

    maxlen, device = int(spec["max_length"]), "cpu"
    bert, hidden, vocab, lower, loaded = b4t_backbone(spec, spec["workdir"] + "/casrel")
    predicate2id, id2predicate = {}, {}
    for row in read_jsonl(spec["schema"]):
        if row["predicate"] not in predicate2id:
            id2predicate[len(predicate2id)] = row["predicate"]
            predicate2id[row["predicate"]] = len(predicate2id)
    tokenizer = Tokenizer(vocab, do_lower_case=lower)
    checked = check_inputs(spec, lambda t: tokenizer.encode(t, maxlen=maxlen)[0], predicate2id)

    def search(pattern, sequence):
        n = len(pattern)
        for i in range(len(sequence)):
            if sequence[i : i + n] == pattern:
                return i
        return -1

    def get_spoes(text, spo_list):
        token_ids, segment_ids = tokenizer.encode(text, maxlen=maxlen)
        spoes = {}
        for s, p, o in spo_list:
            if p not in predicate2id:
                continue
            s = tokenizer.encode(s)[0][1:-1]
            p = predicate2id[p]
            o = tokenizer.encode(o)[0][1:-1]
            s_idx, o_idx = search(s, token_ids), search(o, token_ids)
            if s_idx != -1 and o_idx != -1:
                spoes.setdefault((s_idx, s_idx + len(s) - 1), []).append((o_idx, o_idx + len(o) - 1, p))
        return token_ids, segment_ids, spoes

    class TrainData(ListDataset):
        @staticmethod
        def load_data(filename):
            D = []
            for row in read_jsonl(filename):
                labels = [(t["subject"], t["predicate"], t["object"]) for t in row["spo_list"]]
                token_ids, segment_ids, spoes = get_spoes(row["text"], labels)
                if spoes:
                    D.append({"token_ids": token_ids, "segment_ids": segment_ids, "spoes": spoes})
            return D

    def collate_fn(batch):
        tok, seg, sub_labels, sub_ids, obj_labels = [], [], [], [], []
        for d in batch:
            token_ids, segment_ids, spoes = d["token_ids"], d["segment_ids"], d["spoes"]
            subject_labels = np.zeros((len(token_ids), 2))
            for s in spoes:
                subject_labels[s[0], 0] = 1
                subject_labels[s[1], 1] = 1
            start, end = np.array(list(spoes.keys())).T
            start = np.random.choice(start)
            end = np.random.choice(end[end >= start])
            object_labels = np.zeros((len(token_ids), len(predicate2id), 2))
            for o in spoes.get((start, end), []):
                object_labels[o[0], o[2], 0] = 1
                object_labels[o[1], o[2], 1] = 1
            tok.append(token_ids)
            seg.append(segment_ids)
            sub_labels.append(subject_labels)
            sub_ids.append((start, end))
            obj_labels.append(object_labels)
        tok = torch.tensor(sequence_padding(tok), dtype=torch.long, device=device)
        seg = torch.tensor(sequence_padding(seg), dtype=torch.long, device=device)
        sub_labels = torch.tensor(sequence_padding(sub_labels), dtype=torch.float, device=device)
        sub_ids = torch.tensor(np.array(sub_ids), dtype=torch.long, device=device)
        obj_labels = torch.tensor(sequence_padding(obj_labels), dtype=torch.float, device=device)
        mask = tok != tokenizer._token_pad_id
        return [tok, seg, sub_ids], [sub_labels, obj_labels, mask]

    train_data = TrainData(spec["train"])
    counter = PositionCounter(collate_fn)
    loader = DataLoader(train_data, batch_size=int(spec["batch_size"]), shuffle=True, collate_fn=counter)

    class Model(BaseModel):
        def __init__(self):
            super().__init__()
            self.bert = bert  # build_transformer_model(config_path, checkpoint or None), built before the Model
            self.linear1 = nn.Linear(hidden, 2)
            self.condLayerNorm = LayerNorm(hidden_size=hidden, conditional_size=hidden * 2)
            self.linear2 = nn.Linear(hidden, len(predicate2id) * 2)

        @staticmethod
        def extract_subject(inputs):
            output, subject_ids = inputs
            start = torch.gather(output, 1, subject_ids[:, :1].unsqueeze(2).expand(-1, -1, output.shape[-1]))
            end = torch.gather(output, 1, subject_ids[:, 1:].unsqueeze(2).expand(-1, -1, output.shape[-1]))
            return torch.cat([start, end], 2)[:, 0]

        def forward(self, *inputs):
            seq_output = self.bert(inputs[:2])
            subject_preds = torch.sigmoid(self.linear1(seq_output)) ** 2
            subject = self.extract_subject([seq_output, inputs[2]])
            output = torch.sigmoid(self.linear2(self.condLayerNorm(seq_output, subject))) ** 4
            return [subject_preds, output.reshape(*output.shape[:2], len(predicate2id), 2)]

        def predict_subject(self, inputs):
            self.eval()
            with torch.no_grad():
                seq_output = self.bert(inputs[:2])
                return [seq_output, torch.sigmoid(self.linear1(seq_output)) ** 2]

        def predict_object(self, inputs):
            self.eval()
            with torch.no_grad():
                seq_output, subject_ids = inputs
                subject = self.extract_subject([seq_output, subject_ids])
                output = torch.sigmoid(self.linear2(self.condLayerNorm(seq_output, subject))) ** 4
                return output.reshape(*output.shape[:2], len(predicate2id), 2)

    model = Model().to(device)

    class BCELoss(nn.BCELoss):
        def forward(self, inputs, targets):
            subject_preds, object_preds = inputs
            subject_labels, object_labels, mask = targets
            subject_loss = super().forward(subject_preds, subject_labels).mean(dim=-1)
            subject_loss = (subject_loss * mask).sum() / mask.sum()
            object_loss = super().forward(object_preds, object_labels).mean(dim=-1).sum(dim=-1)
            object_loss = (object_loss * mask).sum() / mask.sum()
            return subject_loss + object_loss

    model.compile(loss=BCELoss(reduction="none"), optimizer=optim.Adam(model.parameters(), float(spec["lr"])))
    with Clock() as train_clock:
        model.fit(loader, steps_per_epoch=None, epochs=int(spec["epochs"]), verbose=0)
    counter.counting = False

    def extract_spoes(text):
        tokens = tokenizer.tokenize(text, maxlen=maxlen)
        mapping = tokenizer.rematch(text, tokens)
        token_ids, segment_ids = tokenizer.encode(text, maxlen=maxlen)
        token_ids = torch.tensor([token_ids], dtype=torch.long, device=device)
        segment_ids = torch.tensor([segment_ids], dtype=torch.long, device=device)
        seq_output, subject_preds = model.predict_subject([token_ids, segment_ids])
        subject_preds[:, [0, -1]] *= 0
        start = torch.where(subject_preds[0, :, 0] > 0.6)[0]
        end = torch.where(subject_preds[0, :, 1] > 0.5)[0]
        subjects = []
        for i in start:
            j = end[end >= i]
            if len(j) > 0:
                subjects.append((i.item(), j[0].item()))
        if not subjects:
            return []
        spoes = []
        seq_output = seq_output.repeat([len(subjects)] + [1] * (len(seq_output.shape) - 1))
        subjects = torch.tensor(subjects, dtype=torch.long, device=device)
        object_preds = model.predict_object([seq_output, subjects])
        object_preds[:, [0, -1]] *= 0
        for subject, object_pred in zip(subjects, object_preds):
            start = torch.where(object_pred[:, :, 0] > 0.6)
            end = torch.where(object_pred[:, :, 1] > 0.5)
            for _start, predicate1 in zip(*start):
                for _end, predicate2 in zip(*end):
                    if _start <= _end and predicate1 == predicate2:
                        ends = (mapping[subject[0]], mapping[subject[1]], mapping[_start], mapping[_end])
                        if all(ends):  # the deviation: a token without characters ([UNK]) is skipped
                            spoes.append(((ends[0][0], ends[1][-1]), predicate1.item(), (ends[2][0], ends[3][-1])))
                        break
        return [(text[s[0] : s[1] + 1], id2predicate[p], text[o[0] : o[1] + 1]) for s, p, o in spoes]

    test = read_jsonl(spec["test"])
    with Clock() as predict_clock:
        predictions = [sorted(set(extract_spoes(r["text"]))) for r in test]
    return {"train_s": train_clock.seconds, "train_cpu_s": train_clock.cpu, "predict_s": predict_clock.seconds,
            "n_train_used": len(train_data), "predictions": [[list(t) for t in p] for p in predictions],
            "n_params": sum(p.numel() for p in model.parameters()), "torch_threads": torch.get_num_threads(),
            "train_positions": counter.positions, "inputs_checked": checked, "init": spec.get("init"),
            "init_load_check": loaded}


if __name__ == "__main__":  # python -m bench_peers.casrel spec.json
    import sys

    print(json.dumps(run(json.load(open(sys.argv[1], encoding="utf-8"))), ensure_ascii=False)[:2000])

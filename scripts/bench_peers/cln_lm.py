"""Conditional generation with bert4torch 0.6.0, following its port of bert4keras' conditional language
model, examples/others/task_conditional_language_model.py (kexue.fm/archives/7124):

- data: `text<TAB>label` lines, each text cut by text_segmentate(text, maxlen - 2, seps='\\n。！？!?；;，, ',
  strips='；;，, ') into pieces of at most maxlen - 2 characters (the example's load_data);
- model: nn.Embedding(classes, 128) gives the label's condition; build_transformer_model(...,
  with_mlm=True, application='lm', conditional_size=128) (0.6.0's keyword: every LayerNorm gets
  dense layers from the condition, fed as the third input) -> next-token logits under a causal mask;
- loss: cross-entropy of logits[:, :-1] against ids[:, 1:], padding ignored;
- optimizer: Adam at a constant rate (the example's 1e-5 is for bert-base; here the benchmark's rate);
- generation: an AutoRegressiveDecoder subclass whose predict runs the whole prefix each step (the
  example's RandomSentiment; no cache), random_sample([[label]], n, top_p=0.95) from [CLS] to [SEP].

spec["init"] = a checkpoint folder (ALBERT or BERT, transformers layout): the BERT and its MLM head are
loaded from it (bench_peers.checkpoints: only when its outputs equal transformers'; a bare BertModel such
as m3e-small has no MLM head, which then starts new), its vocab.txt read with the folder's case rule. The
conditional LayerNorms' dense layers are new: LayerNorm zeroes them, but build_transformer_model then
re-initialises every nn.Linear (init_model_weights, normal with std initializer_range), so in bert4torch
0.6.0 they start random and the condition moves the checkpoint's outputs from the first step
(`cond_init_absmax`: their largest starting weight). The peer keeps that: it is what the example gives
(nlpkit's start at zero, as bert4keras' do). ALBERT shares one layer, so its conditional dense layers are
shared across the layers too.

Deviations: without init, sizes from nlpkit's tiny profile and nlpkit's full vocabulary (the example keeps a
simplified bert-base vocabulary); the example trains on train+valid+test, here on the train split only,
dev for perplexity; at most maxlen - 2 new tokens (nlpkit's cap); the tied output embedding is
bert-base's layout (tie_word_embeddings). The condition is checked to change the outputs (in
bert4torch 0.6.2 it is silently ignored): `cond_changes_logits` is the largest logit difference
between the two labels on dev pieces.
"""
import json
import math

from .checkpoints import b4t_backbone
from .common import Clock, PositionCounter, check_inputs, read_tsv, setup

SEPS, STRIPS = "\n。！？!?；;，, ", "；;，, "


def run(spec):
    torch = setup(spec)
    from torch import nn, optim
    from torch.utils.data import DataLoader

    from bert4torch.generation import AutoRegressiveDecoder
    from bert4torch.models import BaseModel
    from bert4torch.snippets import ListDataset, sequence_padding, text_segmentate
    from bert4torch.tokenizers import Tokenizer

    maxlen, device = int(spec["max_length"]), "cpu"
    labels = sorted({y for _, y in read_tsv(spec["train"])})
    # the example's order (label embedding, then the BERT): a tiny row starts as it did before init=
    condition = nn.Embedding(len(labels), 128)
    bert, _, vocab, lower, loaded = b4t_backbone(spec, spec["workdir"] + "/cln_lm", new=("dense1", "dense2", "mlm"),
                                                 with_mlm=True, application="lm", conditional_size=128,
                                                 tie_word_embeddings=True)
    cond_init = max((p.abs().max().item() for n, p in bert.named_parameters() if "dense1" in n or "dense2" in n),
                    default=0.0)
    tokenizer = Tokenizer(vocab, do_lower_case=lower)
    label2id = {y: i for i, y in enumerate(labels)}
    checked = check_inputs(spec, lambda t: tokenizer.encode(t, maxlen=maxlen)[0], labels)

    def load(filename):
        D = []
        for text, label in read_tsv(filename):
            for t in text_segmentate(text, maxlen - 2, SEPS, STRIPS):
                if t:
                    D.append((t, label2id[label]))
        return D

    def collate_fn(batch):
        tok, seg, lab = [], [], []
        for text, label in batch:
            token_ids, segment_ids = tokenizer.encode(text, maxlen=maxlen)
            tok.append(token_ids)
            seg.append(segment_ids)
            lab.append(label)
        tok = torch.tensor(sequence_padding(tok), dtype=torch.long, device=device)
        seg = torch.tensor(sequence_padding(seg), dtype=torch.long, device=device)
        return [tok, seg, torch.tensor(lab, dtype=torch.long, device=device)], tok

    train = load(spec["train"])
    counter = PositionCounter(collate_fn)
    loader = DataLoader(ListDataset(data=train), batch_size=int(spec["batch_size"]), shuffle=True,
                        collate_fn=counter)

    class Model(BaseModel):
        def __init__(self):
            super().__init__()
            self.c = condition
            self.bert = bert  # the checkpoint's (its conditional LayerNorms' dense layers new) or a random tiny one

        def forward(self, token_ids, segment_ids, labels):
            _, seq_output = self.bert([token_ids, segment_ids, self.c(labels)])
            return seq_output

    model = Model().to(device)

    class CrossEntropyLoss(nn.CrossEntropyLoss):
        def forward(self, input, target):
            return super().forward(input[:, :-1, :].reshape(-1, input.shape[-1]), target[:, 1:].flatten())

    model.compile(loss=CrossEntropyLoss(ignore_index=0), optimizer=optim.Adam(model.parameters(), float(spec["lr"])))
    with Clock() as train_clock:
        model.fit(loader, epochs=int(spec["epochs"]), steps_per_epoch=None, verbose=0)
    counter.counting = False

    # ---- dev: perplexity under the true label, likelihood conditioning accuracy, the condition check
    dev = load(spec["dev"])
    model.eval()
    nll_true, tokens, correct, cond_diff = 0.0, 0, 0, 0.0
    with torch.no_grad():
        for i in range(0, len(dev), 64):
            (ids, seg, lab), _ = collate_fn(dev[i : i + 64])
            target, mask = ids[:, 1:], (ids[:, 1:] != 0).float()
            per_label = []
            for k in range(len(labels)):
                logits = model(ids, seg, torch.full_like(lab, k))
                logp = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
                per_label.append((logp * mask).sum(-1))
                if k == 0:
                    first = logits
                else:
                    cond_diff = max(cond_diff, (logits - first).abs().max().item())
            per_label = torch.stack(per_label, -1)  # [batch, labels]
            nll_true -= per_label.gather(-1, lab.unsqueeze(-1)).sum().item()
            tokens += int(mask.sum().item())
            correct += int((per_label.argmax(-1) == lab).sum().item())

    class RandomSentiment(AutoRegressiveDecoder):
        @AutoRegressiveDecoder.wraps(default_rtype="logits")
        def predict(self, inputs, output_ids, states):
            token_ids = output_ids
            segment_ids = torch.zeros_like(token_ids, device=device)
            return model.predict([token_ids, segment_ids, inputs[0]])[:, -1, :]

        def generate(self, label, n=1, top_p=0.95):
            results = self.random_sample([[label]], n=n, top_p=top_p)
            return [tokenizer.decode(ids.cpu().numpy()) for ids in results]

    sampler = RandomSentiment(bos_token_id=tokenizer._token_start_id, eos_token_id=tokenizer._token_end_id,
                              max_new_tokens=maxlen - 2, device=device)
    texts = {}
    with Clock() as gen_clock:
        for k, label in enumerate(labels):
            out, seed = [], int(spec.get("seed", 0)) + 100_000 * k  # each label its own random stream
            while len(out) < int(spec["n"]):
                torch.manual_seed(seed)
                seed += 1
                out += sampler.generate(label2id[label], n=min(64, int(spec["n"]) - len(out)), top_p=0.95)
            texts[label] = out
    return {"train_s": train_clock.seconds, "train_cpu_s": train_clock.cpu, "gen_s": gen_clock.seconds,
            "n_train_used": len(train), "n_dev_pieces": len(dev), "dev_perplexity": math.exp(nll_true / max(tokens, 1)),
            "dev_cond_accuracy_likelihood": correct / max(len(dev), 1), "cond_changes_logits": cond_diff,
            "texts": texts, "n_params": sum(p.numel() for p in model.parameters()),
            "train_positions": counter.positions, "inputs_checked": checked, "init": spec.get("init"),
            "init_load_check": loaded, "cond_init_absmax": cond_init}


if __name__ == "__main__":
    import sys

    print(json.dumps(run(json.load(open(sys.argv[1], encoding="utf-8"))), ensure_ascii=False)[:2000])

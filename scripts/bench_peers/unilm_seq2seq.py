"""Seq2seq generation with bert4torch 0.6.0's UniLM, following its example
examples/seq2seq/task_seq2seq_autotitle.py (kexue.fm/archives/6933; task_seq2seq_autotitle_csl_unilm.py is
the same recipe on CSL):

- data: {"src", "tgt"} JSONL; one sequence `[CLS] src [SEP] tgt [SEP]`, segment 0 for the source and 1
  for the target (the example's collate_fn);
- model: build_transformer_model(..., with_mlm=True, application='unilm', add_trainer=True): the UniLM
  attention mask comes from the segment ids;
- loss: CausalLMLoss(offset=True, logits_index=1, ignore_index=0) fed [token ids, segment ids]: the
  segment ids mask it, so only the target tokens and their closing [SEP] count;
- optimizer: Adam at a constant rate (the example's 1e-5 is for bert-base; here the benchmark's rate),
  BaseModel.compile / fit;
- decoding: an AutoRegressiveDecoder subclass whose predict runs the whole prefix at every step (the
  example's AutoTitle; no cache), beam_search(top_k=beam size) one source at a time, tokenizer.decode.

spec["init"] = a checkpoint folder (ALBERT or BERT, transformers layout): the BERT and its MLM head are
loaded from it (bench_peers.checkpoints: only when its outputs equal transformers'; a bare BertModel such
as m3e-small has no MLM head, so that head starts from bert4torch's initialisation, as nlpkit's does from
transformers'), its vocab.txt read with the folder's case rule.

Deviations, each to feed the model what nlpkit's run is fed: without init, sizes from nlpkit's tiny profile
and nlpkit's vocabulary (the example simplifies bert-base-chinese's vocabulary with keep_tokens; here the
whole vocabulary, so that the ids are nlpkit's); the output layer tied to the token embeddings
(tie_word_embeddings, as transformers' and nlpkit's MLM heads); the cut rule of nlpkit's seq2seq (the
target to max_target_length tokens, the source to what max_length leaves; the example's
encode(content, title, maxlen) cuts the longer side first) and its prompt room (the source cut to
max_length - max_new_tokens - 1 tokens; the example's max_length - max_new_tokens); the decoding
settings of nlpkit's run (spec["decode"]: beam size, max_new_tokens). Not matched: bert4torch's
min_new_tokens only delays its stop test, [SEP] is not banned at the first step as nlpkit bans it, so
an empty output is possible here (the row's gen_empty counts them); a [UNK] is dropped by
tokenizer.decode (nlpkit copies the source's character back).
"""
import json

from .checkpoints import b4t_backbone
from .common import Clock, PositionCounter, check_inputs, read_jsonl, setup


def encode_pair(tokenizer, src, tgt, max_length, max_target_length):
    """(token ids, segment ids) of `[CLS] src [SEP] tgt [SEP]` with nlpkit's seq2seq cut rule."""
    tgt_ids = tokenizer.encode(tgt)[0][1:-1][:max_target_length]
    src_ids, _ = tokenizer.encode(src, maxlen=max_length - len(tgt_ids) - 1)
    return src_ids + tgt_ids + [tokenizer._token_end_id], [0] * len(src_ids) + [1] * (len(tgt_ids) + 1)


def run(spec):
    torch = setup(spec)
    from torch import optim
    from torch.utils.data import DataLoader

    from bert4torch.generation import AutoRegressiveDecoder
    from bert4torch.losses import CausalLMLoss
    from bert4torch.snippets import ListDataset, sequence_padding
    from bert4torch.tokenizers import Tokenizer

    maxlen, tgt_len, device = int(spec["max_length"]), int(spec["max_target_length"]), "cpu"
    decode = spec["decode"]
    model, _, vocab, lower, loaded = b4t_backbone(spec, spec["workdir"] + "/unilm_seq2seq", new=("mlm",),
                                                  with_mlm=True, application="unilm", tie_word_embeddings=True,
                                                  add_trainer=True)
    tokenizer = Tokenizer(vocab, do_lower_case=lower)

    def fed(pair):
        ids, seg = encode_pair(tokenizer, *pair, maxlen, tgt_len)
        return {"input_ids": ids, "token_type_ids": seg}
    checked = check_inputs(spec, fed, [])

    def collate_fn(batch):
        tok, seg = zip(*(encode_pair(tokenizer, r["src"], r["tgt"], maxlen, tgt_len) for r in batch))
        tok = torch.tensor(sequence_padding(tok), dtype=torch.long, device=device)
        seg = torch.tensor(sequence_padding(seg), dtype=torch.long, device=device)
        return [tok, seg], [tok, seg]

    train = read_jsonl(spec["train"])
    counter = PositionCounter(collate_fn)
    loader = DataLoader(ListDataset(data=train), batch_size=int(spec["batch_size"]), shuffle=True, collate_fn=counter)
    model.to(device)
    model.compile(loss=CausalLMLoss(offset=True, logits_index=1, ignore_index=0),
                  optimizer=optim.Adam(model.parameters(), float(spec["lr"])))
    with Clock() as train_clock:
        model.fit(loader, epochs=int(spec["epochs"]), steps_per_epoch=None, verbose=0)
    counter.counting = False

    class Paraphrase(AutoRegressiveDecoder):
        @AutoRegressiveDecoder.wraps(default_rtype="logits")
        def predict(self, inputs, output_ids, states):
            token_ids, segment_ids = inputs
            token_ids = torch.cat([token_ids, output_ids], 1)
            segment_ids = torch.cat([segment_ids, torch.ones_like(output_ids, device=device)], 1)
            _, logits = model.predict([token_ids, segment_ids])
            return logits[:, -1, :]

        def generate(self, text):
            token_ids, segment_ids = tokenizer.encode(text, maxlen=maxlen - int(decode["max_new_tokens"]) - 1)
            output_ids = self.beam_search([token_ids, segment_ids], top_k=int(decode["beam_size"]))[0]
            return tokenizer.decode(output_ids.cpu().numpy())

    generator = Paraphrase(bos_token_id=None, eos_token_id=tokenizer._token_end_id,
                           max_new_tokens=int(decode["max_new_tokens"]),
                           min_new_tokens=int(decode.get("min_new_tokens", 1)), device=device)
    test = read_jsonl(spec["test"])
    with Clock() as predict_clock:
        predictions = [generator.generate(r["src"]) for r in test]
    return {"train_s": train_clock.seconds, "train_cpu_s": train_clock.cpu, "predict_s": predict_clock.seconds,
            "predictions": predictions, "n_params": sum(p.numel() for p in model.parameters()),
            "torch_threads": torch.get_num_threads(), "train_positions": counter.positions, "inputs_checked": checked,
            "init": spec.get("init"), "init_load_check": loaded}


if __name__ == "__main__":  # python -m bench_peers.unilm_seq2seq spec.json
    import sys

    print(json.dumps(run(json.load(open(sys.argv[1], encoding="utf-8"))), ensure_ascii=False)[:2000])

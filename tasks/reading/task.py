"""Reading comprehension by UniLM seq2seq: `[CLS] passage [SEP] question [SEP] answer [SEP]`.

Passage and question are the source (segment 0, bidirectional), the answer the target (segment 1,
left to right). A passage that does not contain any gold answer is trained to answer [SEP] at
once ("no answer"). Each epoch one passage per question is drawn (in collate, with torch's RNG);
decoding votes over all passages of a question (decoding.py)."""
import torch

from nlpkit.data import pad
from nlpkit.generation import decode_config
from nlpkit.inference import warn_cut
from nlpkit.errors import NlpkitError
from nlpkit.model import run_bert, unilm_mask
from nlpkit.model.lm import BertLM
from nlpkit.task import BertTask
from nlpkit.windows import split_text

from .config import PRETRAINED, TINY, ReadingConfig, ReadingDecode
from .decoding import answer_questions
from .metrics import reading_scores
from .reader import gold_answers, read_questions, squad_flat_record, webqa_record

INPUT = "<input>"


class ReadingLM(BertLM):
    """BertLM that can score only selected positions: the answer is a few tokens of a long
    passage, so the MLM head (hidden x vocab) runs on those alone when training."""

    def forward(self, input_ids, token_type_ids, attention_mask, select=None):
        if select is None:
            return super().forward(input_ids, token_type_ids, attention_mask)
        hidden = run_bert(self.bert, input_ids, token_type_ids, unilm_mask(token_type_ids, attention_mask))
        return self.cls(hidden[select])


def target_ids(tokenizer, text, ids, offsets, golds, limit):
    """Token ids of the first gold alternative found in the kept part of the passage ([] if none).

    The passage's own tokens are used when the answer covers whole tokens, so that the
    target is exactly a substring that extractive decoding can produce."""
    base = offsets[0][0] if offsets else 0
    kept = text[base : offsets[-1][1]] if offsets else ""
    for gold in golds:
        start = kept.find(gold)
        if start < 0:
            continue
        start += base
        end = start + len(gold)
        first = next((i for i, (s, _) in enumerate(offsets) if s == start), None)
        last = next((i for i, (_, e) in enumerate(offsets) if e == end), None)
        if first is not None and last is not None and last >= first:
            target = ids[first : last + 1]
        else:
            target = tokenizer.token_ids(gold)
        return target[:limit]
    return []


def answer_text(tokenizer, record, windows, answer):
    """The answer as written in the first voting window that holds its tokens (original case and
    spacing); the tokenizer's decoding when no window does (abstractive answers)."""
    n = len(answer.ids)
    if not n:
        return ""
    for v in answer.voters:
        k, _, ids, offsets = windows[v]
        for i in range(len(ids) - n + 1):
            if ids[i : i + n] == answer.ids:
                return record["passages"][k]["passage"][offsets[i][0] : offsets[i + n - 1][1]]
    return tokenizer.decode(answer.ids)


class ReadingTask(BertTask):
    """Reading comprehension over several passages by UniLM seq2seq, with "no answer"."""

    name = "reading"
    metric = "final"
    sample = {"train": "sample/train.json", "dev": "sample/dev.json"}
    config_class, tiny_profile, pretrained_profile = ReadingConfig, TINY, PRETRAINED
    call_options = ("decode", "window.stride")
    call_extras = ("passages",)

    # ---- data ------------------------------------------------------------------------------
    def read(self, path):
        """WebQA / SogouQA JSON (list or JSONL) or SQuAD / CMRC2018 files, with gold answers."""
        return read_questions(path, self.cfg.answer_sep)

    def read_inputs(self, path):
        """predict input: the same formats, "answer" fields optional, passages may be plain strings."""
        return read_questions(path, self.cfg.answer_sep, need_answers=False)

    def texts(self, records):
        for r in records:
            yield r["question"]
            for p in r["passages"]:
                yield p["passage"]
                yield from p["answers"]

    def training_records(self, records):
        """The training records as they are; says once what training cuts: questions longer than
        max_question_length, gold answers longer than max_target_length and, without window.train,
        passages longer than max_passage_length (read from their first window only)."""
        tok, cfg = self.tokenizer, self.cfg
        questions = [len(tok.token_ids(r["question"])) for r in records]
        warn_cut(self, "training questions", sum(n > cfg.max_question_length for n in questions), len(records),
                 cfg.max_question_length, "max_question_length")
        answers = [min(len(tok.token_ids(g)) for g in golds) for golds in map(gold_answers, records) if golds]
        warn_cut(self, "training answers", sum(n > cfg.max_target_length for n in answers), len(answers),
                 cfg.max_target_length, "max_target_length")
        if not cfg.window.train:
            passages = [len(tok.token_ids(p["passage"])) for r in records for p in r["passages"]]
            warn_cut(self, "training passages", sum(n > cfg.max_passage_length for n in passages), len(passages),
                     cfg.max_passage_length, "max_passage_length", "window.train=true trains on all their windows")
        return records

    def _encode_passages(self, record):
        """Per passage: (prompt ids `[CLS] passage [SEP] question [SEP]`, passage ids, their char offsets)."""
        tok = self.tokenizer
        q_ids = tok.token_ids(record["question"])[: self.cfg.max_question_length]
        out = []
        for p in record["passages"]:
            enc = tok.encode(p["passage"], maxlen=self.cfg.max_passage_length + 2)
            ids, offsets = enc.input_ids[1:-1], enc.offsets[1:-1]
            out.append(([tok.cls_id] + ids + [tok.sep_id] + q_ids + [tok.sep_id], ids, offsets))
        return out

    def encode(self, record):
        """Sources and targets of each passage (kept to max_passage_length), or with window.train of
        each window of each passage (a window without the answer is trained to say "no answer")."""
        golds = gold_answers(record)
        if self.cfg.window.train:
            parts = self.windows(record)
        else:
            parts = [(k, *e) for k, e in enumerate(self._encode_passages(record))]
        sources, targets = [], []
        for k, prompt, ids, offsets in parts:
            sources.append(prompt)
            targets.append(target_ids(self.tokenizer, record["passages"][k]["passage"], ids, offsets, golds,
                                      self.cfg.max_target_length))
        return {"sources": sources, "targets": targets}

    def length(self, feature):
        return max(len(s) for s in feature["sources"]) + max(len(t) for t in feature["targets"]) + 1

    def collate(self, features):
        sep = self.tokenizer.sep_id
        ids, types = [], []
        for f in features:
            k = int(torch.randint(len(f["sources"]), (1,)))  # one passage per question per epoch
            source, target = f["sources"][k], f["targets"][k]
            ids.append(source + target + [sep])
            types.append([0] * len(source) + [1] * (len(target) + 1))
        return {
            "input_ids": pad(ids, self.tokenizer.pad_id),
            "token_type_ids": pad(types, 0),
            "attention_mask": pad([[1] * len(x) for x in ids], 0),
        }

    # ---- model -----------------------------------------------------------------------------
    def build_model(self, source):
        return ReadingLM(source, self.tokenizer, mask="unilm", tiny=self.cfg.tiny)

    def loss(self, model, batch):
        ids, types, mask = batch["input_ids"], batch["token_type_ids"], batch["attention_mask"]
        # position t predicts token t+1 wherever t+1 is an answer token or its closing [SEP]
        select = torch.zeros_like(mask, dtype=torch.bool)
        select[:, :-1] = types[:, 1:].bool() & mask[:, 1:].bool()
        logits = model(ids, types, mask, select=select)
        labels = ids[:, 1:][select[:, :-1]]
        return torch.nn.functional.cross_entropy(logits.float(), labels)

    # ---- inference -------------------------------------------------------------------------
    def windows(self, record, stride=None, **options):
        """Per window of every passage (one window when it fits; windows of max_passage_length tokens,
        `stride` shared, each voting as a passage of its own): (passage index, prompt ids `[CLS] window
        [SEP] question [SEP]`, window ids, their char offsets in the passage)."""
        tok = self.tokenizer
        q_ids = tok.token_ids(record["question"])[: self.cfg.max_question_length]
        stride = self.cfg.window.stride if stride is None else stride
        return [(k, [tok.cls_id] + w.ids + [tok.sep_id] + q_ids + [tok.sep_id], w.ids, w.offsets)
                for k, p in enumerate(record["passages"])
                for w in split_text(tok, p["passage"], self.cfg.max_passage_length, stride)]

    def predict_batch(self, model, records, windows=(), stride=None, **options):
        """Per record {"answer", "score", "votes"} (and "id" when the record has one); an empty answer
        means no passage holds one. The windows of a question are decoded together and vote."""
        config = decode_config(self.cfg.decode, options, kind=ReadingDecode, skip=self.call_extras)
        tok = self.tokenizer
        cut = sum(len(tok.token_ids(r["question"])) > self.cfg.max_question_length for r in records)
        warn_cut(self, "questions", cut, len(records), self.cfg.max_question_length, "max_question_length")
        answers = answer_questions(
            model, [[(prompt, ids) for _, prompt, ids, _ in w] for w in windows],
            sep_id=tok.sep_id, pad_id=tok.pad_id, max_len=config.max_new_tokens, mode=config.mode,
            how=config.vote, beam_size=config.beam_size, banned={tok.pad_id, tok.cls_id, tok.mask_id},
        )
        out = []
        for record, w, ans in zip(records, windows, answers):
            result = {"answer": answer_text(tok, record, w, ans), "score": ans.score, "votes": ans.votes}
            out.append({"id": record["id"], **result} if record.get("id") is not None else result)
        return out

    def score(self, records, predictions):
        """Exact match and F1 of the answers (reading_scores); rows: id, question, gold answers, prediction."""
        golds = [gold_answers(r) for r in records]
        scores = reading_scores([p["answer"] for p in predictions], golds)
        return scores, [{"id": r["id"], "question": r["question"], "gold": g, **p}
                        for r, g, p in zip(records, golds, predictions)]

    def as_record(self, item, passages=None, **options):
        """pipeline(question, passages=[...]) or a WebQA / SQuAD-style dict -> a record."""
        if isinstance(item, str):
            if passages is None:
                raise NlpkitError('reading: give the passages, e.g. pipe(question, passages=["...", "..."])')
            item = {"question": item, "passages": [passages] if isinstance(passages, str) else passages}
        if isinstance(item, dict) and "context" in item and "passages" not in item:
            return squad_flat_record(item, INPUT, None, need_answers=False)
        return webqa_record(item, INPUT, None, self.cfg.answer_sep, need_answers=False)
